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

    static func smallSegments() -> PartitionLogConfig {
        var config = PartitionLogConfig()
        config.segmentBytesMax = 120
        return config
    }

    /// Run `steps`, with power failing after `operations` file-system operations (nil: never),
    /// then crash. Returns what a returned `sync()` made durable and whether all steps ran.
    func run(_ steps: ArraySlice<Step>, powerFailsAfter operations: Int? = nil, torn: UInt32, seed: UInt64)
        throws -> (fs: SimFileSystem, durable: [Entry], completed: Bool)
    {
        let fs = SimFileSystem(random: SeededRandom(seed: seed), tornWritePPM: torn)
        try fs.makeDirectory("/d/log")
        fs.powerFailsAfter = operations
        var model: [Entry] = []  // what the log holds
        var durable: [Entry] = []  // what a returned sync made durable
        var completed = true
        do {
            let log = try PartitionLog(fs: fs, directory: "/d/log", config: Self.smallSegments())
            for step in steps {
                switch step {
                case .append(let es):
                    // An append that replaces entries may already have cut them when power fails.
                    durable.removeAll { $0.index >= es[0].index }
                    try log.append(es)
                    model.removeAll { $0.index >= es[0].index }
                    model += es
                case .sync:
                    try log.sync()
                    durable = model
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
            completed = false
        }
        fs.crash()
        return (fs, durable, completed)
    }

    /// Recover and check: no damage, every durable entry still in the retained range is there
    /// unchanged, indexes are contiguous. Returns the recovered entries.
    @discardableResult
    func recoverAndCheck(_ fs: SimFileSystem, durable: [Entry], _ label: String) throws -> [Entry] {
        let log = try PartitionLog(fs: fs, directory: "/d/log", config: Self.smallSegments())
        #expect(log.report.badRanges.isEmpty, "\(label)")
        let recovered = try log.read(from: log.firstIndex, maxBytes: 1 << 20).map(\.entry)
        for e in durable where e.index >= log.firstIndex {
            #expect(recovered.first { $0.index == e.index } == e, "\(label): entry \(e.index)")
        }
        for (k, e) in recovered.enumerated() { #expect(e.index == log.firstIndex + k) }
        return recovered
    }

    @Test("power fails at every single file-system operation: what a returned sync made durable survives")
    func powerFailsAtEveryOperation() throws {
        let total = try {
            var k = 0
            while try !run(Self.script[...], powerFailsAfter: k, torn: 0, seed: 1).completed { k += 1 }
            return k
        }()
        #expect(total > 20)
        let settings: [(UInt32, UInt64)] = [(0, 1)] + (2...13).map { (UInt32($0 % 2 == 0 ? 1_000_000 : 500_000), $0) }
        for k in 0...total {
            for (torn, seed) in settings {
                let (fs, durable, _) = try run(Self.script[...], powerFailsAfter: k, torn: torn, seed: seed)
                try recoverAndCheck(fs, durable: durable, "power lost after \(k) operations")
            }
        }
    }

    @Test("recovery after a crash at every step keeps every synced entry and invents nothing",
          arguments: [0, 300_000, 1_000_000] as [UInt32])
    func crashEverywhere(torn: UInt32) throws {
        let appended = Self.script.flatMap { step -> [Entry] in
            if case .append(let es) = step { return es }
            return []
        }
        for stop in 0...Self.script.count {
            for seed in 1...4 as ClosedRange<UInt64> {
                let (fs, durable, _) = try run(Self.script.prefix(stop), torn: torn, seed: seed)
                let recovered = try recoverAndCheck(fs, durable: durable, "stop \(stop) seed \(seed)")
                // Nothing recovered contradicts the script: each entry is one that was appended.
                for e in recovered { #expect(appended.contains(e), "stop \(stop): invented \(e)") }
            }
        }
    }
}
