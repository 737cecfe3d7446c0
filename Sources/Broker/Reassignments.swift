import KafkaProtocol
import Primitives
import Raft

/// A topic's partition, as a request names it.
private struct PartitionKey: Hashable {
    var topic: String
    var partition: Int32
}

/// An AlterPartitionReassignments request waiting for the controller to record its moves.
struct PendingReassignment {
    struct Part {
        var topic: String
        var partition: Int32
        var result: (code: ErrorCode, message: String?)?
    }

    var request: KafkaRequest
    var parts: [Part]
    /// What the controller is asked to apply; nil when no partition passed the checks.
    var command: ControllerCommand?
    var asked = ControllerAsk()
    var deadlineTick: UInt64
}

/// AlterPartitionReassignments and ListPartitionReassignments (`kafka-reassign-partitions.sh`,
/// `Admin.alterPartitionReassignments`, `rill topic move`): any node takes them. A request's valid
/// moves go to the controller as one `ControllerCommand.reassignPartitions`; as in Kafka, the
/// answer comes once the controller has recorded them, not when the data has moved — the
/// partitions' leaders carry the moves out (`NodeCore+Moves`), and ListPartitionReassignments
/// shows them until they are done.
struct ReassignmentService {
    private var pending: [PendingReassignment] = []

    var isEmpty: Bool { pending.isEmpty }

    mutating func alter(_ a: AlterPartitionReassignmentsRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        let timeoutMs = Int(min(max(a.timeoutMs, 0), 60_000))
        var p = PendingReassignment(request: request, parts: [], deadlineTick: node.ticks + node.config.ticks(milliseconds: timeoutMs * 3 / 4))
        var moves: [PartitionMove] = []
        // Sets and direct lookups: a hostile request may name a great many partitions.
        var seen = Set<PartitionKey>()
        for t in a.topics {
            let topic = node.controller.topic(t.name)
            for asked in t.partitions {
                var part = PendingReassignment.Part(topic: t.name, partition: asked.partitionIndex)
                let assignment = topic.flatMap { tp in
                    // Partition p is at index p (created in order, never removed alone).
                    asked.partitionIndex >= 0 && Int(asked.partitionIndex) < tp.partitions.count
                        && tp.partitions[Int(asked.partitionIndex)].partition == asked.partitionIndex ? tp.partitions[Int(asked.partitionIndex)] : nil
                }
                if !seen.insert(PartitionKey(topic: t.name, partition: asked.partitionIndex)).inserted {
                    part.result = (.invalidRequest, "partition \(asked.partitionIndex) of topic '\(t.name)' is named twice")
                } else if let assignment {
                    let replicas = asked.replicas?.map { NodeID(UInt32(truncatingIfNeeded: max($0, 0))) }
                    if let problem = Self.replicaProblem(asked.replicas, node.controller) {
                        part.result = (.invalidReplicaAssignment, problem)
                    } else if replicas == nil && assignment.target == nil {
                        part.result = (.noReassignmentInProgress, "partition \(asked.partitionIndex) of topic '\(t.name)' is not moving")
                    } else {
                        moves.append(PartitionMove(group: assignment.group, replicas: replicas))
                    }
                } else {
                    part.result = (.unknownTopicOrPartition, "no partition \(asked.partitionIndex) of topic '\(t.name)'")
                }
                p.parts.append(part)
            }
        }
        if !moves.isEmpty {
            let command = ControllerCommand.reassignPartitions(moves)
            p.command = command
            p.asked.ask(command, node)
        }
        pending.append(p)
        return finish(expired: false, node)
    }

    /// Why these asked-for replicas (nil: a cancel) cannot be a partition's target, if they cannot.
    private static func replicaProblem(_ asked: [Int32]?, _ controller: ControllerState) -> String? {
        guard let asked else { return nil }
        let invalid = asked.filter { $0 <= 0 }
        if !invalid.isEmpty { return "node ids are positive, not \(invalid)" }
        return controller.replicaProblem(asked.map { NodeID(UInt32($0)) })
    }

    /// The controller applied an entry: a request whose command it is gets its answer (the
    /// command's refusal, when the state moved since the checks, for every partition in it).
    mutating func controllerApplied(_ command: ControllerCommand?, rejection: String?, _ node: some AdminContext) -> [KafkaAction] {
        guard let command, case .reassignPartitions = command else { return [] }
        for k in pending.indices where pending[k].command == command {
            pending[k].command = nil
            for i in pending[k].parts.indices where pending[k].parts[i].result == nil {
                pending[k].parts[i].result = rejection.map { (.invalidReplicaAssignment, $0) } ?? (.none, nil)
            }
        }
        return finish(expired: false, node)
    }

    /// On a tick: ask again what the controller has not applied for a while (a forward is dropped
    /// by a node that stopped leading), and answer what is past its deadline. Applying a move
    /// twice does no harm: the second sets the same target.
    mutating func tick(_ node: some AdminContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        for k in pending.indices where pending[k].command != nil {
            if pending[k].asked.isDue(node), let command = pending[k].command { pending[k].asked.ask(command, node) }
        }
        return finish(expired: true, node)
    }

    private mutating func finish(expired: Bool, _ node: some AdminContext) -> [KafkaAction] {
        for n in pending.indices where expired && node.ticks >= pending[n].deadlineTick {
            for k in pending[n].parts.indices where pending[n].parts[k].result == nil {
                pending[n].parts[k].result = (.requestTimedOut, "the controller did not record the move in time (no controller leader?); it may still")
            }
        }
        return pending.takeAnswered({ $0.parts.allSatisfy { $0.result != nil } }, answer: Self.answer)
    }

    private static func answer(_ p: PendingReassignment) -> KafkaCompletion {
        var topics: [AlterPartitionReassignmentsResponse.ReassignableTopicResponse] = []
        var position: [String: Int] = [:]
        for part in p.parts {
            let r = AlterPartitionReassignmentsResponse.ReassignablePartitionResponse(
                partitionIndex: part.partition, errorCode: part.result!.code, errorMessage: part.result!.message)
            if let k = position[part.topic] {
                topics[k].partitions.append(r)
            } else {
                position[part.topic] = topics.count
                topics.append(.init(name: part.topic, partitions: [r]))
            }
        }
        return p.request.answer(AlterPartitionReassignmentsResponse(errorCode: .none, responses: topics))
    }

    /// ListPartitionReassignments: the moves in progress, of the partitions asked for (null:
    /// every partition), from this node's copy of the controller's state.
    static func list(_ l: ListPartitionReassignmentsRequest, _ request: KafkaRequest, _ controller: ControllerState) -> [KafkaAction] {
        var topics: [ListPartitionReassignmentsResponse.OngoingTopicReassignment] = []
        let asked = l.topics.map { topics in Set(topics.flatMap { t in t.partitionIndexes.map { PartitionKey(topic: t.name, partition: $0) } }) }
        for (name, a) in controller.movesInProgress {
            if let asked, !asked.contains(PartitionKey(topic: name, partition: a.partition)) { continue }
            let ongoing = ListPartitionReassignmentsResponse.OngoingPartitionReassignment(
                partitionIndex: a.partition, replicas: a.replicas.map { Int32($0.value) },
                addingReplicas: a.adding.map { Int32($0.value) }, removingReplicas: a.removing.map { Int32($0.value) })
            if topics.last?.name == name {  // in topic order: a topic's partitions come together
                topics[topics.count - 1].partitions.append(ongoing)
            } else {
                topics.append(.init(name: name, partitions: [ongoing]))
            }
        }
        return [.complete(request.answer(ListPartitionReassignmentsResponse(errorCode: .none, topics: topics)))]
    }
}
