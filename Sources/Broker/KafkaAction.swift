import KafkaProtocol
import NIOCore
import Primitives

/// What a Kafka subsystem asks its node to do. Subsystems own their state and pending requests;
/// they read the node's state through what they are handed and return actions, which `NodeCore`
/// performs in order (`perform(_:)`).
enum KafkaAction {
    /// Answer a request (a nil response: none, but the connection's order moves on).
    case complete(KafkaCompletion)
    /// Propose a command on the controller group, or forward it to the controller leader.
    case submitToController(ControllerCommand)
    /// Ask storage for committed data; the completion comes back by its purpose.
    case read(StorageRead)
    /// Ask the controller to create a topic a client needs (Metadata with auto-creation, the
    /// offsets topic for the first group), unless this node asked for it a moment ago.
    case autoCreateTopic(name: String, partitions: Int32, replicationFactor: Int)
    /// A begin or marker for a partition's leader, or its answer (`NodeCore+Transactions`).
    case sendTransaction(to: NodeID, TransactionPartitionMessage)
}

/// What every subsystem may read of its node; each context protocol adds what its subsystem needs.
protocol NodeContext {
    var controller: ControllerState { get }
    var ticks: UInt64 { get }
    var config: NodeConfig { get }
}

extension NodeCore: NodeContext {}

extension KafkaRequest {
    /// The framed answer to this request, in its version: size, response header (v1 for
    /// flexible versions, v0 otherwise and always for ApiVersions), body.
    func answer(_ message: some KafkaMessage) -> KafkaCompletion {
        KafkaCompletion(connection: connection, sequence: sequence, response: NodeCore.frame(header) { message.encode(&$0, version: header.apiVersion) })
    }
}

extension NodeCore {
    func perform(_ actions: [KafkaAction]) {
        for action in actions {
            switch action {
            case .complete(let c): completions.append(c)
            case .submitToController(let command): submitToController(command)
            case .read(let read): reads.append(read)
            case .autoCreateTopic(let name, let partitions, let replicationFactor):
                let retryTicks = UInt64(BrokerLimits.controllerRetryElectionTimeouts * config.raftTemplate.electionTicks)
                guard autoCreation.shouldAsk(name, now: ticks, retryTicks: retryTicks) else { continue }
                submitToController(.createTopic(name: name, partitions: partitions, replicationFactor: replicationFactor))
            case .sendTransaction(let peer, let message):
                routeTransaction(message, to: peer)
            }
        }
    }

    /// The reply to `request` if it is answered already (taken out of the queue), else pending.
    func takeReply(for request: KafkaRequest) -> KafkaReply {
        guard let k = completions.firstIndex(where: { $0.connection == request.connection && $0.sequence == request.sequence }) else {
            return .pending
        }
        return completions.remove(at: k).response.map { .respond($0) } ?? .noResponse
    }
}

extension Array {
    /// Take out, in order, the waiting requests `isDone` says are fully answered, as their
    /// completions (`answer`); the rest stay, in order. The tail of every subsystem that answers a
    /// request once each of its partitions has a result (Produce, DeleteRecords, ElectLeaders).
    mutating func takeAnswered(_ isDone: (Element) -> Bool, answer: (Element) -> KafkaCompletion) -> [KafkaAction] {
        var actions: [KafkaAction] = []
        var remaining: [Element] = []
        for request in self {
            if isDone(request) { actions.append(.complete(answer(request))) } else { remaining.append(request) }
        }
        self = remaining
        return actions
    }
}
