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

    @Test("journal recovery cuts a torn tail and keeps every complete record")
    func journalTornTail() {
        var w = ByteWriter()
        RaftJournal.appendHardState(HardState(term: 2, vote: 1, commit: 1), group: 1, to: &w)
        RaftJournal.appendEntries([Entry(term: 2, index: 1, data: [1]), Entry(term: 2, index: 2, data: [2])], group: 1, to: &w)
        let complete = w.bytes.count
        RaftJournal.appendEntries([Entry(term: 3, index: 2, data: [9])], group: 1, to: &w)
        for cut in complete..<w.bytes.count {
            var torn = Array(w.bytes[0..<cut])
            if cut > complete { torn[cut - 1] ^= 0xFF }
            let r = RaftJournal.recover(torn)
            #expect(r.validLength == complete)
            #expect(r.states[1]?.entries.map(\.index) == [1, 2])
            #expect(r.states[1]?.hardState.term == 2)
        }
        let full = RaftJournal.recover(w.bytes)
        #expect(full.states[1]?.entries.map(\.term) == [2, 3])  // the later record replaced index 2
    }

    @Test("a planted bug is caught: acknowledging before durability loses committed entries")
    func plantedBugCaught() {
        var caught = false
        for seed in 1...6 as ClosedRange<UInt64> {
            var c = SimConfig(seed: seed)
            c.plantedBug = .ackBeforeDurable
            c.safetySeconds = 30
            if case .safety = Simulator(config: c).run().failure {
                caught = true
                break
            }
        }
        #expect(caught)
    }
}
