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

    @Test("consumer groups: answering SyncGroup before the generation is written gives one partition two owners (seed 158)")
    func plantedGroupBugCaught() {
        // Seed 158 of 1-300 catches it this way first (`rill-sim --seeds 300 --plant-bug
        // sync-before-persist`; 232, 285 too, 19, 61 and 216 as group-commit-lost). Timelines move with
        // the broker's behaviour: it was seed 467 until terms and votes went to one journal, new
        // partitions' first replicas campaigned first and idle partitions quiesced (with a
        // keepalive per node pair), 186 until repairing nodes voted, 6 until
        // compaction and offsets-partition trimming added storage work, 40 until acks=all waited
        // for the apply, 123 before that.
        expectCaught(.broker(.syncBeforePersist), seed: 158, as: "group-exclusive-ownership")
    }

    @Test("consumer groups: a client that stops heartbeating while it waits to rejoin is expelled while it polls in time (seed 4)")
    func plantedSilentMemberCaught() {
        // The first of 1-40 that catches it since quiescence and keepalives moved timelines (1 before).
        expectCaught(.client(.memberSilentInRebalance), seed: 4, as: "group-member-expelled-while-live")
    }

    @Test("quiescence: a failure detector that never wakes quiesced groups leaves an idle partition without a leader (seed 104)")
    func plantedDeafDetectorCaught() {
        // Seeds 104 and 150 of 1-200 catch it (`rill-sim --seeds 200 --plant-bug
        // deaf-failure-detector`): a leader's node stays down through the liveness phase.
        var c = SimConfig(seed: 104)
        c.plantedBug = .broker(.deafFailureDetector)
        guard case .liveness = Simulator(config: c).run().failure else {
            Issue.record("not caught")
            return
        }
        c.plantedBug = nil
        #expect(Simulator(config: c).run().failure == nil, "the same seed passes without the bug")
    }

    @Test("every planted bug's name (rill-sim --plant-bug) names exactly it: Raft's, the broker's and the clients' together")
    func plantedBugNames() {
        let names = SimPlantedBug.allCases.map(\.rawValue)
        #expect(Set(names).count == names.count)
        for bug in SimPlantedBug.allCases { #expect(SimPlantedBug(rawValue: bug.rawValue) == bug) }
        #expect(SimPlantedBug(rawValue: "sync-before-persist") == .broker(.syncBeforePersist))
        #expect(SimPlantedBug(rawValue: "ack-before-durable") == .raft(.ackBeforeDurable))
        #expect(SimPlantedBug(rawValue: "member-silent-in-rebalance") == .client(.memberSilentInRebalance))
        #expect(SimPlantedBug.allCases.count == PlantedBug.allCases.count + 6)
    }

    /// `bug` planted, `seed` fails with the safety `property`; without it the same seed passes.
    private func expectCaught(_ bug: SimPlantedBug, seed: UInt64, as property: String) {
        var c = SimConfig(seed: seed)
        c.plantedBug = bug
        let planted = Simulator(config: c).run()
        guard case .safety(let violated, _) = planted.failure else {
            Issue.record("not caught: \(String(describing: planted.failure))")
            return
        }
        #expect(violated == property)
        c.plantedBug = nil
        #expect(Simulator(config: c).run().failure == nil, "the same seed passes without the bug")
    }
}
