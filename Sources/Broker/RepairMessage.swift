import Primitives
import Raft

/// Mending damaged entries that lie below a Kafka partition's snapshot — entries Raft will never
/// send again, because for Raft they are compacted. The damaged node asks a peer for a range; the
/// peer reads it from its storage (only entries it knows committed, so every replica's copy is the
/// same) and sends it back; the damaged node's storage writes it over the damage in place.
public enum RepairMessage: Equatable, Sendable {
    /// `from` asks for the entries `range` of `group`.
    case request(group: GroupID, from: NodeID, range: ClosedRange<LogIndex>)
    /// A peer's copy of committed entries of `group`, in index order: those of the range asked
    /// for that its storage holds intact (gaps where its own copy is damaged).
    case entries(group: GroupID, [Entry])

    func encode(_ w: inout ByteWriter) {
        switch self {
        case .request(let group, let from, let range):
            w.u8(1)
            w.u32(group.value)
            w.u32(from.value)
            w.u64(range.lowerBound.value)
            w.u64(range.upperBound.value)
        case .entries(let group, let entries):
            w.u8(2)
            w.u32(group.value)
            w.u32(UInt32(entries.count))
            for e in entries {
                w.u64(e.term.value)
                w.u64(e.index.value)
                w.u8(e.kind.rawValue)
                w.blob(e.data)
            }
        }
    }

    static func decode(_ r: inout ByteReader) throws(WireError) -> RepairMessage {
        switch try r.u8() {
        case 1:
            let group = GroupID(try r.u32())
            let from = NodeID(try r.u32())
            let lo = LogIndex(try r.u64())
            let hi = LogIndex(try r.u64())
            guard lo <= hi, lo > .zero, hi.value <= RaftNode.wireValueMax else { throw WireError.invalid("repair range \(lo)...\(hi)") }
            return .request(group: group, from: from, range: lo...hi)
        case 2:
            let group = GroupID(try r.u32())
            let n = try r.count(minItemBytes: 8 + 8 + 1 + 4)
            var entries: [Entry] = []
            entries.reserveCapacity(n)
            for _ in 0..<n {
                let term = Term(try r.u64())
                let index = LogIndex(try r.u64())
                let kindByte = try r.u8()
                guard let kind = EntryKind(rawValue: kindByte) else { throw WireError.invalid("entry kind \(kindByte)") }
                // (Indexes near the integer limit would overflow `next` here and offsets in storage.)
                guard index > .zero, index.value <= RaftNode.wireValueMax else { throw WireError.invalid("repair entry index \(index)") }
                // Increasing, with gaps where the sender's own copy is damaged (it sends what it has).
                if let last = entries.last, last.index >= index { throw WireError.invalid("repair entries out of order at \(index)") }
                entries.append(Entry(term: term, index: index, kind: kind, data: try r.blob()))
            }
            return .entries(group: group, entries)
        case let kind:
            throw WireError.invalid("repair message kind \(kind)")
        }
    }
}
