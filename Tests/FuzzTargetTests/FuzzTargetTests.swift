import Foundation
import FuzzTargets
import Testing

/// The fuzz targets outside the fuzzer: their seeds, the real client captures under Fuzz/corpus and
/// every input the fuzzer ever crashed on (Fuzz/regressions/<target>/, each kept once fixed) run
/// through the same entry points. A crash here is a trap that fails the whole test run.
struct FuzzTargetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz")

    static func files(_ folder: String, _ target: FuzzTarget) -> [URL] {
        let dir = root.appendingPathComponent(folder).appendingPathComponent(target.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test("every seed gets past the target's first check (decoded, validated, recovered), so fuzzing starts inside the code", arguments: FuzzTarget.allCases)
    func seedsReachTheCode(_ target: FuzzTarget) {
        let seeds = target.seeds()
        #expect(!seeds.isEmpty)
        for (n, seed) in seeds.enumerated() {
            #expect(target.run(seed), "\(target.rawValue) seed \(n)")
        }
    }

    @Test("the real clients' captured requests (librdkafka 2.16, the Java client 4.3) are answered, not refused")
    func capturedRequests() throws {
        let captures = Self.files("corpus", .kafkaRequest)
        #expect(captures.count >= 20)
        for url in captures {
            #expect(FuzzTarget.kafkaRequest.run(Array(try Data(contentsOf: url))), "\(url.lastPathComponent)")
        }
    }

    @Test("every input the fuzzer crashed on runs through its target without a crash", arguments: FuzzTarget.allCases)
    func regressions(_ target: FuzzTarget) throws {
        for url in Self.files("regressions", target) {
            target.run(Array(try Data(contentsOf: url)))
        }
    }

    @Test("truncations of every seed never crash a target", arguments: FuzzTarget.allCases)
    func truncatedSeeds(_ target: FuzzTarget) {
        for seed in target.seeds() {
            for n in stride(from: 0, to: seed.count, by: max(1, seed.count / 64)) { target.run(Array(seed.prefix(n))) }
        }
    }
}
