import Primitives
import Raft

/// The durable Raft state of one group that is not log entries: the hard state (term, vote,
/// commit) and the latest snapshot (metadata, data, and where the Kafka offsets continue).
/// Written atomically (temporary file, fsync, rename, fsync of the directory), so a crash leaves
/// either the old or the new state, never a mix.
///
/// File `raft.state`: `magic "RLST" | version u8 | crc32c u32 | body`, body =
/// `term u64 | vote u32 | commit u64 | snapIndex u64 | snapTerm u64 | snapNextOffset u64 |
///  membership | snapData blob | repairThrough u64`.
public struct RaftStateStore {
    public struct State: Equatable, Sendable {
        public var hardState = HardState()
        public var snapshot: Snapshot? = nil
        /// The Kafka offset that follows the snapshot (the log start offset of an empty log).
        public var snapshotNextOffset = KafkaOffset.zero
        /// Set when recovery dropped damaged entries: see `RecoveredState.repairThrough`.
        public var repairThrough = LogIndex.zero

        public init(
            hardState: HardState = HardState(), snapshot: Snapshot? = nil, snapshotNextOffset: KafkaOffset = .zero,
            repairThrough: LogIndex = .zero
        ) {
            self.hardState = hardState
            self.snapshot = snapshot
            self.snapshotNextOffset = snapshotNextOffset
            self.repairThrough = repairThrough
        }
    }

    static let magic: [UInt8] = Array("RLST".utf8)
    static let version: UInt8 = 1
    public static let fileName = "raft.state"

    let fs: FileSystem
    public let path: String

    public init(fs: FileSystem, directory: String) {
        self.fs = fs
        self.path = directory + "/" + Self.fileName
    }

    /// The stored state, or the empty state when none was ever written. A file that exists but
    /// fails its checksum is an error: losing a vote could let this node vote twice in a term.
    public func load() throws(StorageError) -> State {
        guard fs.exists(path) else { return State() }
        let bytes = try fs.readWhole(path)
        guard bytes.count >= 9, Array(bytes[0..<4]) == Self.magic else {
            throw StorageError.corrupt(path: path, detail: "not a Rill raft state file")
        }
        guard bytes[4] == Self.version else { throw StorageError.corrupt(path: path, detail: "version \(bytes[4])") }
        var r = ByteReader(bytes, offset: 5)
        do {
            let crc = try r.u32()
            let body = Array(bytes[9...])
            guard CRC32C.checksum(body) == crc else { throw WireError.invalid("checksum mismatch") }
            var b = ByteReader(body)
            var s = State()
            s.hardState = HardState(term: Term(try b.u64()), vote: NodeID(try b.u32()), commit: LogIndex(try b.u64()))
            let snapIndex = LogIndex(try b.u64())
            let snapTerm = Term(try b.u64())
            s.snapshotNextOffset = KafkaOffset(try b.u64())
            let membership = try b.membership()
            let data = try b.blob()
            s.repairThrough = LogIndex(try b.u64())
            try b.expectEnd()
            if snapIndex > .zero {
                s.snapshot = Snapshot(index: snapIndex, term: snapTerm, membership: membership, data: data)
            }
            return s
        } catch {
            throw StorageError.corrupt(path: path, detail: "\(error)")
        }
    }

    /// Replace the stored state atomically. `membershipIfNoSnapshot` fills the membership field
    /// when there is no snapshot (it is then unused).
    public func save(_ s: State) throws(StorageError) {
        var b = ByteWriter()
        b.u64(s.hardState.term.value)
        b.u32(s.hardState.vote.value)
        b.u64(s.hardState.commit.value)
        b.u64(s.snapshot?.index.value ?? 0)
        b.u64(s.snapshot?.term.value ?? 0)
        b.u64(s.snapshotNextOffset.value)
        b.membership(s.snapshot?.membership ?? Membership(voters: []))
        b.blob(s.snapshot?.data ?? [])
        b.u64(s.repairThrough.value)
        var out = Self.magic
        out.append(Self.version)
        withUnsafeBytes(of: CRC32C.checksum(b.bytes).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: b.bytes)
        try fs.writeAtomically(path, out)
    }
}
