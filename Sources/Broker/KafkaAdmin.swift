import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// CreateTopics and DeleteTopics: a subsystem that owns the requests waiting for the controller
/// and returns actions.
///
/// Any node takes them, as KRaft brokers do: the controller leader proposes the command, any other
/// node forwards it to the leader it knows (or waits until it knows one) and asks again after a
/// few election timeouts. The answer comes from the first controller entry for the same topic
/// that this node applies: the controller log is replicated everywhere, so every node learns the
/// outcome, and asking twice is harmless (the second create is rejected as a duplicate after the
/// first was already taken as the answer). A client therefore never sees NOT_CONTROLLER, which
/// librdkafka surfaces to the application instead of retrying.
struct PendingAdmin {
    /// Which request: each topic (or config resource) of it is one controller command.
    enum Kind: Equatable {
        case createTopics, deleteTopics, createPartitions
        /// AlterConfigs (`incremental` false) or IncrementalAlterConfigs.
        case alterConfigs(incremental: Bool)
    }

    struct Topic {
        /// The topic, or the config resource's name (empty for the cluster-wide defaults).
        var name: String
        /// Config requests: the resource type answered (2 topic, 4 broker).
        var resourceType: Int8 = 2
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
    var kind: Kind
    var topics: [Topic]
    var deadlineTick: UInt64
}

extension ControllerCommand {
    /// The topic a create or delete command is about.
    var adminTopic: (name: String, isDelete: Bool)? {
        switch self {
        case .createTopic(let name, _, _, _): return (name, false)
        case .deleteTopic(let name): return (name, true)
        default: return nil
        }
    }
}

extension PendingAdmin.Topic {
    /// Whether the controller applying `applied` answers this topic: a create or delete by the
    /// first command about the same topic (asking twice is harmless), a config change only by its
    /// own command (two clients may change one topic's configs at once).
    func isAnswered(by applied: ControllerCommand) -> Bool {
        guard let mine = command else { return false }
        switch mine {
        case .alterConfigs, .createPartitions: return applied == mine
        default: break
        }
        guard let a = applied.adminTopic, let m = mine.adminTopic else { return false }
        return a.name == m.name && a.isDelete == m.isDelete
    }
}

/// What the admin subsystem reads of its node, and the one thing it does there at once: hand a
/// command to the controller group (proposed when this node leads it, forwarded otherwise).
protocol AdminContext: NodeContext {
    /// Partitions and replication for -1 in a CreateTopics.
    var defaultPartitions: Int32 { get }
    var defaultReplication: Int { get }
    func submitToController(_ command: ControllerCommand) -> ControllerSubmission
    /// The leader this node knows for a group (its own replica's view, else peers' gossip).
    func currentLeader(of g: GroupID) -> NodeID
}

/// Where a controller command went.
enum ControllerSubmission {
    /// Proposed here, as controller leader, at this index.
    case proposed(LogIndex)
    /// Forwarded to the leader this node knows.
    case forwarded
    /// No leader known (or the proposal failed): the next tick tries again.
    case notSent
}

/// When a waiting request last handed its command to the controller, and whether to hand it
/// again: a forward is dropped by a node that stopped leading the controller, so a command not
/// applied within a few election timeouts is asked again (ReassignmentService,
/// ElectLeadersService, NodeRemovalService: applying their commands twice does no harm).
struct ControllerAsk {
    private(set) var askedTick: UInt64?

    mutating func ask(_ command: ControllerCommand, _ node: some AdminContext) {
        switch node.submitToController(command) {
        case .proposed, .forwarded: askedTick = node.ticks
        case .notSent: askedTick = nil
        }
    }

    /// Never asked, or asked long enough ago that the controller should have applied it.
    func isDue(_ node: some AdminContext) -> Bool {
        guard let asked = askedTick else { return true }
        return node.ticks >= asked + UInt64(BrokerLimits.controllerRetryElectionTimeouts * node.config.raftTemplate.electionTicks)
    }
}

struct TopicAdmin {
    private var pending: [PendingAdmin] = []

    var isEmpty: Bool { pending.isEmpty }

    // MARK: - CreateTopics

    mutating func createTopics(_ c: CreateTopicsRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        var p = PendingAdmin(request: request, version: request.header.apiVersion, kind: .createTopics, topics: [], deadlineTick: Self.deadline(c.timeoutMs, node))
        for t in c.topics {
            let partitions = t.numPartitions == -1 ? node.defaultPartitions : t.numPartitions
            let rf = t.replicationFactor == -1 ? node.defaultReplication : Int(t.replicationFactor)
            let configs = Self.topicConfigs(t.configs)
            if p.topics.contains(where: { $0.name == t.name }) {
                p.topics.append(.answered(t.name, .invalidRequest, "topic '\(t.name)' appears twice in the request"))
            } else if InternalTopic.isInternal(t.name) {
                // Its coordinator creates it with the partitions its keys are placed over.
                p.topics.append(.answered(t.name, .invalidRequest, "Creation of internal topic \(t.name) is prohibited."))
            } else if !t.assignments.isEmpty {
                p.topics.append(.answered(t.name, .invalidRequest, "manual replica assignments are not supported"))
            } else if let reason = ControllerState.validateTopic(name: t.name, partitions: partitions, replicationFactor: rf, members: node.controller.members.count) {
                let code: ErrorCode = reason.contains("replication factor") ? .invalidReplicationFactor
                    : reason.contains("partitions") ? .invalidPartitions : .invalidTopic
                p.topics.append(.answered(t.name, code, reason))
            } else if node.controller.topic(t.name) != nil {
                p.topics.append(.answered(t.name, .topicAlreadyExists, "topic '\(t.name)' already exists"))
            } else if case .failure(let e) = configs {
                p.topics.append(.answered(t.name, e.code, e.message))
            } else if c.validateOnly {
                p.topics.append(.answered(t.name, .none))
            } else if case .success(let configs) = configs {
                var topic = PendingAdmin.Topic(
                    name: t.name, command: .createTopic(name: t.name, partitions: partitions, replicationFactor: rf, configs: configs))
                Self.ask(&topic, node)
                p.topics.append(topic)
            }
        }
        return wait(p, node)
    }

    /// A CreateTopics topic's configs, checked as a topic's are (`TopicConfigs`); a name given
    /// twice is INVALID_REQUEST, as Kafka answers.
    static func topicConfigs(_ given: [CreateTopicsRequest.CreatableTopicConfig]) -> Result<ConfigOverrides, ConfigError> {
        var seen: Set<String> = []
        for c in given where !seen.insert(c.name).inserted {
            return .failure(.invalidRequest("config \(c.name) is given twice"))
        }
        return ConfigOverrides().applying(given.map { ConfigChange(name: $0.name, operation: .set, value: $0.value) }, replacing: true, key: { TopicConfigs.definition(named: $0) })
    }

    // MARK: - DeleteTopics

    mutating func deleteTopics(_ d: DeleteTopicsRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        var p = PendingAdmin(request: request, version: request.header.apiVersion, kind: .deleteTopics, topics: [], deadlineTick: Self.deadline(d.timeoutMs, node))
        // v6+ names each topic by name or by id; earlier versions by name.
        let asked: [(name: String?, id: KafkaUUID)] = request.header.apiVersion >= 6
            ? d.topics.map { ($0.name, $0.topicID) } : d.topicNames.map { ($0, .zero) }
        for (askedName, id) in asked {
            let byID = askedName == nil ? node.controller.topic(id: id) : nil
            guard let name = askedName ?? byID?.name else {
                p.topics.append(.answered("", id: id, .unknownTopicID))
                continue
            }
            if p.topics.contains(where: { $0.name == name }) {
                p.topics.append(.answered(name, id: id, .invalidRequest, "topic '\(name)' appears twice in the request"))
            } else if let special = InternalTopic(name: name) {
                p.topics.append(.answered(name, id: id, .invalidRequest, "\(name) is internal: \(special.holds) live there"))
            } else if node.controller.topic(name) == nil {
                p.topics.append(.answered(name, id: id, .unknownTopicOrPartition))
            } else {
                var topic = PendingAdmin.Topic(name: name, id: id, command: .deleteTopic(name: name))
                Self.ask(&topic, node)
                p.topics.append(topic)
            }
        }
        return wait(p, node)
    }

    private static func deadline(_ timeoutMs: Int32, _ node: some AdminContext) -> UInt64 {
        node.ticks + node.config.ticks(milliseconds: Int(timeoutMs))
    }

    mutating func wait(_ p: PendingAdmin, _ node: some AdminContext) -> [KafkaAction] {
        if p.topics.allSatisfy({ $0.result != nil }) { return [.complete(Self.answer(p, node))] }
        pending.append(p)
        return []
    }

    /// Hand the topic's command to the controller; with no leader known it stays unsent and a
    /// later tick tries again.
    static func ask(_ topic: inout PendingAdmin.Topic, _ node: some AdminContext) {
        guard let command = topic.command else { return }
        switch node.submitToController(command) {
        case .proposed(let index):
            topic.proposedAt = index
            topic.askedTick = node.ticks
        case .forwarded:
            topic.proposedAt = nil
            topic.askedTick = node.ticks
        case .notSent:
            break
        }
    }

    private static func answer(_ p: PendingAdmin, _ node: some AdminContext) -> KafkaCompletion {
        switch p.kind {
        case .alterConfigs(let incremental):
            if incremental {
                return p.request.answer(IncrementalAlterConfigsResponse(responses: p.topics.map {
                    .init(errorCode: $0.result!.code, errorMessage: $0.result!.message, resourceType: $0.resourceType, resourceName: $0.name)
                }))
            }
            return p.request.answer(AlterConfigsResponse(responses: p.topics.map {
                .init(errorCode: $0.result!.code, errorMessage: $0.result!.message, resourceType: $0.resourceType, resourceName: $0.name)
            }))
        case .deleteTopics:
            return p.request.answer(DeleteTopicsResponse(responses: p.topics.map { t in
                // Named by id (v6+): the name is answered only once it was found.
                .init(name: t.name.isEmpty ? nil : t.name, topicID: t.id, errorCode: t.result!.code, errorMessage: t.result!.message)
            }))
        case .createPartitions:
            return p.request.answer(CreatePartitionsResponse(results: p.topics.map {
                .init(name: $0.name, errorCode: $0.result!.code, errorMessage: $0.result!.message)
            }))
        case .createTopics:
            break
        }
        return p.request.answer(CreateTopicsResponse(topics: p.topics.map { t in
            var result = CreateTopicsResponse.CreatableTopicResult(name: t.name, errorCode: t.result!.code, errorMessage: t.result!.message)
            // v5+ describe the created topic; v7+ give its id.
            if t.result!.code == .none, let created = node.controller.topic(t.name) {
                result.topicID = created.id
                result.numPartitions = Int32(created.partitions.count)
                result.replicationFactor = Int16(created.partitions.first?.replicas.count ?? 0)
                result.configs = ConfigDescriptions.topic(created, controller: node.controller, keys: nil, synonyms: false, documentation: false).map {
                    .init(name: $0.name, value: $0.value, readOnly: $0.readOnly, configSource: $0.configSource, isSensitive: $0.isSensitive)
                }
            }
            return result
        }))
    }

    /// After the controller applied `entry` (with `rejection` as its outcome), on any node: answer
    /// the requests waiting for an entry about the same topic. A command this node proposed whose
    /// index another leader's entry took was lost with the old term: it is asked again.
    mutating func controllerApplied(_ entry: Entry, command: ControllerCommand?, rejection: String?, _ node: some AdminContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        for k in pending.indices {
            let kind = pending[k].kind
            for t in pending[k].topics.indices where pending[k].topics[t].result == nil {
                if let command, pending[k].topics[t].isAnswered(by: command) {
                    pending[k].topics[t].result = Self.result(rejection: rejection, kind)
                } else if pending[k].topics[t].proposedAt == entry.index {
                    pending[k].topics[t].proposedAt = nil
                    pending[k].topics[t].askedTick = nil
                }
            }
        }
        return finish(expired: false, node)
    }

    /// Whether every partition of the topics a CreateTopics created has a leader this node knows.
    private static func leadersKnown(_ p: PendingAdmin, _ node: some AdminContext) -> Bool {
        guard p.kind == .createTopics else { return true }
        for t in p.topics where t.result?.code == ErrorCode.none {
            guard let created = node.controller.topic(t.name) else { continue }
            if created.partitions.contains(where: { node.currentLeader(of: $0.group).isNone }) { return false }
        }
        return true
    }

    private static func result(rejection: String?, _ kind: PendingAdmin.Kind) -> (code: ErrorCode, message: String?) {
        guard let rejection else { return (.none, nil) }
        // A config change was checked against the same state before it was proposed: refused
        // now, the state moved (the topic went, or a concurrent change made it invalid).
        if case .alterConfigs = kind { return (rejection.contains("does not exist") ? .unknownTopicOrPartition : .invalidConfig, rejection) }
        if kind == .createPartitions { return (rejection.contains("does not exist") ? .unknownTopicOrPartition : .invalidPartitions, rejection) }
        let code: ErrorCode = rejection.contains("already exists") ? .topicAlreadyExists
            : rejection.contains("does not exist") ? .unknownTopicOrPartition : .invalidRequest
        return (code, rejection)
    }

    /// On a tick: send what is unsent or unanswered for a while (a forward is dropped by a node
    /// that stopped leading), then answer what is complete or past its deadline.
    mutating func tick(_ node: some AdminContext) -> [KafkaAction] {
        guard !pending.isEmpty else { return [] }
        let retryTicks = UInt64(BrokerLimits.controllerRetryElectionTimeouts * node.config.raftTemplate.electionTicks)
        for k in pending.indices {
            for t in pending[k].topics.indices where pending[k].topics[t].result == nil {
                if let asked = pending[k].topics[t].askedTick, node.ticks < asked + retryTicks { continue }
                Self.ask(&pending[k].topics[t], node)
            }
        }
        return finish(expired: true, node)
    }

    private mutating func finish(expired: Bool, _ node: some AdminContext) -> [KafkaAction] {
        var actions: [KafkaAction] = []
        var remaining: [PendingAdmin] = []
        for var p in pending {
            if expired && node.ticks >= p.deadlineTick {
                for t in p.topics.indices where p.topics[t].result == nil {
                    p.topics[t].result = (.requestTimedOut, "the controller did not apply it in time")
                }
            }
            // A created topic is answered once each of its partitions has a leader, so a client
            // that looks the leaders up next finds them (Kafka's controller assigns them as it
            // creates the topic); at the request's deadline it is answered as created anyway.
            if p.topics.allSatisfy({ $0.result != nil }) && (node.ticks >= p.deadlineTick || Self.leadersKnown(p, node)) {
                actions.append(.complete(Self.answer(p, node)))
            } else {
                remaining.append(p)
            }
        }
        pending = remaining
        return actions
    }
}

extension NodeCore: AdminContext {
    var defaultPartitions: Int32 { config.defaultPartitions }

    /// Propose on the controller leader, or forward to it.
    @discardableResult
    func submitToController(_ command: ControllerCommand) -> ControllerSubmission {
        guard let g = group(controllerGroup) else { return .notSent }
        let (role, leader) = g.withRaft { ($0.role, $0.leader) }
        if role == .leader {
            guard let at = try? g.raft.propose(command.encode()) else { return .notSent }
            return .proposed(at.index)
        }
        guard !leader.isNone && leader != config.id else { return .notSent }
        pendingForwards.append((leader, command))
        return .forwarded
    }

    /// After the controller applied an entry, on any node: the subsystems waiting on it.
    func controllerApplied(_ entry: Entry, rejection: String?) {
        if producerIDs.isWaiting { perform(producerIDs.serve(controller: controller, now: ticks, expired: false)) }
        let command = ControllerState.command(in: entry)
        if rejection == nil, let about = command?.adminTopic {
            if about.isDelete { perform(coordinator.topicDeleted(about.name, self)) } else { autoCreation.created(about.name) }
        }
        perform(admin.controllerApplied(entry, command: command, rejection: rejection, self))
        if case .reassignPartitions = command { perform(reassignments.controllerApplied(command, rejection: rejection, self)) }
        if case .removeNode = command { perform(removals.controllerApplied(command, rejection: rejection, self)) }
        if case .electPreferredLeaders(let groups, let notAfterMs) = command {
            preferredLeadersElected(groups, notAfterMs: notAfterMs)
            perform(elections.controllerApplied(command, self))
        }
    }
}
