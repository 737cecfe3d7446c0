import KafkaProtocol
import Primitives
import Raft

/// An UnregisterBroker request waiting for the controller to apply its `removeNode`.
struct PendingNodeRemoval {
    var request: KafkaRequest
    var node: NodeID
    var asked = ControllerAsk()
    var deadlineTick: UInt64
    var result: (code: ErrorCode, message: String?)?
}

/// UnregisterBroker (Kafka's API 64, `Admin.unregisterBroker`, `rill node decommission`): any node
/// takes it; the node named leaves the cluster once the controller applies `removeNode`
/// (`ControllerState+Membership`). Refused while the node holds a replica — `rill node drain`
/// moves them off first — with the partition named. The answer comes when the controller applied
/// the removal (or refused it: its state may have moved since the checks here).
struct NodeRemovalService {
    private var pending: [PendingNodeRemoval] = []

    var isEmpty: Bool { pending.isEmpty }

    mutating func unregister(_ u: UnregisterBrokerRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        let id = NodeID(UInt32(truncatingIfNeeded: max(u.brokerID, 0)))
        var p = PendingNodeRemoval(
            request: request, node: id, deadlineTick: node.ticks + node.config.ticks(milliseconds: BrokerLimits.controllerRequestWaitMs))
        if u.brokerID <= 0 || !node.controller.members.contains(id) {
            p.result = (.brokerIDNotRegistered, "node \(u.brokerID) is not a member of the cluster (members: \(node.controller.members.map(\.value)))")
        } else if let problem = node.controller.removalProblem(id) {
            p.result = (.invalidRequest, problem)
        } else {
            p.asked.ask(.removeNode(id), node)
        }
        pending.append(p)
        return finish(expired: false, node)
    }

    /// The controller applied an entry: a removal of a node asked for is answered (the
    /// controller's refusal, if it refused).
    mutating func controllerApplied(_ command: ControllerCommand?, rejection: String?, _ node: some AdminContext) -> [KafkaAction] {
        guard case .removeNode(let removed) = command else { return [] }
        for k in pending.indices where pending[k].node == removed && pending[k].result == nil {
            pending[k].result = rejection.map { (.invalidRequest, $0) } ?? (.none, nil)
        }
        return finish(expired: false, node)
    }

    /// On a tick: ask again what the controller has not applied for a while (a forward is dropped
    /// by a node that stopped leading; a second removal of the same node is refused harmlessly,
    /// and the first one's answer is what counts), and answer what is past its deadline.
    mutating func tick(_ node: some AdminContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        for k in pending.indices where pending[k].result == nil {
            if pending[k].asked.isDue(node) { pending[k].asked.ask(.removeNode(pending[k].node), node) }
        }
        return finish(expired: true, node)
    }

    private mutating func finish(expired: Bool, _ node: some AdminContext) -> [KafkaAction] {
        for k in pending.indices where expired && pending[k].result == nil && node.ticks >= pending[k].deadlineTick {
            pending[k].result = (.requestTimedOut, "the controller did not apply the removal in time (no controller leader?); it may still")
        }
        return pending.takeAnswered({ $0.result != nil }) { p in
            p.request.answer(UnregisterBrokerResponse(errorCode: p.result!.code, errorMessage: p.result!.message))
        }
    }
}
