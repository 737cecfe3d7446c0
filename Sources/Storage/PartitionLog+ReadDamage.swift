import Primitives
import Raft

/// Damage a read meets in entries recovery had verified: bytes damaged while the node runs (bit
/// rot, a latent sector error, a misdirected write). Recovery would keep such entries out of
/// service and have them mended from a peer; a read does the same from the moment it meets them,
/// instead of failing every read of the range until the next restart.
///
/// The damaged entries are marked as recovery marks them (`damaged`, `report.badRanges`), so
/// `repairableDamage` names them and `repair` can mend them with a peer's copy. Their slots keep
/// their positions, Kafka offsets and record counts: the index was built from the intact bytes,
/// so the offsets are known (unlike damage found at recovery). Nothing is cut: the entries may
/// have been acknowledged.
extension PartitionLog {
    /// Entries `range` of the segment `path` failed their checksum at a read.
    public struct DamageFound: Equatable, Sendable {
        public var range: ClosedRange<LogIndex>
        public var path: String

        public init(range: ClosedRange<LogIndex>, path: String) {
            self.range = range
            self.path = path
        }
    }

    /// Damage found by reads since the last call, once each (by segment, in the order found).
    public func takeDamageFoundAtRead() -> [DamageFound] {
        defer { damageFoundAtRead = [] }
        return damageFoundAtRead
    }

    /// A read met a damaged entry in `s`: verify the whole segment (damage rarely comes alone —
    /// a sector holds several entries — and one repair round trip should mend all of it), mark
    /// every entry that fails, and note the range for the owner.
    func damagedAtRead(_ s: Segment) throws(StorageError) {
        var first: Int?
        var last = 0
        for k in 0..<s.count where !s.damaged[k] {
            let pos = Int(s.positions[k])
            let end = k + 1 < s.count ? Int(s.positions[k + 1]) : s.size
            let bytes = try fs.read(s.file, at: pos, count: end - pos)
            let decoded = bytes.withUnsafeBytes { EntryFormat.decode($0, at: 0) }
            if case .entry(let stored, _) = decoded, stored.entry.index == s.baseIndex + k { continue }
            s.damaged[k] = true
            first = first ?? k
            last = k
        }
        guard let first else { return }
        let range = (s.baseIndex + first)...(s.baseIndex + last)
        report.badRanges.append(range)
        report.badRanges.sort { $0.lowerBound < $1.lowerBound }
        damageFoundAtRead.append(DamageFound(range: range, path: s.path))
    }
}
