import Primitives
import Raft

/// The simulator's stand-in for durable Raft storage until the Storage module lands (issue 3): one
/// append-only journal per node holding every group's hard states, entries and snapshots as
/// checksummed records. Recovery reads records until the first torn or corrupt one, cuts the file
/// there, and rebuilds each group's `RecoveredState` — which the real `RaftNode.init` then takes.
///
/// Record: `length u32 | crc32c u32 | body`, body = `type u8 | group u32 | payload`.
enum RaftJournal {
    enum RecordType: UInt8 {
        case hardState = 1
        /// Entries; any stored entries at or after the first one's index are replaced.
        case entries = 2
        /// A snapshot from the leader: replaces the whole log.
        case snapshotInstalled = 3
        /// Local compaction: the prefix through the snapshot index is dropped.
        case compacted = 4
    }

    static func appendHardState(_ hs: HardState, group: GroupID, to w: inout ByteWriter) {
        var body = ByteWriter()
        body.u8(RecordType.hardState.rawValue)
        body.u32(group.value)
        body.u64(hs.term.value)
        body.u32(hs.vote.value)
        body.u64(hs.commit.value)
        frame(body.bytes, into: &w)
    }

    static func appendEntries(_ entries: [Entry], group: GroupID, to w: inout ByteWriter) {
        var body = ByteWriter(capacity: entries.reduce(16) { $0 + $1.data.count + 24 })
        body.u8(RecordType.entries.rawValue)
        body.u32(group.value)
        body.u32(UInt32(entries.count))
        for e in entries {
            body.u64(e.term.value)
            body.u64(e.index.value)
            body.u8(e.kind.rawValue)
            body.blob(e.data)
        }
        frame(body.bytes, into: &w)
    }

    static func appendSnapshot(_ s: Snapshot, installed: Bool, group: GroupID, to w: inout ByteWriter) {
        var body = ByteWriter()
        body.u8((installed ? RecordType.snapshotInstalled : RecordType.compacted).rawValue)
        body.u32(group.value)
        body.u64(s.index.value)
        body.u64(s.term.value)
        body.membership(s.membership)
        body.blob(s.data)
        frame(body.bytes, into: &w)
    }

    private static func frame(_ body: [UInt8], into w: inout ByteWriter) {
        w.u32(UInt32(body.count))
        w.u32(CRC32C.checksum(body))
        w.raw(body)
    }

    struct Recovery {
        var states: [GroupID: RecoveredState]
        /// Length of the valid prefix; anything after it was torn and is cut.
        var validLength: Int
        var records: Int
    }

    /// Rebuild every group's state from the journal bytes.
    static func recover(_ bytes: [UInt8]) -> Recovery {
        var states: [GroupID: RecoveredState] = [:]
        var r = ByteReader(bytes)
        var valid = 0
        var records = 0
        while r.remaining > 0 {
            guard let body = try? readFramed(&r) else { break }  // torn or corrupt tail: cut here
            do {
                try apply(body, to: &states)
            } catch {
                // A record with a valid checksum that does not make sense was written wrong: a bug,
                // never a torn write. Cutting here would silently drop durable records.
                preconditionFailure("journal record \(records) at byte \(valid) is checksummed but invalid: \(error)")
            }
            valid = r.offset
            records += 1
        }
        return Recovery(states: states, validLength: valid, records: records)
    }

    private static func readFramed(_ r: inout ByteReader) throws(WireError) -> [UInt8] {
        let length = Int(try r.u32())
        let crc = try r.u32()
        let body = try r.raw(count: length)
        guard CRC32C.checksum(body) == crc else { throw WireError.invalid("journal record checksum mismatch") }
        return body
    }

    private static func apply(_ body: [UInt8], to states: inout [GroupID: RecoveredState]) throws(WireError) {
        var r = ByteReader(body)
        guard let type = RecordType(rawValue: try r.u8()) else { throw WireError.invalid("record type") }
        let group = GroupID(try r.u32())
        var s = states[group] ?? RecoveredState()
        switch type {
        case .hardState:
            s.hardState = HardState(term: Term(try r.u64()), vote: NodeID(try r.u32()), commit: LogIndex(try r.u64()))
        case .entries:
            let n = try r.count(minItemBytes: 21)
            var new: [Entry] = []
            for _ in 0..<n {
                let term = Term(try r.u64())
                let index = LogIndex(try r.u64())
                guard let kind = EntryKind(rawValue: try r.u8()) else { throw WireError.invalid("entry kind") }
                new.append(Entry(term: term, index: index, kind: kind, data: try r.blob()))
            }
            guard let first = new.first else { break }
            let base = s.snapshot?.index ?? .zero
            guard first.index > base, first.index.value <= base.value + UInt64(s.entries.count) + 1 else {
                throw WireError.invalid("entries record at \(first.index) does not follow the log")
            }
            s.entries.removeSubrange(Int(first.index.value - base.value - 1)...)
            s.entries.append(contentsOf: new)
        case .snapshotInstalled, .compacted:
            let snap = Snapshot(
                index: LogIndex(try r.u64()), term: Term(try r.u64()), membership: try r.membership(), data: try r.blob())
            let base = s.snapshot?.index ?? .zero
            if type == .snapshotInstalled || snap.index.value > base.value + UInt64(s.entries.count) {
                s.entries = []
            } else if snap.index > base {
                s.entries.removeFirst(Int(snap.index.value - base.value))
            }
            if snap.index >= base { s.snapshot = snap }
        }
        try r.expectEnd()
        states[group] = s
    }
}
