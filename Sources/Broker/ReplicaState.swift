import Primitives
import Raft
import Storage

/// What every replica of a group keeps about what it applied: the applied index, a hash chain over
/// every applied entry, and the records applied (the Kafka offset that follows: for a Kafka
/// partition, the records of each batch; for the simulator's groups, one per data entry). Two nodes with equal chains at an index
/// applied identical histories up to it: the simulator's checker compares whole prefixes by
/// comparing one number, and `/status` can show it.
public struct ReplicaState: Sendable {
    public init() {}

    public private(set) var appliedIndex: LogIndex = .zero
    public private(set) var chain: UInt64 = ReplicaState.initialChain
    /// Records applied: the Kafka offset that follows, the high watermark of a partition.
    public private(set) var dataEntries: UInt64 = 0

    public var nextOffset: UInt64 { dataEntries }

    public static let initialChain: UInt64 = 0x5151_5151_5151_5151

    /// Identity of an entry: term, index, kind and a CRC-32C of its data (the CPU's instruction:
    /// record batches of a megabyte are hashed at memory speed, not byte by byte). A compacted
    /// Kafka entry carries its original's (`KafkaEntry.compacted`).
    public static func entryHash(_ e: Entry) -> UInt64 {
        if e.kind == .normal, let identity = KafkaEntry.compactedIdentity(e.data) { return identity }
        var h = FNV64()
        h.add(e.term.value)
        h.add(e.index.value)
        h.add(e.kind.rawValue)
        h.add(UInt64(e.data.count))
        h.add(UInt64(CRC32C.checksum(e.data)))
        return h.value
    }

    public static func chained(_ previous: UInt64, _ entryHash: UInt64) -> UInt64 {
        var h = FNV64()
        h.add(previous)
        h.add(entryHash)
        return h.value
    }

    /// Apply an entry carrying `records` Kafka records.
    public mutating func apply(_ e: Entry, records: UInt64) {
        precondition(e.index == appliedIndex.next, "applying \(e.index) after \(appliedIndex)")
        chain = Self.chained(chain, Self.entryHash(e))
        appliedIndex = e.index
        dataEntries += records
    }

    /// Snapshot payload: applied index, chain, data entries (24 bytes; the controller's state follows).
    public static let snapshotBytes = 24

    public var snapshotData: [UInt8] {
        var w = ByteWriter()
        w.u64(appliedIndex.value)
        w.u64(chain)
        w.u64(dataEntries)
        return w.bytes
    }

    /// The Kafka offset after a snapshot, from its payload.
    public static func nextOffset(in snap: Snapshot) throws(WireError) -> KafkaOffset {
        KafkaOffset(try decode(snap).dataEntries)
    }

    /// The state a snapshot's payload holds (its first `snapshotBytes`; what follows belongs to
    /// the group's state machine). The initial (index 0) snapshot carries no data: the empty
    /// state. This has always been the layout, so anything else is a bug or damage: thrown, for
    /// the caller to trap on (its own committed state) or refuse (a peer's snapshot).
    public static func decode(_ snap: Snapshot) throws(WireError) -> ReplicaState {
        var s = ReplicaState()
        if snap.data.isEmpty {
            guard snap.index == .zero else { throw WireError.invalid("snapshot at \(snap.index.value) without data") }
            return s
        }
        var r = ByteReader(snap.data)
        let index = LogIndex(try r.u64())
        guard index == snap.index else { throw WireError.invalid("replica state at \(index.value) in the snapshot at \(snap.index.value)") }
        s.appliedIndex = index
        s.chain = try r.u64()
        s.dataEntries = try r.u64()
        return s
    }

    public mutating func restore(_ snap: Snapshot) throws(WireError) {
        self = try Self.decode(snap)
    }
}
