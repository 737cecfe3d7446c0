import ArgumentParser

/// Benchmarks, reported as figures the scripts in `ops/` set beside their baselines (fio, NATS)
/// measured in the same run. Never run as tests.
@main
struct RillBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rill-bench", abstract: "Rill benchmarks.", subcommands: [StorageBench.self, TLSBench.self, CodecBench.self, CompactionBench.self])
}
