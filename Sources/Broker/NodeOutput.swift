import Primitives
import Raft

/// What a node core wants done after an event: messages for peers, storage work, Kafka replies,
/// log lines. Carried out by `dispatch(to:)`, the one interpreter the runtime, the simulator and
/// the tests share.
public struct NodeOutput: Sendable {
    /// Every effect, in one tuple: `dispatch(to:)`, `isEmpty` and `append(_:)` take it apart in
    /// one `let`, so an effect added here that one of them does not handle fails to compile. Add
    /// new effects here, never as a stored property beside it.
    public typealias Effects = (
        messages: [(NodeID, [PeerEnvelope])],
        storage: StorageBatch?,
        forwards: [(NodeID, ControllerCommand)],
        kafkaReplies: [KafkaCompletion],
        leaders: [LeaderHint]?,
        reads: [StorageRead],
        repairs: [(NodeID, RepairMessage)],
        notices: [String],
        damage: [StorageDamageReport],
        rejected: [(GroupID, RejectedMessage)],
        keepalives: [NodeID],
        transactionMessages: [(NodeID, TransactionPartitionMessage)]
    )

    private var effects: Effects = ([], nil, [], [], nil, [], [], [], [], [], [], [])

    public init() {}

    /// Messages by destination, sorted by node id; each list goes out as one frame (several when
    /// it exceeds what a peer accepts in one).
    public var messages: [(NodeID, [PeerEnvelope])] {
        get { effects.messages }
        _modify { yield &effects.messages }
    }
    /// A group commit to run; at most one is in flight, its completion comes back through
    /// `storageCompleted`.
    public var storage: StorageBatch? {
        get { effects.storage }
        _modify { yield &effects.storage }
    }
    /// Controller commands for the controller leader to propose (by destination).
    public var forwards: [(NodeID, ControllerCommand)] {
        get { effects.forwards }
        _modify { yield &effects.forwards }
    }
    /// Kafka replies that were pending and are ready now.
    public var kafkaReplies: [KafkaCompletion] {
        get { effects.kafkaReplies }
        _modify { yield &effects.kafkaReplies }
    }
    /// Leadership to tell every peer about (every few ticks).
    public var leaders: [LeaderHint]? {
        get { effects.leaders }
        _modify { yield &effects.leaders }
    }
    /// Storage reads (Raft catch-up, repair, Kafka fetch and ListOffsets); each completes through
    /// `readCompleted`.
    public var reads: [StorageRead] {
        get { effects.reads }
        _modify { yield &effects.reads }
    }
    /// Repair requests and answers for peers (`RepairMessage`), in order.
    public var repairs: [(NodeID, RepairMessage)] {
        get { effects.repairs }
        _modify { yield &effects.repairs }
    }
    /// Lines for the node's log (consumer group membership changes, disk space), in order.
    public var notices: [String] {
        get { effects.notices }
        _modify { yield &effects.notices }
    }
    /// Damage storage reads met in verified entries, and its mending (`StorageDamageReport`):
    /// the runtime logs each line.
    public var damage: [StorageDamageReport] {
        get { effects.damage }
        _modify { yield &effects.damage }
    }
    /// Peer messages a group dropped because no correct peer sends them (`RaftNode.validate`, or
    /// a snapshot whose state does not decode): the sender has a bug or speaks another version.
    /// The runtime logs them rate-limited.
    public var rejected: [(GroupID, RejectedMessage)] {
        get { effects.rejected }
        _modify { yield &effects.rejected }
    }

    /// Begins and markers for partition leaders, and their answers (`TransactionPartitionMessage`).
    public var transactionMessages: [(NodeID, TransactionPartitionMessage)] {
        get { effects.transactionMessages }
        _modify { yield &effects.transactionMessages }
    }

    /// Peers to tell that this node is alive (`NodeCore+Liveness`): an `alive` frame each,
    /// carrying `NodeCore.run`.
    public var keepalives: [NodeID] {
        get { effects.keepalives }
        _modify { yield &effects.keepalives }
    }

    public var isEmpty: Bool {
        let (messages, storage, forwards, kafkaReplies, leaders, reads, repairs, notices, damage, rejected, keepalives, transactionMessages) = effects
        return messages.isEmpty && storage == nil && forwards.isEmpty && kafkaReplies.isEmpty && leaders == nil && reads.isEmpty
            && repairs.isEmpty && notices.isEmpty && damage.isEmpty && rejected.isEmpty && keepalives.isEmpty && transactionMessages.isEmpty
    }

    /// Add what `later` asks for after this: peer messages merged by destination (each list in
    /// order), everything else appended.
    public mutating func append(_ later: NodeOutput) {
        let (messages, storage, forwards, kafkaReplies, leaders, reads, repairs, notices, damage, rejected, keepalives, transactionMessages) = later.effects
        for (_, envelopes) in messages {
            for e in envelopes { Self.add(e, to: &effects.messages) }
        }
        precondition(storage == nil || effects.storage == nil, "two storage batches in one output (at most one is in flight)")
        if let storage { effects.storage = storage }
        effects.forwards += forwards
        effects.kafkaReplies += kafkaReplies
        if let leaders { effects.leaders = leaders }
        effects.reads += reads
        effects.repairs += repairs
        effects.transactionMessages += transactionMessages
        effects.notices += notices
        effects.damage += damage
        effects.rejected += rejected
        for peer in keepalives where !effects.keepalives.contains(peer) { effects.keepalives.append(peer) }
    }

    /// Put `envelope` in its destination's list (lists stay sorted by node id).
    static func add(_ envelope: PeerEnvelope, to list: inout [(NodeID, [PeerEnvelope])]) {
        if let k = list.firstIndex(where: { $0.0 == envelope.message.to }) {
            list[k].1.append(envelope)
        } else {
            list.append((envelope.message.to, [envelope]))
            list.sort { $0.0 < $1.0 }
        }
    }

    // MARK: - Carrying it out

    /// Carry out every effect through `handler`, in this order: rejections, Raft messages,
    /// forwards, repair messages, transaction messages, damage reports, notices, Kafka replies, leader hints, storage
    /// reads, the storage batch, keepalives.
    ///
    /// Reads go before the batch: storage has one owner that runs its work in order, so a read
    /// sees storage as the core left it when it asked (the batch's compaction or snapshot install
    /// comes after), and in production a read does not wait behind the batch's fsyncs.
    public func dispatch(to handler: some NodeOutputHandler) {
        let (messages, storage, forwards, kafkaReplies, leaders, reads, repairs, notices, damage, rejected, keepalives, transactionMessages) = effects
        for (group, message) in rejected { handler.reportRejected(message, group: group) }
        for (peer, envelopes) in messages where !envelopes.isEmpty {
            if envelopes.count > 1 && PeerMessageCodec.encodedBytesBound(envelopes) > PeerPacket.raftFrameBoundMax {
                // Many groups' messages at once (a catch-up refilling every window): several
                // frames, each within the limit a peer accepts.
                for part in PeerPacket.raftFrames(envelopes) { handler.sendRaft(part, to: peer) }
            } else {
                handler.sendRaft(envelopes, to: peer)
            }
        }
        for (peer, command) in forwards { handler.sendForward(command, to: peer) }
        for (peer, message) in repairs { handler.sendRepair(message, to: peer) }
        for (peer, message) in transactionMessages { handler.sendTransaction(message, to: peer) }
        for report in damage { handler.reportDamage(report) }
        for line in notices { handler.logNotice(line) }
        for completion in kafkaReplies { handler.completeKafka(completion) }
        if let leaders { handler.sendLeaders(leaders) }
        for read in reads { handler.runRead(read) }
        if let storage { handler.runBatch(storage) }
        for peer in keepalives { handler.sendKeepalive(to: peer) }  // (the handler knows the run)
    }
}

/// Whoever runs a node core carries out its output: the runtime (TLS links, the disk thread, the
/// log), the simulator (its network, its disk, its checker) and the tests (queues they drain).
/// `NodeOutput.dispatch(to:)` calls one method per effect; each runner decides only *how*.
public protocol NodeOutputHandler {
    /// A frame of Raft messages for `peer` (lost or late is fine: Raft resends).
    func sendRaft(_ envelopes: [PeerEnvelope], to peer: NodeID)
    /// A controller command for the controller leader to propose.
    func sendForward(_ command: ControllerCommand, to peer: NodeID)
    /// A repair request or a copy of entries.
    func sendRepair(_ message: RepairMessage, to peer: NodeID)
    /// A transaction's begin or marker for a partition's leader, or its answer (lost is fine:
    /// the coordinator asks again).
    func sendTransaction(_ message: TransactionPartitionMessage, to peer: NodeID)
    /// The groups this node leads, to every peer.
    func sendLeaders(_ hints: [LeaderHint])
    /// A Kafka response (or none) that was pending, for its connection.
    func completeKafka(_ completion: KafkaCompletion)
    /// A line for the node's log (consumer group changes carry client-chosen text: rate-limit).
    func logNotice(_ line: String)
    /// Damage found at read time, mended, or handed off (once each).
    func reportDamage(_ report: StorageDamageReport)
    /// A peer message dropped as invalid: between correct nodes there are none.
    func reportRejected(_ message: RejectedMessage, group: GroupID)
    /// Run a read on the node's storage (in order with batches: one owner); hand its completion
    /// to `NodeCore.readCompleted`.
    func runRead(_ read: StorageRead)
    /// Run the group commit and make it durable; hand its completion to
    /// `NodeCore.storageCompleted`.
    func runBatch(_ batch: StorageBatch)
    /// `PeerPacket.alive(run: NodeCore.run)` to `peer`: this node is alive. On arrival the
    /// peer's runner calls `NodeCore.heard(from:run:)` (and `heard(from:)` for every frame).
    func sendKeepalive(to peer: NodeID)
}
