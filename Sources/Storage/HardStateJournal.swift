import Primitives
import Raft

/// Every group's hard state (term, vote, commit) on one node, in one append-only file, made
/// durable with one fdatasync per storage batch however many groups changed term or vote in it.
///
/// Why: a vote must be durable before the grant leaves. Written per group (`raft.state`, an
/// atomic replace: write, fsync, rename, fsync of the directory), thousands of groups electing at
/// once cost two fsyncs and a new inode each — a 5,000-partition topic spent its elections
/// waiting on the disk and timed out into new ones, never electing. Redpanda keeps the same
/// state in one key-value store per shard, TiKV in one raft engine log, for the same reason.
///
/// File `raft-states.journal` in the data directory: records of
/// `magic "RHSJ" | crc32c u32 (of length and body) | length u32 | body`, body = `count u32` and
/// `count` items of `group u32 | kind u8 | term u64 | vote u32 | commit u64`; kind 0: the group's
/// state, 1: the group was removed (forget it), 2: the group's copy moved off this node — removed
/// too, and remembered for good: its term and vote, and in the `commit` field the last index its
/// log reached (`departed`). Later records override earlier ones. When the file passes
/// `compactBytes` it is replaced atomically by one record holding every group's latest state and
/// every departure.
///
/// Recovery reads records until the end. A bad record at the tail is a write the crash tore —
/// never acknowledged, so truncated. A bad record followed by a valid one is damage in the
/// middle: refused, like a corrupt `raft.state`, because forgetting a vote could let this node
/// vote twice in a term.
public final class HardStateJournal {
    public static let fileName = "raft-states.journal"
    static let magic: [UInt8] = Array("RHSJ".utf8)
    static let headerBytes = 12
    static let itemBytes = 25

    let fs: FileSystem
    public let path: String
    /// The latest state of each group, by group id.
    public private(set) var states: [GroupID: HardState] = [:]
    /// Groups whose copy moved off this node: its term and vote then, and as `commit` the last
    /// index its log reached (the latest departure).
    public private(set) var departed: [GroupID: HardState] = [:]
    private var file: FileID
    private var size: Int
    /// Past this many bytes the journal is rewritten with only the latest states.
    let compactBytes: Int

    /// Open (creating when missing) and recover the journal of the data directory `directory`.
    public init(fs: FileSystem, directory: String, compactBytes: Int = 4 * 1024 * 1024) throws(StorageError) {
        self.fs = fs
        self.path = directory + "/" + Self.fileName
        self.compactBytes = compactBytes
        let existed = fs.exists(path)
        file = try fs.open(path, create: true)
        if !existed { try fs.syncDirectory(directory) }
        let bytes = try fs.read(file, at: 0, count: try fs.size(file))
        var at = 0
        while at < bytes.count {
            guard let (items, next) = Self.record(in: bytes, at: at) else {
                if Self.validRecordFollows(bytes, after: at) {
                    throw StorageError.corrupt(path: path, detail: "damaged record at byte \(at) before intact ones")
                }
                // A torn tail: the batch writing it never completed.
                try fs.truncate(file, to: at)
                try fs.sync(file)
                break
            }
            for (g, kind, hs) in items {
                switch kind {
                case .state: states[g] = hs
                case .removed: states[g] = nil
                case .departed:
                    states[g] = nil
                    departed[g] = hs
                }
            }
            at = next
        }
        size = min(at, bytes.count)
    }

    deinit { fs.close(file) }

    /// Make these groups' states durable (forget the removed groups; remember the departed ones
    /// with their move count): one write, one sync.
    public func save(_ changed: [(GroupID, HardState)], removed: [GroupID] = [], departed gone: [(GroupID, HardState)] = []) throws(StorageError) {
        guard !changed.isEmpty || !removed.isEmpty || !gone.isEmpty else { return }
        for (g, hs) in changed { states[g] = hs }
        for g in removed { states[g] = nil }
        for (g, copy) in gone { departed[g] = copy }
        if size >= compactBytes {
            try rewrite()
            return
        }
        let bytes = Self.encode(
            changed.map { ($0.0, ItemKind.state, $0.1) } + removed.filter { g in !gone.contains { $0.0 == g } }.map { ($0, ItemKind.removed, HardState()) }
                + gone.map { ($0.0, ItemKind.departed, $0.1) })
        try fs.write(file, at: size, bytes)
        try fs.sync(file)
        size += bytes.count
    }

    /// Replace the file with one record of every group's latest state (atomically).
    private func rewrite() throws(StorageError) {
        let all = states.keys.sorted().map { ($0, ItemKind.state, states[$0]!) }
            + departed.keys.sorted().map { ($0, ItemKind.departed, departed[$0]!) }
        let bytes = Self.encode(all)
        fs.close(file)
        try fs.writeAtomically(path, bytes)
        file = try fs.open(path, create: false)
        size = bytes.count
    }

    /// What an item says of its group.
    enum ItemKind: UInt8 {
        case state = 0, removed = 1, departed = 2
    }

    static func encode(_ items: [(GroupID, ItemKind, HardState)]) -> [UInt8] {
        var body = ByteWriter(capacity: 4 + items.count * itemBytes)
        body.u32(UInt32(items.count))
        for (g, kind, hs) in items {
            body.u32(g.value)
            body.u8(kind.rawValue)
            body.u64(hs.term.value)
            body.u32(hs.vote.value)
            body.u64(hs.commit.value)
        }
        var lengthAndBody = ByteWriter(capacity: 4 + body.bytes.count)
        lengthAndBody.u32(UInt32(body.bytes.count))
        lengthAndBody.raw(body.bytes)
        var out = ByteWriter(capacity: headerBytes + body.bytes.count)
        out.raw(magic)
        out.u32(CRC32C.checksum(lengthAndBody.bytes))
        out.raw(lengthAndBody.bytes)
        return out.bytes
    }

    /// The record at `at` and where the next begins, or nil when it is not intact.
    static func record(in bytes: [UInt8], at: Int) -> (items: [(GroupID, ItemKind, HardState)], next: Int)? {
        guard at + headerBytes <= bytes.count, Array(bytes[at..<at + 4]) == magic else { return nil }
        var r = ByteReader(bytes, offset: at + 4)
        guard let crc = try? r.u32(), let length = try? r.u32() else { return nil }
        let end = at + headerBytes + Int(length)
        guard length >= 4, end <= bytes.count, CRC32C.checksum(Array(bytes[(at + 8)..<end])) == crc else { return nil }
        var b = ByteReader(Array(bytes[(at + headerBytes)..<end]))
        do throws(WireError) {
            let n = try b.u32()
            guard Int(n) * itemBytes == Int(length) - 4 else { return nil }
            var items: [(GroupID, ItemKind, HardState)] = []
            items.reserveCapacity(Int(n))
            for _ in 0..<n {
                let g = GroupID(try b.u32())
                // An unknown kind is damage (the checksum matched: a newer format) — not intact.
                guard let kind = ItemKind(rawValue: try b.u8()) else { return nil }
                let hs = HardState(term: Term(try b.u64()), vote: NodeID(try b.u32()), commit: LogIndex(try b.u64()))
                items.append((g, kind, hs))
            }
            return (items, end)
        } catch {
            return nil
        }
    }

    /// Whether an intact record starts anywhere after byte `at`.
    static func validRecordFollows(_ bytes: [UInt8], after at: Int) -> Bool {
        var i = at + 1
        while i + headerBytes <= bytes.count {
            if bytes[i] == magic[0], record(in: bytes, at: i) != nil { return true }
            i += 1
        }
        return false
    }
}

extension HardState {
    /// The later of two durable states of one group: terms only grow, a vote is cast at most once
    /// per term, and the commit index only grows (it is re-learnt anyway). The group's
    /// `raft.state` (rewritten with every snapshot) and the journal may each hold the latest.
    public static func later(_ a: HardState, _ b: HardState) -> HardState {
        func rank(_ h: HardState) -> (UInt64, Int, UInt64) { (h.term.value, h.vote.isNone ? 0 : 1, h.commit.value) }
        return rank(b) > rank(a) ? b : a
    }
}
