import KafkaProtocol
import Primitives

/// Producer ids for idempotent producers (InitProducerId). Each node hands out ids from a block
/// the controller allocated to it for this run of its process (`nonce`, from the node's
/// incarnation): blocks never overlap, and a restarted node never reuses ids it may already have
/// handed out. Without a block the request waits for one (asked of the controller once), up to a
/// deadline; then COORDINATOR_NOT_AVAILABLE, which every client retries.
struct ProducerIDService {
    let node: NodeID
    /// Unique per node and process run.
    let nonce: UInt64
    /// The next id of this node's current block, and where the block ends.
    private var next: Int64 = 0
    private var end: Int64 = 0
    /// A block request is on its way to the controller.
    private var requested = false
    /// Requests waiting for a block.
    private var waiting: [(request: KafkaRequest, deadlineTick: UInt64)] = []

    init(node: NodeID, nonce: UInt64) {
        self.node = node
        self.nonce = nonce
    }

    var isWaiting: Bool { !waiting.isEmpty }

    /// An InitProducerId. A producer id and epoch sent with it (v3+, KIP-360) do not matter
    /// without a transactional id: Kafka hands out a fresh id then too.
    mutating func handle(_ r: InitProducerIDRequest, _ request: KafkaRequest, controller: ControllerState, deadlineTick: UInt64) -> [KafkaAction] {
        if r.transactionalID != nil {
            return [.complete(request.answer(InitProducerIDResponse(errorCode: .invalidRequest, producerID: -1, producerEpoch: -1)))]
        }
        adoptBlock(controller)
        if let id = take() {
            return [.complete(request.answer(InitProducerIDResponse(producerID: id, producerEpoch: 0)))]
        }
        waiting.append((request, deadlineTick))
        return requestBlock()
    }

    /// After controller entries apply (or on a tick, `expired`): answer waiting requests from a
    /// new block, ask again when a block request was lost, and time out the rest.
    mutating func serve(controller: ControllerState, now: UInt64, expired: Bool) -> [KafkaAction] {
        guard !waiting.isEmpty else { return [] }
        adoptBlock(controller)
        var actions: [KafkaAction] = []
        var remaining: [(request: KafkaRequest, deadlineTick: UInt64)] = []
        for w in waiting {
            if let id = take() {
                actions.append(.complete(w.request.answer(InitProducerIDResponse(producerID: id, producerEpoch: 0))))
            } else if expired && now >= w.deadlineTick {
                requested = false  // the block request or its entry was lost: ask again next time
                actions.append(.complete(w.request.answer(InitProducerIDResponse(errorCode: .coordinatorNotAvailable, producerID: -1, producerEpoch: -1))))
            } else {
                remaining.append(w)
            }
        }
        waiting = remaining
        if !remaining.isEmpty && next >= end { actions += requestBlock() }
        return actions
    }

    /// An id now, for the transaction coordinator (a new transactional id, or one whose epochs
    /// ran out), or nil with the request for a block: the coordinator then answers
    /// COORDINATOR_NOT_AVAILABLE and the client retries.
    mutating func takeNow(controller: ControllerState) -> (id: Int64?, actions: [KafkaAction]) {
        adoptBlock(controller)
        if let id = take() { return (id, []) }
        return (nil, requestBlock())
    }

    private mutating func take() -> Int64? {
        guard next < end else { return nil }
        defer { next += 1 }
        return next
    }

    /// Use the block the controller gave this node in this run, once it appears.
    private mutating func adoptBlock(_ controller: ControllerState) {
        guard next >= end, let b = controller.producerIDBlocks.first(where: { $0.node == node && $0.nonce == nonce }), b.start + b.count > end
        else { return }
        next = max(b.start, next)
        end = b.start + b.count
        requested = false
    }

    private mutating func requestBlock() -> [KafkaAction] {
        guard !requested else { return [] }
        requested = true
        return [.submitToController(.allocateProducerIDs(node: node, nonce: nonce))]
    }
}
