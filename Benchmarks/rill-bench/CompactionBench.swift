import ArgumentParser
import Broker
import KafkaProtocol
import Primitives
import Raft
import Storage

/// `rill-bench compaction`: how fast the log cleaner cleans on this machine (`LogCleaner`, the code
/// a node's storage runs), next to a plain copy of the same segment files (read, write, fsync) in
/// the same run: the cleaner reads every closed segment twice (its key map, then the rewrite) and
/// writes what stays.
struct CompactionBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compaction", abstract: "Log cleaner throughput (MB/s of log cleaned) against a plain copy of the same bytes.")

    @Option(help: "Directory to write in (a temporary one under it is removed afterwards).")
    var directory = "/tmp"

    @Option(help: "MiB of keyed records written before cleaning.")
    var mebibytes = 512

    @Option(help: "Distinct keys (the records are spread over them at random).")
    var keys = 100_000

    @Option(help: "Bytes per record value.")
    var valueBytes = 1000

    @Option(help: "Records per batch (one Raft entry).")
    var batchRecords = 16

    func run() throws {
        try withBenchDirectory(under: directory) { try measure(in: $0) }
    }

    private func measure(in root: String) throws {
        let clock = ContinuousClock()
        let fs = PosixFileSystem()
        let log = try PartitionLog(fs: fs, directory: "\(root)/log", config: KafkaEntry.logConfig())

        // Write: batches of keyed records, offsets assigned as the broker does.
        var rng = SeededRandom(seed: 17)
        let value = [UInt8](repeating: 0x76, count: valueBytes)
        var offset: Int64 = 0
        var index = LogIndex(1)
        var written = 0
        let t0 = clock.now
        while written < mebibytes << 20 {
            var pending: [Entry] = []
            for _ in 0..<64 {
                let records = (0..<batchRecords).map { _ in (key: Array("key-\(rng.below(UInt64(keys)))".utf8) as [UInt8]?, value: value as [UInt8]?) }
                let batch = RecordBatch.build(baseOffset: offset, records: records, timestamp: 1000)
                let data = Array(batch.bytes.readableBytesView)
                pending.append(Entry(term: Term(1), index: index, kind: .normal, data: data))
                index = index.next
                offset += Int64(batchRecords)
                written += data.count
            }
            try log.append(pending)
        }
        try log.sync()
        let writeSeconds = seconds(clock.now - t0)
        let closed = log.closedSegments(through: log.lastIndex)
        let closedBytes = closed.reduce(0) { $0 + $1.bytes }
        print("wrote \(written >> 20) MiB in \(fmt(writeSeconds)) s: \(closed.count) closed segments of \(closedBytes >> 20) MiB, \(keys) keys, \(batchRecords) records of \(valueBytes) B per batch")

        // Baseline: copy the closed segments' files (read whole, write, fsync) — the least a
        // rewrite costs.
        let t1 = clock.now
        for name in try fs.list("\(root)/log").sorted().prefix(closed.count) {
            let from = try fs.open("\(root)/log/\(name)", create: false)
            let bytes = try fs.read(from, at: 0, count: try fs.size(from))
            fs.close(from)
            let to = try fs.open("\(root)/copy-\(name)", create: true)
            try fs.write(to, at: 0, bytes)
            try fs.sync(to)
            fs.close(to)
        }
        let copySeconds = seconds(clock.now - t1)
        let copyRate = Double(closedBytes) / copySeconds / 1e6

        var cleaner = LogCleaner()
        let t2 = clock.now
        guard let pass = try cleaner.clean(GroupID(1), log: log, through: log.lastIndex, policy: CompactionPolicy(minDirtyRatio: 0), nowMs: 1 << 40) else {
            throw ValidationError("the cleaner found nothing due")
        }
        let cleanSeconds = seconds(clock.now - t2)
        let cleanRate = Double(pass.bytesBefore) / cleanSeconds / 1e6
        print("plain copy: \(fmt(copyRate)) MB/s")
        print("cleaner: \(pass.segments) segments, \(pass.bytesBefore >> 20) MiB -> \(pass.bytesAfter >> 20) MiB in \(fmt(cleanSeconds)) s: "
            + "\(fmt(cleanRate)) MB/s cleaned (\(fmt(cleanRate / copyRate))x the copy), \(pass.recordsRemoved) records removed")
    }

    func fmt(_ v: Double) -> String {
        let r = (v * 100).rounded() / 100
        return String(r)
    }
}
