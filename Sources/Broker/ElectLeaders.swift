import KafkaProtocol
import Primitives
import Raft

/// An ElectLeaders request waiting for its partitions' leadership to reach their preferred
/// replicas.
struct PendingElection {
    struct Part {
        var topic: String
        var partition: Int32
        var group: GroupID
        var preferred: NodeID
        var result: (code: ErrorCode, message: String?)?
    }

    var request: KafkaRequest
    var parts: [Part]
    /// What the controller is asked to apply; nil when no partition needs an election.
    var command: ControllerCommand?
    var applied = false
    var asked = ControllerAsk()
    var deadlineTick: UInt64
}

/// What ElectLeaders reads of its node: where each partition's leader is now.
protocol ElectionContext: AdminContext {
    /// The group's leader as this node knows it: its own Raft node's view when it replicates
    /// the group, its peers' gossip otherwise; `.none` when unknown.
    func currentLeader(of g: GroupID) -> NodeID
    /// Wall-clock ms since the epoch, injected (`NodeCore.clockMs`).
    var nowMs: Int64 { get }
}

/// ElectLeaders (`kafka-leader-election.sh`, `Admin.electLeaders`): preferred leader election
/// moves each partition's leadership to its preferred replica, the first of its replicas, the
/// Raft way — a leadership transfer, which hands over only to a replica holding every committed
/// entry. Any node takes the request: it goes through the controller log
/// (`ControllerCommand.electPreferredLeaders`), so the nodes leading the partitions learn of it
/// wherever they are; the answering node then watches the leaders and answers per partition:
/// NONE once the preferred replica leads, ELECTION_NOT_NEEDED when it already did,
/// PREFERRED_LEADER_NOT_AVAILABLE when it did not take over in time (it is down or behind).
/// Unclean election (type 1) never elects: Raft has no replica to elect that may lack committed
/// records, so a partition with a leader gets ELECTION_NOT_NEEDED and one without
/// ELIGIBLE_LEADERS_NOT_AVAILABLE.
struct ElectLeadersService {
    private var pending: [PendingElection] = []

    var isEmpty: Bool { pending.isEmpty }

    mutating func electLeaders(_ e: ElectLeadersRequest, _ request: KafkaRequest, _ node: some ElectionContext) -> [KafkaAction] {
        // Transfers are wanted for the request's timeout (at most a minute); the answer comes by
        // three quarters of it, so that it reaches a client whose own timeout is the same one
        // (librdkafka's and the Java client's are) before that client gives up.
        let timeoutMs = Int(min(max(e.timeoutMs, 0), 60_000))
        var p = PendingElection(request: request, parts: [], deadlineTick: node.ticks + node.config.ticks(milliseconds: timeoutMs * 3 / 4))
        var asked: [(String, [Int32]?)] = []
        if let topics = e.topicPartitions {
            for t in topics { asked.append((t.topic, t.partitions)) }
        } else {
            asked = node.controller.topics.map { ($0.name, nil) }  // every partition of every topic
        }
        for (name, partitions) in asked {
            let topic = node.controller.topic(name)
            for index in partitions ?? topic?.partitions.map(\.partition) ?? [] {
                guard let assignment = topic?.partitions.first(where: { $0.partition == index }), let preferred = assignment.settledReplicas.first else {
                    p.parts.append(.init(topic: name, partition: index, group: GroupID(0), preferred: .none,
                                         result: (.unknownTopicOrPartition, "no partition \(index) of topic '\(name)'")))
                    continue
                }
                var part = PendingElection.Part(topic: name, partition: index, group: assignment.group, preferred: preferred)
                let leader = node.currentLeader(of: assignment.group)
                if e.electionType == 1 {
                    part.result = leader.isNone
                        ? (.eligibleLeadersNotAvailable, "unclean election is not supported: Raft elects only a replica holding every committed record")
                        : (.electionNotNeeded, "the partition has a leader")
                } else if e.electionType != 0 {
                    part.result = (.invalidRequest, "election type \(e.electionType) (0 preferred, 1 unclean)")
                } else if leader == preferred {
                    part.result = (.electionNotNeeded, "node \(preferred.value), the preferred replica, leads it already")
                }
                p.parts.append(part)
            }
        }
        let groups = p.parts.filter { $0.result == nil }.map(\.group)
        if !groups.isEmpty {
            let command = ControllerCommand.electPreferredLeaders(groups: groups, notAfterMs: node.nowMs + Int64(timeoutMs))
            p.command = command
            p.asked.ask(command, node)
        }
        pending.append(p)
        return finish(expired: false, node)
    }

    /// The controller applied an entry: an election asked for is now under way.
    mutating func controllerApplied(_ command: ControllerCommand?, _ node: some ElectionContext) -> [KafkaAction] {
        guard let command, case .electPreferredLeaders = command else { return [] }
        for k in pending.indices where pending[k].command == command { pending[k].applied = true }
        return []
    }

    /// On a tick: ask again what the controller has not applied for a while (a forward is dropped
    /// by a node that stopped leading), and answer what is done or past its deadline.
    mutating func tick(_ node: some ElectionContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        for k in pending.indices where !pending[k].applied && pending[k].command != nil {
            if pending[k].asked.isDue(node), let command = pending[k].command { pending[k].asked.ask(command, node) }
        }
        return finish(expired: true, node)
    }

    /// After any event: answer what is done.
    mutating func check(_ node: some ElectionContext) -> [KafkaAction] {
        pending.isEmpty ? [] : finish(expired: false, node)
    }

    private mutating func finish(expired: Bool, _ node: some ElectionContext) -> [KafkaAction] {
        for n in pending.indices {
            for k in pending[n].parts.indices where pending[n].parts[k].result == nil {
                let part = pending[n].parts[k]
                if pending[n].applied && node.currentLeader(of: part.group) == part.preferred {
                    pending[n].parts[k].result = (.none, nil)
                } else if expired && node.ticks >= pending[n].deadlineTick {
                    pending[n].parts[k].result = (.preferredLeaderNotAvailable,
                                                  "node \(part.preferred.value), the preferred replica, did not take the leadership in time (down, or behind the leader)")
                }
            }
        }
        return pending.takeAnswered({ $0.parts.allSatisfy { $0.result != nil } }, answer: Self.answer)
    }

    private static func answer(_ p: PendingElection) -> KafkaCompletion {
        var results: [ElectLeadersResponse.ReplicaElectionResult] = []
        for part in p.parts {
            let r = ElectLeadersResponse.PartitionResult(partitionID: part.partition, errorCode: part.result!.code, errorMessage: part.result!.message)
            if let k = results.firstIndex(where: { $0.topic == part.topic }) {
                results[k].partitionResult.append(r)
            } else {
                results.append(.init(topic: part.topic, partitionResult: [r]))
            }
        }
        return p.request.answer(ElectLeadersResponse(replicaElectionResults: results))
    }
}
