import Primitives
import Raft

/// One segment file of a partition log: entries from `baseIndex` on, appended back to back.
/// Named `<baseIndex, 20 digits>.log`, so names sort in log order.
final class Segment {
    let baseIndex: LogIndex
    let path: String
    var file: FileID
    /// Bytes of valid entries (the file is never longer after recovery).
    var size: Int
    /// Byte position of entry `baseIndex + k`. For a damaged entry: where the damaged bytes start
    /// (so cutting the log there removes exactly the damage and what follows).
    var positions: [UInt32] = []
    /// Whether entry `baseIndex + k` failed its checksum at recovery (never served).
    var damaged: [Bool] = []
    /// First Kafka offset of each entry.
    var offsets: [UInt64] = []
    /// Record count of each entry (so `nextOffset` survives truncation without a read).
    var recordCounts: [UInt32] = []
    /// Newest record timestamp of any entry (retention by time). Not lowered by a suffix
    /// truncation: a stale high value only keeps the segment longer.
    var maxTimestamp: Int64?
    /// When this node created the segment, or reopened it at start-up (the owner's clock, ms):
    /// retention by time and rolling by age also wait on it, so records with old timestamps are
    /// not deleted the moment they arrive.
    var openedAtMs: Int64 = 0
    /// When this node last appended to the segment, or reopened it at start-up (the owner's
    /// clock, ms): compaction removes a tombstone only from a segment written more than
    /// `delete.retention.ms` ago. Rewriting by compaction does not change it.
    var lastWriteMs: Int64 = 0
    /// Written since the last sync.
    var dirty = false


    init(baseIndex: LogIndex, path: String, file: FileID, size: Int) {
        self.baseIndex = baseIndex
        self.path = path
        self.file = file
        self.size = size
    }

    var count: Int { positions.count }

    func noteTimestamp(_ t: Int64?) {
        guard let t else { return }
        maxTimestamp = max(maxTimestamp ?? t, t)
    }
    var isEmpty: Bool { positions.isEmpty }
    /// The last index held; `baseIndex - 1` when empty.
    var lastIndex: LogIndex { LogIndex(baseIndex.value + UInt64(count) - 1) }

    func contains(_ index: LogIndex) -> Bool { index >= baseIndex && index.value < baseIndex.value + UInt64(count) }

    func slot(_ index: LogIndex) -> Int { Int(index.value - baseIndex.value) }

    static func fileName(_ base: LogIndex) -> String {
        let digits = String(base.value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    /// The base index a segment file name encodes, or nil when it is not a segment name.
    static func baseIndex(ofFileName name: String) -> LogIndex? {
        guard name.hasSuffix(".log") else { return nil }
        let stem = name.dropLast(4)
        guard stem.count == 20, stem.allSatisfy({ $0.isASCII && $0.isNumber }), let v = UInt64(stem) else { return nil }
        return LogIndex(v)
    }
}
