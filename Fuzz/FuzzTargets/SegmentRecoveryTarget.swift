import Primitives
import Raft
import SimulationKit
import Storage

/// A segment file's bytes recovered by `PartitionLog`, in memory (`SimFileSystem`). The first byte
/// picks where the damage sits: as the only, active segment (a torn tail is cut there), or as a
/// closed segment followed by a good one (damage there must be reported, never cut silently).
/// Then every entry the log says it holds is read back: recovery may refuse, drop or keep, but
/// what it keeps must read.
enum SegmentRecoveryTarget {
    static let directory = "/log"

    static func run(_ data: [UInt8]) -> Bool {
        guard let mode = data.first else { return false }
        let fs = SimFileSystem()
        do {
            try fs.makeDirectory(directory)
            try put(fs, "\(directory)/00000000000000000001.log", Array(data.dropFirst()))
            if mode & 1 == 1 {
                // A later, intact segment from index 7 (where the seeds' six entries end): the
                // input is now a closed segment.
                let good = try segment(entries: [Entry(term: Term(9), index: LogIndex(7), data: Array("after".utf8))], from: LogIndex(7))
                try put(fs, "\(directory)/00000000000000000007.log", good)
            }
        } catch {
            fatalError("writing to the in-memory file system failed: \(error)")
        }
        guard let log = try? PartitionLog(fs: fs, directory: directory) else { return false }
        if !log.isEmpty {
            var i = log.firstIndex
            while i <= log.lastIndex {
                _ = try? log.read(i)
                i = LogIndex(i.value + 1)
            }
        }
        _ = try? log.read(from: log.firstIndex, maxBytes: 1 << 20)
        return !log.isEmpty
    }

    static func put(_ fs: SimFileSystem, _ path: String, _ bytes: [UInt8]) throws(StorageError) {
        let f = try fs.open(path, create: true)
        try fs.write(f, at: 0, bytes)
        try fs.sync(f)
        fs.close(f)
    }

    /// The bytes of a segment holding `entries`, as `PartitionLog` writes it.
    static func segment(entries: [Entry], from first: LogIndex) throws(StorageError) -> [UInt8] {
        let fs = SimFileSystem()
        let log = try PartitionLog(fs: fs, directory: directory, nextIndex: first)
        try log.append(entries)
        try log.sync()
        let name = String(repeating: "0", count: 20 - String(first.value).count) + String(first.value) + ".log"
        return try fs.readWhole("\(directory)/\(name)")
    }

    /// Segments of normal, empty and configuration entries (mode byte 0 and 1 for each).
    static func seeds() -> [[UInt8]] {
        var entries: [Entry] = []
        for i in 1...6 {
            let kind: EntryKind = i == 4 ? .noop : .normal
            let data: [UInt8] = i == 2 ? [] : Array("entry \(i)".utf8)
            entries.append(Entry(term: Term(UInt64(1 + i / 3)), index: LogIndex(UInt64(i)), kind: kind, data: data))
        }
        guard let bytes = try? segment(entries: entries, from: LogIndex(1)) else { return [] }
        return [[0] + bytes, [1] + bytes]
    }
}
