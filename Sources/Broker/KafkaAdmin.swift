import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// A CreateTopics or DeleteTopics request waiting for the controller.
///
/// Any node takes them, as KRaft brokers do: the controller leader proposes the command, any other
/// node forwards it to the leader it knows (or waits until it knows one) and asks again after a
/// few election timeouts. The answer comes from the first controller entry for the same topic
/// that this node applies: the controller log is replicated everywhere, so every node learns the
/// outcome, and asking twice is harmless (the second create is rejected as a duplicate after the
/// first was already taken as the answer). A client therefore never sees NOT_CONTROLLER, which
/// librdkafka surfaces to the application instead of retrying.
struct PendingAdmin {
    struct Topic {
        var name: String
        /// The id a DeleteTopics v6+ named the topic by (zero otherwise).
        var id: KafkaUUID = .zero
        /// The controller command for this topic; nil once answered without one.
        var command: ControllerCommand?
        /// Where the command went when this node proposed it as controller leader.
        var proposedAt: LogIndex?
        /// The tick the command was last proposed or forwarded; nil while it has not been sent.
        var askedTick: UInt64?
        var result: (code: ErrorCode, message: String?)?

        static func answered(_ name: String, id: KafkaUUID = .zero, _ code: ErrorCode, _ message: String? = nil) -> Topic {
            Topic(name: name, id: id, result: (code, message))
        }
    }

    var request: KafkaRequest
    var version: Int16
    /// DeleteTopics instead of CreateTopics (same flow: per topic, a controller command).
    var isDelete = false
    var topics: [Topic]
    var deadlineTick: UInt64
}

extension ControllerCommand {
    /// The topic a create or delete command is about.
    var adminTopic: (name: String, isDelete: Bool)? {
        switch self {
        case .createTopic(let name, _, _): return (name, false)
        case .deleteTopic(let name): return (name, true)
        default: return nil
        }
    }
}

extension NodeCore {
    // MARK: - CreateTopics

    func createTopics(_ c: CreateTopicsRequest, request: KafkaRequest) -> (KafkaReply, NodeOutput) {
        var pending = PendingAdmin(request: request, version: request.header.apiVersion, topics: [], deadlineTick: deadline(c.timeoutMs))
        for t in c.topics {
            let partitions = t.numPartitions == -1 ? config.defaultPartitions : t.numPartitions
            let rf = t.replicationFactor == -1 ? defaultReplication : Int(t.replicationFactor)
            if pending.topics.contains(where: { $0.name == t.name }) {
                pending.topics.append(.answered(t.name, .invalidRequest, "topic '\(t.name)' appears twice in the request"))
            } else if !t.assignments.isEmpty {
                pending.topics.append(.answered(t.name, .invalidRequest, "manual replica assignments are not supported"))
            } else if let reason = ControllerState.validateTopic(name: t.name, partitions: partitions, replicationFactor: rf, members: config.members.count) {
                let code: ErrorCode = reason.contains("replication factor") ? .invalidReplicationFactor
                    : reason.contains("partitions") ? .invalidPartitions : .invalidTopic
                pending.topics.append(.answered(t.name, code, reason))
            } else if controller.topic(t.name) != nil {
                pending.topics.append(.answered(t.name, .topicAlreadyExists, "topic '\(t.name)' already exists"))
            } else if c.validateOnly {
                pending.topics.append(.answered(t.name, .none))
            } else {
                var topic = PendingAdmin.Topic(name: t.name, command: .createTopic(name: t.name, partitions: partitions, replicationFactor: rf))
                askController(&topic)
                pending.topics.append(topic)
            }
        }
        return wait(pending)
    }

    // MARK: - DeleteTopics

    func deleteTopics(_ d: DeleteTopicsRequest, request: KafkaRequest) -> (KafkaReply, NodeOutput) {
        var pending = PendingAdmin(
            request: request, version: request.header.apiVersion, isDelete: true, topics: [], deadlineTick: deadline(d.timeoutMs))
        // v6+ names each topic by name or by id; earlier versions by name.
        let asked: [(name: String?, id: KafkaUUID)] = request.header.apiVersion >= 6
            ? d.topics.map { ($0.name, $0.topicID) } : d.topicNames.map { ($0, .zero) }
        for (askedName, id) in asked {
            let byID = askedName == nil ? controller.topic(id: id) : nil
            guard let name = askedName ?? byID?.name else {
                pending.topics.append(.answered("", id: id, .unknownTopicID))
                continue
            }
            if pending.topics.contains(where: { $0.name == name }) {
                pending.topics.append(.answered(name, id: id, .invalidRequest, "topic '\(name)' appears twice in the request"))
            } else if name == offsetsTopic {
                pending.topics.append(.answered(name, id: id, .invalidRequest, "\(offsetsTopic) is internal: the consumer groups' offsets live there"))
            } else if controller.topic(name) == nil {
                pending.topics.append(.answered(name, id: id, .unknownTopicOrPartition))
            } else {
                var topic = PendingAdmin.Topic(name: name, id: id, command: .deleteTopic(name: name))
                askController(&topic)
                pending.topics.append(topic)
            }
        }
        return wait(pending)
    }

    private func deadline(_ timeoutMs: Int32) -> UInt64 {
        ticks + config.ticks(milliseconds: Int(timeoutMs))
    }

    private func wait(_ pending: PendingAdmin) -> (KafkaReply, NodeOutput) {
        if pending.topics.allSatisfy({ $0.result != nil }) {
            return (.respond(adminResponse(pending)), drain())
        }
        kafka.pendingAdmins.append(pending)
        return (.pending, drain())
    }

    /// Propose the topic's command here (controller leader) or forward it to the leader; with no
    /// leader known it stays unsent and the next tick tries again.
    private func askController(_ topic: inout PendingAdmin.Topic) {
        guard let command = topic.command, let g = group(controllerGroup) else { return }
        let (role, leader) = g.withRaft { ($0.role, $0.leader) }
        if role == .leader {
            guard let at = try? g.raft.propose(command.encode()) else { return }
            topic.proposedAt = at.index
            topic.askedTick = ticks
        } else if !leader.isNone && leader != config.id {
            pendingForwards.append((leader, command))
            topic.proposedAt = nil
            topic.askedTick = ticks
        }
    }

    func adminResponse(_ p: PendingAdmin) -> ByteBuffer {
        if p.isDelete {
            let response = DeleteTopicsResponse(responses: p.topics.map { t in
                // Named by id (v6+): the name is answered only once it was found.
                .init(name: t.name.isEmpty ? nil : t.name, topicID: t.id, errorCode: t.result!.code, errorMessage: t.result!.message)
            })
            return Self.frame(p.request.header) { response.encode(&$0, version: p.version) }
        }
        let response = CreateTopicsResponse(topics: p.topics.map { t in
            var result = CreateTopicsResponse.CreatableTopicResult(name: t.name, errorCode: t.result!.code, errorMessage: t.result!.message)
            // v5+ describe the created topic; v7+ give its id.
            if t.result!.code == .none, let created = controller.topic(t.name) {
                result.topicID = created.id
                result.numPartitions = Int32(created.partitions.count)
                result.replicationFactor = Int16(created.partitions.first?.replicas.count ?? 0)
                result.configs = []
            }
            return result
        })
        return Self.frame(p.request.header) { response.encode(&$0, version: p.version) }
    }

    /// After the controller applied `entry` (with `rejection` as its outcome), on any node: answer
    /// the requests waiting for an entry about the same topic. A command this node proposed whose
    /// index another leader's entry took was lost with the old term: it is asked again.
    func controllerApplied(_ entry: Entry, rejection: String?) {
        if producerIDs.isWaiting { perform(producerIDs.serve(controller: controller, now: ticks, expired: false)) }
        let about = ControllerState.command(in: entry)?.adminTopic
        if rejection == nil, let about, !about.isDelete {
            kafka.autoCreating.removeAll { $0.name == about.name }
        }
        guard !kafka.pendingAdmins.isEmpty else { return }
        for k in kafka.pendingAdmins.indices {
            let isDelete = kafka.pendingAdmins[k].isDelete
            for t in kafka.pendingAdmins[k].topics.indices where kafka.pendingAdmins[k].topics[t].result == nil {
                let name = kafka.pendingAdmins[k].topics[t].name
                if let about, about.name == name, about.isDelete == isDelete {
                    kafka.pendingAdmins[k].topics[t].result = Self.adminResult(name, rejection: rejection)
                } else if kafka.pendingAdmins[k].topics[t].proposedAt == entry.index {
                    kafka.pendingAdmins[k].topics[t].proposedAt = nil
                    kafka.pendingAdmins[k].topics[t].askedTick = nil
                }
            }
        }
        finishAdmins(expired: false)
    }

    private static func adminResult(_ name: String, rejection: String?) -> (code: ErrorCode, message: String?) {
        guard let rejection else { return (.none, nil) }
        let code: ErrorCode = rejection.contains("already exists") ? .topicAlreadyExists
            : rejection.contains("does not exist") ? .unknownTopicOrPartition : .invalidRequest
        return (code, rejection)
    }

    /// On a tick: send what is unsent or unanswered for a while (a forward is dropped by a node
    /// that stopped leading), then answer what is complete or past its deadline.
    func tickAdmins() {
        let retryTicks = UInt64(BrokerLimits.controllerRetryElectionTimeouts * config.raftTemplate.electionTicks)
        for k in kafka.pendingAdmins.indices {
            for t in kafka.pendingAdmins[k].topics.indices where kafka.pendingAdmins[k].topics[t].result == nil {
                if let asked = kafka.pendingAdmins[k].topics[t].askedTick, ticks < asked + retryTicks { continue }
                askController(&kafka.pendingAdmins[k].topics[t])
            }
        }
        finishAdmins(expired: true)
    }

    private func finishAdmins(expired: Bool) {
        var remaining: [PendingAdmin] = []
        for var p in kafka.pendingAdmins {
            if expired && ticks >= p.deadlineTick {
                for t in p.topics.indices where p.topics[t].result == nil {
                    p.topics[t].result = (.requestTimedOut, "the controller did not apply it in time")
                }
            }
            if p.topics.allSatisfy({ $0.result != nil }) {
                kafka.completions.append(.init(connection: p.request.connection, sequence: p.request.sequence, response: adminResponse(p)))
            } else {
                remaining.append(p)
            }
        }
        kafka.pendingAdmins = remaining
    }
}
