import Primitives
import Raft

/// Committed state that does not decode is a bug, never a default (etcd's rule). Entries and
/// snapshots Raft has committed were written by this code — proposed by a leader running it, or
/// checked on arrival when a peer sent them (`snapshotProblem`) — so failing to decode one means
/// the code or the disk is broken. Falling back to an empty value would let this replica's state
/// machine quietly drift from the others'; stopping with what the state was lets someone find out
/// why. Input — a message from a peer or a client — is validated and refused instead, never
/// trapped on.
///
/// Where an older layout may legitimately be read, the decoder names it and reads it (a Kafka
/// partition's snapshot from before idempotent producers, an offsets partition's from before
/// consumer groups: `Group.decodeKafkaState`).
func committedStateUndecodable(_ what: String, group: GroupID, index: LogIndex, data: [UInt8], _ error: any Error) -> Never {
    preconditionFailure(
        "committed \(what) of group \(group.value) at index \(index.value) does not decode (\(error)): \(data.count) bytes, "
            + "starting \(hexPrefix(data)); corrupt committed state is a bug, not a default")
}

/// The first bytes of `data` in hex, for a trap message.
func hexPrefix(_ data: [UInt8], count: Int = 32) -> String {
    let digits = Array("0123456789abcdef")
    var s = ""
    for b in data.prefix(count) {
        s.append(digits[Int(b >> 4)])
        s.append(digits[Int(b & 15)])
    }
    return data.count > count ? s + "…" : s
}

extension NodeCore.Group {
    /// What a Kafka partition's snapshot holds after the replica state.
    struct KafkaState {
        var producers = ProducerState()
        var offsetStore: GroupOffsetStore?
        var transactionStore: TransactionStateStore?
        var transactions = PartitionTransactions()
        /// DeleteRecords' floor (`recordsDeletedBelow`); 0 when none was ever set.
        var recordsDeletedBelow: UInt64 = 0
    }

    /// The Kafka part of a partition's snapshot payload, after the replica state: the producers,
    /// then (offsets partitions) the group offset store, (transaction state partitions) the
    /// transaction store, or (other partitions) DeleteRecords' floor when one was set or
    /// transactions were; then, when there were any, the partition's transactions. Older layouts end early, and are read as what they are: a snapshot
    /// from before idempotent producers (354b979) ends after the replica state (no producers); an
    /// offsets partition's from before consumer groups (c98b7dc) ends after the producers (no
    /// offsets, no groups); a partition's whose records were never deleted ends after the
    /// producers (floor 0).
    static func decodeKafkaState(_ data: [UInt8], internal topic: InternalTopic?) throws(WireError) -> KafkaState {
        var state = KafkaState()
        switch topic {
        case .consumerOffsets: state.offsetStore = GroupOffsetStore()
        case .transactionState: state.transactionStore = TransactionStateStore()
        case nil: break
        }
        guard data.count > ReplicaState.snapshotBytes else { return state }
        var r = ByteReader(data, offset: ReplicaState.snapshotBytes)
        state.producers = try ProducerState.decode(&r)
        switch topic {
        case .consumerOffsets:
            if r.remaining > 0 { state.offsetStore = try GroupOffsetStore.decode(&r) }
            if r.remaining > 0 { state.transactions = try PartitionTransactions.decode(&r) }
            if r.remaining > 0 { try state.offsetStore?.decodePending(&r) }
        case .transactionState:
            // No older layout: the topic came after idempotent producers.
            state.transactionStore = try TransactionStateStore.decode(&r)
        case nil:
            if r.remaining > 0 { state.recordsDeletedBelow = try r.u64() }
            if r.remaining > 0 { state.transactions = try PartitionTransactions.decode(&r) }
        }
        guard r.remaining == 0 else { throw WireError.invalid("\(r.remaining) bytes after the partition's state") }
        return state
    }
}

extension NodeCore {
    /// Why a snapshot a peer sent cannot be group `g`'s state, or nil when it decodes. Checked
    /// before Raft takes the message: once durable and applied, a snapshot is committed state, and
    /// failing to decode it then traps.
    func snapshotProblem(_ snap: Snapshot, group g: Group) -> String? {
        do {
            _ = try ReplicaState.decode(snap)
            if g.isKafkaPartition { _ = try Group.decodeKafkaState(snap.data, internal: g.internalTopic) }
            if g.id == controllerGroup {
                var c = ControllerState(members: controller.founders, firstGroup: controller.firstGroup)
                try c.restore(snap, skipping: ReplicaState.snapshotBytes)
            }
            return nil
        } catch {
            return "snapshot at \(snap.index.value) (\(snap.data.count) bytes) does not decode: \(error)"
        }
    }
}
