import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// Crash at every write and fsync point of a run of appends, syncs, truncations and retention,
/// then recover and compare with what was durable.
struct CrashPointTests {
    enum Step {
        case append([Entry])
        case sync
        case truncateSuffix(LogIndex)
        case truncatePrefix(LogIndex)
    }

    static let script: [Step] = [
        .append(entries(1...4)), .sync,
        .append(entries(5...9)), .append(entries(10...12)), .sync,
        .truncateSuffix(8), .append(entries(8...14, term: 2)), .sync,
        .truncatePrefix(6), .append(entries(15...20, term: 2)), .sync,
        .truncateSuffix(18), .sync, .append(entries(18...19, term: 3)),
    ]

    /// Run the script up to (not including) step `stop`, then crash.
    func run(until stop: Int, torn: UInt32, seed: UInt64) throws -> (fs: SimFileSystem, durable: [Entry]) {
        let fs = SimFileSystem(random: SeededRandom(seed: seed), tornWritePPM: torn)
        var config = PartitionLogConfig()
        config.segmentBytesMax = 120
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
        var model: [Entry] = []  // what the log holds
        var durable: [Entry] = []  // what a sync made durable
        for step in Self.script.prefix(stop) {
            switch step {
            case .append(let es):
                try log.append(es)
                model.removeAll { $0.index >= es[0].index }
                model += es
            case .sync:
                try log.sync()
                durable = model
            case .truncateSuffix(let i):
                try log.truncateSuffix(from: i)
                model.removeAll { $0.index >= i }
                // Suffix truncation is durable at once only for removed segments; the data of the
                // cut segment is durable after the next sync. Either way nothing beyond `i` that
                // was durable may come back next to newer entries: checked below.
                durable.removeAll { $0.index >= i }
            case .truncatePrefix(let i):
                try log.truncatePrefix(before: i)
            }
        }
        fs.crash()
        return (fs, durable)
    }

    @Test("recovery after a crash at every step keeps every synced entry and invents nothing",
          arguments: [0, 300_000, 1_000_000] as [UInt32])
    func crashEverywhere(torn: UInt32) throws {
        for stop in 0...Self.script.count {
            for seed in 1...4 as ClosedRange<UInt64> {
                let (fs, durable) = try run(until: stop, torn: torn, seed: seed)
                var config = PartitionLogConfig()
                config.segmentBytesMax = 120
                let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
                #expect(log.report.badRanges.isEmpty, "stop \(stop) seed \(seed)")
                let recovered = try log.read(from: log.firstIndex, maxBytes: 1 << 20).map(\.entry)
                // Everything durable and still in the retained range is there, unchanged.
                for e in durable where e.index >= log.firstIndex {
                    #expect(recovered.first { $0.index == e.index } == e, "stop \(stop) seed \(seed) index \(e.index)")
                }
                // Nothing recovered contradicts the script: each entry is one that was appended.
                let appended = Self.script.flatMap { step -> [Entry] in
                    if case .append(let es) = step { return es }
                    return []
                }
                for e in recovered { #expect(appended.contains(e), "stop \(stop): invented \(e)") }
                // Indexes are contiguous.
                for (k, e) in recovered.enumerated() { #expect(e.index == log.firstIndex + k) }
            }
        }
    }
}
