import ArgumentParser
import Primitives
import Raft
import Storage

#if canImport(Glibc)
    @preconcurrency import Glibc
#endif

/// `rill-bench storage`: the storage engine's throughput on this machine, printed as figures that
/// `ops/bench-storage.sh` puts next to fio's on the same disk in the same run.
struct StorageBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Append, fsync, read, CRC-32C and recovery throughput of the storage engine.")

    @Option(help: "Directory to write in (a temporary one under it is removed afterwards).")
    var directory = "/tmp"

    @Option(help: "MiB written per batch size in the buffered append run.")
    var mebibytes = 512

    @Option(help: "Seconds of the fsync-per-batch run, per batch size.")
    var syncSeconds = 5

    func run() throws {
        try withBenchDirectory(under: directory) { try measure(in: $0) }
    }

    private func measure(in root: String) throws {
        let clock = ContinuousClock()
        let fs = PosixFileSystem()

        // CRC-32C
        let block = (0..<(64 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2654435761) }
        for (name, portable) in [("instruction", false), ("table", true)] where !(name == "instruction" && !CRC32C.isAccelerated) {
            let rounds = portable ? 2 : 16
            let t0 = clock.now
            var c: UInt32 = 0
            block.withUnsafeBytes { b in
                for _ in 0..<rounds { c ^= portable ? CRC32C.updatePortable(c, b) : CRC32C.update(c, b) }
            }
            let gbps = Double(rounds * block.count) / seconds(clock.now - t0) / 1e9
            print("crc32c \(name): \(fmt(gbps)) GB/s (check \(c))")
        }

        let recordBytes = 1024
        for batchKiB in [16, 64, 256, 1024] {
            let batchBytes = batchKiB * 1024
            let payload = [UInt8](repeating: 0x61, count: batchBytes)
            var config = PartitionLogConfig()
            config.recordCount = { _ in UInt32(batchBytes / recordBytes) }

            // Buffered appends (no fsync until the end), then one sync.
            let dir = "\(root)/buffered-\(batchKiB)"
            let log = try PartitionLog(fs: fs, directory: dir, config: config)
            let batches = max(1, (mebibytes << 20) / batchBytes)
            let t0 = clock.now
            for i in 0..<batches {
                try log.append([Entry(term: 1, index: LogIndex(UInt64(i + 1)), data: payload)])
            }
            let tWrite = seconds(clock.now - t0)
            try log.sync()
            let tSync = seconds(clock.now - t0)
            let mib = Double(batches * batchBytes) / Double(1 << 20)
            print("append \(batchKiB)KiB batches: \(fmt(mib / tWrite)) MiB/s buffered, \(fmt(mib / tSync)) MiB/s including the final fsync")

            // Recovery (scan + checksum of everything) of what was just written.
            let r0 = clock.now
            let reopened = try PartitionLog(fs: fs, directory: dir, config: config)
            let tRecover = seconds(clock.now - r0)
            print("recover \(batchKiB)KiB batches: \(fmt(mib)) MiB in \(fmt(tRecover * 1000)) ms (\(fmt(mib / 1024 / tRecover)) GiB/s)")

            // Sequential read by Kafka offset.
            let q0 = clock.now
            var offset = KafkaOffset.zero
            var read = 0
            while let index = reopened.index(containing: offset) {
                let e = try reopened.read(index)
                read += e.entry.data.count
                offset = e.nextOffset
            }
            let tRead = seconds(clock.now - q0)
            print("read by offset \(batchKiB)KiB batches: \(fmt(Double(read) / Double(1 << 20) / tRead)) MiB/s")
            _ = system("rm -rf '\(dir)'")

            // One fsync per appended batch (group commit of one batch).
            let sdir = "\(root)/sync-\(batchKiB)"
            let slog = try PartitionLog(fs: fs, directory: sdir, config: config)
            var n = 0
            let s0 = clock.now
            while seconds(clock.now - s0) < Double(syncSeconds) {
                n += 1
                try slog.append([Entry(term: 1, index: LogIndex(UInt64(n)), data: payload)])
                try slog.sync()
            }
            let rate = Double(n) / seconds(clock.now - s0)
            print("append+fsync \(batchKiB)KiB batches: \(fmt(rate)) commits/s, \(fmt(rate * Double(batchBytes) / Double(1 << 20))) MiB/s")
            _ = system("rm -rf '\(sdir)'")
        }
    }

    func fmt(_ v: Double) -> String {
        let scaled = (v * 10).rounded() / 10
        return String(scaled)
    }
}
