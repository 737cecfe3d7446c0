import Primitives
import Raft
import Testing

@testable import SimulationKit

struct SimulationTests {
    @Test("short seeds pass every safety and liveness check", arguments: [1, 2, 3, 4] as [UInt64])
    func seedsPass(_ seed: UInt64) {
        var c = SimConfig(seed: seed)
        c.safetySeconds = 10
        let result = Simulator(config: c).run()
        #expect(result.failure == nil, "seed \(seed): \(String(describing: result.failure))")
        #expect(result.stats.leaderChanges > 0)
    }

    @Test("the same seed gives the same trace hash")
    func determinism() {
        var c = SimConfig(seed: 11)
        c.safetySeconds = 10
        let a = Simulator(config: c).run()
        let b = Simulator(config: c).run()
        #expect(a.traceHash == b.traceHash)
        c.seed = 12
        #expect(Simulator(config: c).run().traceHash != a.traceHash)
    }

    @Test("a planted bug is caught: acknowledging before durability loses committed entries")
    func plantedBugCaught() {
        var caught = false
        for seed in 1...60 as ClosedRange<UInt64> {
            var c = SimConfig(seed: seed)
            c.plantedBug = .raft(.ackBeforeDurable)
            c.safetySeconds = 30
            if case .safety = Simulator(config: c).run().failure {
                caught = true
                break
            }
        }
        #expect(caught)
    }

    @Test("the direct durability check: a node that acknowledges appends before they are durable is caught at its first restart (seed 1)")
    func durabilityCheckCatchesEarlyAcks() {
        expectCaught(.raft(.ackBeforeDurable), seed: 1, as: "durability")
    }

    @Test("partitions: a lagging follower sent the memory snapshot instead of the stored entries loses its older records (seed 1)")
    func plantedSnapshotBugCaught() {
        expectCaught(.broker(.snapshotLaggingFollowers), seed: 1, as: "replica-keeps-log")
    }

    @Test("consumer groups: answering SyncGroup before the generation is written gives one partition two owners (seed 69)")
    func plantedGroupBugCaught() {
        // Seed 69 of 1-300 catches it this way first (`rill-sim --seeds 300 --plant-bug
        // sync-before-persist`; 203 too). Timelines move with the broker's behaviour and the
        // clients': it was 78 until heartbeats carried leadership rounds and a producer's refusal
        // waited for one, 158 until the clients misbehaved (drawn per seed, and a node that stood
        // still stepped down), 467 until terms and votes went to one journal, new
        // partitions' first replicas campaigned first and idle partitions quiesced (with a
        // keepalive per node pair), 186 until repairing nodes voted, 6 until
        // compaction and offsets-partition trimming added storage work, 40 until acks=all waited
        // for the apply, 123 before that.
        expectCaught(.broker(.syncBeforePersist), seed: 69, as: "group-exclusive-ownership")
    }

    @Test("consumer groups: a client that stops heartbeating while it waits to rejoin is expelled while it polls in time (seed 9)")
    func plantedSilentMemberCaught() {
        // The first of 1-60 that catches it since heartbeats carry leadership rounds (19, 29, 35
        // too; 6 before, 4 before the clients misbehaved, 1 before quiescence and keepalives
        // moved timelines).
        expectCaught(.client(.memberSilentInRebalance), seed: 9, as: "group-member-expelled-while-live")
    }

    @Test("misbehaving clients: a retry that arrives after newer batches, appended again instead of refused, is caught as a batch written twice (seed 2); well-behaved clients never send one")
    func plantedOldSequenceCaught() {
        // Seed 2 draws 3 requests in flight and lossy, late client traffic: the late original of
        // a retried batch arrives after five newer ones.
        expectCaught(.broker(.acceptOldSequences), seed: 2, as: "kafka-sequence-monotonic", onlyByMisbehaviour: true)
    }

    @Test("misbehaving clients: a zombie producer's old epoch, appended after the new one, is caught in the log's order (seed 26)")
    func plantedFencedEpochCaught() {
        expectCaught(.broker(.acceptFencedEpoch), seed: 26, as: "kafka-producer-epoch-monotonic", onlyByMisbehaviour: true)
    }

    @Test("misbehaving clients: a member back from a pause commits on its old generation, stored over the new owner's commits (seed 21)")
    func plantedStaleCommitCaught() {
        expectCaught(.broker(.commitAnyMember), seed: 21, as: "group-commit-lost", onlyByMisbehaviour: true)
    }

    @Test("transactions: a last stable offset that ignores open transactions lets read_committed read a transaction that then aborts (seed 1)")
    func lsoAtHighWatermarkCaught() {
        expectCaught(.broker(.lsoAtHighWatermark), seed: 1, as: "txn-no-aborted-read", transactions: true)
    }

    @Test("transactions: offsets committed in a transaction applied by its abort marker are seen by a stable OffsetFetch (seed 1)")
    func txnOffsetsOnAbortCaught() {
        expectCaught(.broker(.txnOffsetsOnAbort), seed: 1, as: "txn-offsets-atomic", transactions: true)
    }

    @Test("a seed that draws every client behaviour off runs the same with them forced off, and differently with one on: they draw only from their own stream")
    func behavioursOffKeepTimelines() {
        // A seed that draws all four off (seed 1: one in flight, no zombies, no stale members, no
        // client faults) gives the same trace with the behaviours forced off.
        var c = SimConfig(seed: 1)
        c.safetySeconds = 10
        let drawn = Simulator(config: c)
        #expect(drawn.options.producerInFlight == 1 && !drawn.options.producerZombies && !drawn.options.staleMembers && !drawn.options.clientNetworkFaults)
        let a = drawn.run()
        c.clientBehaviours = []
        #expect(Simulator(config: c).run().traceHash == a.traceHash)
        c.clientBehaviours = [.pipelining]
        #expect(Simulator(config: c).run().traceHash != a.traceHash)
    }

    @Test("quiescence: a failure detector that never wakes quiesced groups leaves an idle partition without a leader (seed 21)")
    func plantedDeafDetectorCaught() {
        // Seeds 21, 40, 150, 157 and 168 of 1-200 catch it (`rill-sim --seeds 200 --plant-bug
        // deaf-failure-detector`; 104 until heartbeats carried leadership rounds): a leader's
        // node stays down through the liveness phase.
        var c = SimConfig(seed: 21)
        c.plantedBug = .broker(.deafFailureDetector)
        guard case .liveness = Simulator(config: c).run().failure else {
            Issue.record("not caught")
            return
        }
        c.plantedBug = nil
        #expect(Simulator(config: c).run().failure == nil, "the same seed passes without the bug")
    }

    @Test("partition moves: a move reported done before the old voters are removed leaves a group whose voters dropped their copies without a leader (seed 41, 20 s)")
    func plantedEarlyMoveCaught() {
        // The first of 1-100 that catches it in 20 simulated seconds (`rill-sim --seeds 100
        // --seconds 20 --plant-bug move-completes-early`; 35 with 60 s): two of the group's voters
        // dropped their copies, the other three cannot elect.
        var c = SimConfig(seed: 41)
        c.safetySeconds = 20
        c.plantedBug = .broker(.moveCompletesEarly)
        guard case .liveness = Simulator(config: c).run().failure else {
            Issue.record("not caught")
            return
        }
        c.plantedBug = nil
        #expect(Simulator(config: c).run().failure == nil, "the same seed passes without the bug")
    }

    @Test("nodes joining and leaving: nodes 4 and 5 start later and join the cluster 1-3 found, a member is decommissioned, under the seed's faults (seed 80, 15 s)")
    func joinAndLeave() {
        var c = SimConfig(seed: 80)
        c.safetySeconds = 15
        let sim = Simulator(config: c)
        #expect(sim.options.joinAndLeave)
        let result = sim.run()
        #expect(result.failure == nil, "\(String(describing: result.failure))")
        // The liveness phase required every node a member or removed, and the controller's
        // voters settled (`membershipNotSettled`).
        #expect(result.stats.nodesRemoved == 1)
    }

    @Test("every planted bug's name (rill-sim --plant-bug) names exactly it: Raft's, the broker's and the clients' together")
    func plantedBugNames() {
        let names = SimPlantedBug.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        for bug in SimPlantedBug.allCases { #expect(SimPlantedBug(rawValue: bug.rawValue) == bug) }
        #expect(SimPlantedBug(rawValue: "sync-before-persist") == .broker(.syncBeforePersist))
        #expect(SimPlantedBug(rawValue: "ack-before-durable") == .raft(.ackBeforeDurable))
        #expect(SimPlantedBug(rawValue: "member-silent-in-rebalance") == .client(.memberSilentInRebalance))
        #expect(SimPlantedBug.allCases.count == PlantedBug.allCases.count + 12)
    }

    /// `bug` planted, `seed` fails with the safety `property`; without it the same seed passes.
    /// `onlyByMisbehaviour`: with the clients' misbehaviour off, the bug goes unseen on that seed.
    private func expectCaught(_ bug: SimPlantedBug, seed: UInt64, as property: String, onlyByMisbehaviour: Bool = false, transactions: Bool? = nil) {
        var c = SimConfig(seed: seed)
        c.plantedBug = bug
        c.transactions = transactions
        let planted = Simulator(config: c).run()
        guard case .safety(let violated, _) = planted.failure else {
            Issue.record("not caught: \(String(describing: planted.failure))")
            return
        }
        #expect(violated == property)
        if onlyByMisbehaviour {
            var wellBehaved = c
            wellBehaved.clientBehaviours = []
            #expect(Simulator(config: wellBehaved).run().failure == nil, "well-behaved clients do not see it")
        }
        c.plantedBug = nil
        #expect(Simulator(config: c).run().failure == nil, "the same seed passes without the bug")
    }
}
