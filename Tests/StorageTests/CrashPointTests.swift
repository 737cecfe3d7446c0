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

    /// Run the whole script with power failing after `operations` file-system operations.
    func runUntilPowerFails(after operations: Int?, torn: UInt32, seed: UInt64) throws
        -> (fs: SimFileSystem, durable: [Entry], completed: Bool)
    {
        let fs = SimFileSystem(random: SeededRandom(seed: seed), tornWritePPM: torn)
        try fs.makeDirectory("/d/log")
        fs.powerFailsAfter = operations
        var config = PartitionLogConfig()
        config.segmentBytesMax = 120
        var model: [Entry] = []
        var durable: [Entry] = []
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
            for step in Self.script {
                switch step {
                case .append(let es):
                    // An append that replaces entries may already have cut them when power fails.
                    durable.removeAll { $0.index >= es[0].index }
                    try log.append(es)
                    model.removeAll { $0.index >= es[0].index }
                    model += es
                case .sync:
                    try log.sync()
                    durable = model  // sync returned: durable
                case .truncateSuffix(let i):
                    // The caller asked for them to go: once the call starts they may be gone.
                    durable.removeAll { $0.index >= i }
                    try log.truncateSuffix(from: i)
                    model.removeAll { $0.index >= i }
                case .truncatePrefix(let i):
                    try log.truncatePrefix(before: i)
                }
            }
        } catch {
            fs.crash()
            return (fs, durable, false)
        }
        fs.crash()
        return (fs, durable, true)
    }

    @Test("power fails at every single file-system operation: what a returned sync made durable survives")
    func powerFailsAtEveryOperation() throws {
        let total = try {
            var k = 0
            while try !runUntilPowerFails(after: k, torn: 0, seed: 1).completed { k += 1 }
            return k
        }()
        #expect(total > 20)
        for k in 0...total {
            let settings: [(UInt32, UInt64)] = [(0, 1)] + (2...13).map { (UInt32($0 % 2 == 0 ? 1_000_000 : 500_000), $0) }
            for (torn, seed) in settings {
                let (fs, durable, _) = try runUntilPowerFails(after: k, torn: torn, seed: seed)
                var config = PartitionLogConfig()
                config.segmentBytesMax = 120
                let log = try PartitionLog(fs: fs, directory: "/d/log", config: config)
                #expect(log.report.badRanges.isEmpty, "power lost after \(k) operations")
                let recovered = try log.read(from: log.firstIndex, maxBytes: 1 << 20).map(\.entry)
                for e in durable where e.index >= log.firstIndex {
                    #expect(recovered.first { $0.index == e.index } == e, "after \(k) operations: entry \(e.index)")
                }
                for (n, e) in recovered.enumerated() { #expect(e.index == log.firstIndex + n) }
            }
        }
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
