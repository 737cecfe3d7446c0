import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// Producer ids for idempotent producers (InitProducerId v0-1). Each node hands out ids from a
/// block the controller allocated to it for this run of its process (`NodeConfig.incarnation`):
/// blocks never overlap, and a restarted node never reuses ids it may already have handed out.
struct ProducerIDs {
    /// The next id of this node's current block, and where the block ends.
    var next: Int64 = 0
    var end: Int64 = 0
    /// A block request is on its way to the controller.
    var requested = false
    /// Requests waiting for a block.
    var waiting: [(request: KafkaRequest, deadlineTick: UInt64)] = []
}

extension NodeCore {
    /// This node's nonce for producer id blocks: unique per node and process run.
    var producerIDNonce: UInt64 { config.seed &+ config.incarnation &* 0x9E37_79B9_7F4A_7C15 }

    func initProducerID(_ r: InitProducerIDRequest, request: KafkaRequest) -> KafkaReply {
        if r.transactionalID != nil {
            return .respond(initProducerIDResponse(request, InitProducerIDResponse(errorCode: .invalidRequest, producerID: -1, producerEpoch: -1)))
        }
        adoptProducerIDBlock()
        if let id = takeProducerID() {
            return .respond(initProducerIDResponse(request, InitProducerIDResponse(producerID: id, producerEpoch: 0)))
        }
        requestProducerIDBlock()
        kafka.producerIDs.waiting.append((request, ticks + config.ticks(milliseconds: BrokerLimits.producerIDWaitMs)))
        return .pending
    }

    func initProducerIDResponse(_ request: KafkaRequest, _ response: InitProducerIDResponse) -> ByteBuffer {
        Self.frame(request.header) { response.encode(&$0, version: request.header.apiVersion) }
    }

    private func takeProducerID() -> Int64? {
        guard kafka.producerIDs.next < kafka.producerIDs.end else { return nil }
        defer { kafka.producerIDs.next += 1 }
        return kafka.producerIDs.next
    }

    /// Use the block the controller gave this node in this run, once it appears.
    func adoptProducerIDBlock() {
        guard kafka.producerIDs.next >= kafka.producerIDs.end,
            let b = controller.producerIDBlocks.first(where: { $0.node == config.id && $0.nonce == producerIDNonce }),
            b.start + b.count > kafka.producerIDs.end
        else { return }
        kafka.producerIDs.next = max(b.start, kafka.producerIDs.next)
        kafka.producerIDs.end = b.start + b.count
        kafka.producerIDs.requested = false
    }

    private func requestProducerIDBlock() {
        guard !kafka.producerIDs.requested else { return }
        kafka.producerIDs.requested = true
        submitToController(.allocateProducerIDs(node: config.id, nonce: producerIDNonce))
    }

    /// After controller entries apply (or on a tick): answer waiting requests from a new block,
    /// ask again when a request was lost, and time out the rest (COORDINATOR_NOT_AVAILABLE is
    /// retriable for every client).
    func serveProducerIDs(expired: Bool) {
        guard !kafka.producerIDs.waiting.isEmpty else { return }
        adoptProducerIDBlock()
        var remaining: [(request: KafkaRequest, deadlineTick: UInt64)] = []
        for w in kafka.producerIDs.waiting {
            if let id = takeProducerID() {
                kafka.completions.append(.init(
                    connection: w.request.connection, sequence: w.request.sequence,
                    response: initProducerIDResponse(w.request, InitProducerIDResponse(producerID: id, producerEpoch: 0))))
            } else if expired && ticks >= w.deadlineTick {
                kafka.producerIDs.requested = false  // the request or its reply was lost: ask again next time
                kafka.completions.append(.init(
                    connection: w.request.connection, sequence: w.request.sequence,
                    response: initProducerIDResponse(w.request, InitProducerIDResponse(errorCode: .coordinatorNotAvailable, producerID: -1, producerEpoch: -1))))
            } else {
                remaining.append(w)
            }
        }
        kafka.producerIDs.waiting = remaining
        if !remaining.isEmpty && kafka.producerIDs.next >= kafka.producerIDs.end { requestProducerIDBlock() }
    }
}
