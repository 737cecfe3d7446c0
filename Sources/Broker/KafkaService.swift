import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// A Kafka request as the listener hands it to the node: which connection, its place in that
/// connection's order, the parsed header and the body.
public struct KafkaRequest: Sendable {
    public var connection: UInt64
    public var sequence: UInt64
    public var header: RequestHeader
    public var body: ByteBuffer

    public init(connection: UInt64, sequence: UInt64, header: RequestHeader, body: ByteBuffer) {
        self.connection = connection
        self.sequence = sequence
        self.header = header
        self.body = body
    }
}

/// What to do with a request now.
public enum KafkaReply: Sendable {
    /// Send this framed response.
    case respond(ByteBuffer)
    /// Send nothing (Produce with acks=0), but keep the connection's order.
    case noResponse
    /// The answer comes later, through `NodeOutput.kafkaReplies`.
    case pending
    /// Close the connection (an API or version this broker cannot even answer), with why.
    case close(String)
}

/// A reply that was pending and is now ready.
public struct KafkaCompletion: Sendable {
    public var connection: UInt64
    public var sequence: UInt64
    /// nil: no response (the connection's order still moves on).
    public var response: ByteBuffer?
}

/// Where a partition's leader is, as this node last heard.
public struct LeaderHint: Equatable, Sendable {
    public var group: GroupID
    public var leader: NodeID
    public var term: Term

    public init(group: GroupID, leader: NodeID, term: Term) {
        self.group = group
        self.leader = leader
        self.term = term
    }
}

/// Kafka-facing state a node keeps between events.
struct KafkaState {
    /// Leaders of groups this node does not replicate, from peers' gossip (sorted by group).
    var hints: [LeaderHint] = []
    var completions: [KafkaCompletion] = []
    /// Topics this node asked the controller to create (so a client polling Metadata does not
    /// propose twice), and the tick it asked. Asked again after
    /// `autoCreateRetryTicks`: the command can be lost with a controller leader (simulator seed
    /// 1452 waited forever for `__consumer_offsets`).
    var autoCreating: [(name: String, since: UInt64)] = []
    /// Consumer groups this node coordinates (it leads their offsets partition), by id.
    var consumerGroups: [String: ConsumerGroup] = [:]
    /// Offsets partitions whose groups are loaded, with the term they were loaded in.
    var coordinating: [GroupID: Term] = [:]
    var pendingGroupWrites: [PendingGroupWrite] = []
    /// OffsetFetches waiting for their group's commits in flight.
    var pendingOffsetFetches: [(KafkaRequest, OffsetFetchRequest)] = []
    /// Makes member ids unique on this node (with the node id and the term).
    var memberCounter: UInt64 = 0
}

extension NodeCore {
    /// Handle one request. Deterministic: everything it needs is in the core's state.
    public func handleKafka(_ request: KafkaRequest) -> (KafkaReply, NodeOutput) {
        let h = request.header
        guard let key = ApiKey(rawValue: h.apiKey), let served = ServedApis.served(key) else {
            return (.close("unsupported API key \(h.apiKey)"), NodeOutput())
        }
        if key == .apiVersions && !served.contains(h.apiVersion) {
            // A newer client than this broker opens with a version it does not know: answer error 35
            // in the v0 layout (header v0, body unread), and the client retries with one listed.
            let fallback = ServedApis.apiVersionsResponse(errorCode: .unsupportedVersion)
            return (.respond(Self.frame(h) { fallback.encode(&$0, version: 0) }), NodeOutput())
        }
        guard served.contains(h.apiVersion) else {
            return (.close("\(key.name) v\(h.apiVersion) is not supported (\(served))"), NodeOutput())
        }
        var r = KafkaReader(request.body)
        do {
            switch key {
            case .apiVersions:
                let a = try ApiVersionsRequest.decode(&r, version: h.apiVersion)
                // v3+ name the client software; Kafka refuses names outside its pattern.
                let valid = h.apiVersion < 3 || (ServedApis.isValidSoftwareName(a.clientSoftwareName) && ServedApis.isValidSoftwareName(a.clientSoftwareVersion))
                let response = valid ? ServedApis.apiVersionsResponse() : ApiVersionsResponse(errorCode: .invalidRequest)
                return (.respond(Self.frame(h) { response.encode(&$0, version: h.apiVersion) }), NodeOutput())
            case .metadata:
                let m = try MetadataRequest.decode(&r, version: h.apiVersion)
                let response = metadata(m, version: h.apiVersion)
                return (.respond(Self.frame(h) { response.encode(&$0, version: h.apiVersion) }), drain())
            case .describeCluster:
                _ = try DescribeClusterRequest.decode(&r, version: h.apiVersion)
                let response = describeCluster()
                return (.respond(Self.frame(h) { response.encode(&$0, version: h.apiVersion) }), NodeOutput())
            case .createTopics:
                let c = try CreateTopicsRequest.decode(&r, version: h.apiVersion)
                perform(admin.createTopics(c, request, self))
                return (takeReply(for: request), drain())
            case .initProducerID:
                let i = try InitProducerIDRequest.decode(&r, version: h.apiVersion)
                let deadline = ticks + config.ticks(milliseconds: BrokerLimits.producerIDWaitMs)
                perform(producerIDs.handle(i, request, controller: controller, deadlineTick: deadline))
                return (takeReply(for: request), drain())
            case .deleteTopics:
                let d = try DeleteTopicsRequest.decode(&r, version: h.apiVersion)
                perform(admin.deleteTopics(d, request, self))
                return (takeReply(for: request), drain())
            case .produce:
                let p = try ProduceRequest.decode(&r, version: h.apiVersion)
                perform(produces.produce(p, request, self))
                return (takeReply(for: request), drain())
            case .fetch:
                let f = try FetchRequest.decode(&r, version: h.apiVersion)
                perform(fetches.fetch(f, request, self))
                return (takeReply(for: request), drain())
            case .offsetForLeaderEpoch:
                let o = try OffsetForLeaderEpochRequest.decode(&r, version: h.apiVersion)
                let response = offsetForLeaderEpoch(o)
                return (.respond(Self.frame(h) { response.encode(&$0, version: h.apiVersion) }), NodeOutput())
            case .listOffsets:
                let l = try ListOffsetsRequest.decode(&r, version: h.apiVersion)
                perform(listings.listOffsets(l, request, self))
                return (takeReply(for: request), drain())
            case .findCoordinator, .joinGroup, .syncGroup, .heartbeat, .leaveGroup, .offsetCommit, .offsetFetch, .describeGroups, .listGroups:
                return try handleGroupRequest(key, &r, request: request)
            }
        } catch {
            return (.close("malformed \(key.name) v\(h.apiVersion): \(error)"), NodeOutput())
        }
    }

    /// A framed response to `header`'s request: size, response header (v1 for flexible versions,
    /// v0 otherwise and always for ApiVersions), body.
    static func frame(_ header: RequestHeader, _ body: (inout KafkaWriter) -> Void) -> ByteBuffer {
        var w = KafkaWriter()
        ResponseHeader.encode(&w, correlationID: header.correlationID, flexible: header.responseHeaderIsFlexible)
        body(&w)
        var out = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &out)
        return out
    }

    // MARK: - Metadata

    func metadata(_ m: MetadataRequest, version: Int16) -> MetadataResponse {
        // This node answers even before its registration is committed (a client that reached
        // it must find it in the list); everyone else as the controller has them.
        var registered = controller.brokers
        if !registered.contains(where: { $0.node == config.id }) {
            registered.append(registration)
            registered.sort { $0.node < $1.node }
        }
        let brokers = registered.map {
            MetadataResponse.MetadataResponseBroker(nodeID: Int32($0.node.value), host: $0.host, port: Int32($0.kafkaPort))
        }
        var topics: [MetadataResponse.MetadataResponseTopic] = []
        // Null asks for every topic (v1+; v0 sends an empty list for that).
        let wanted = m.topics ?? []
        if m.topics == nil || (version == 0 && wanted.isEmpty) {
            topics = controller.topics.map(topicMetadata)
        }
        for t in m.topics ?? [] {
            // v10+ may name a topic by id alone.
            guard let name = t.name else {
                if let topic = controller.topic(id: t.topicID) {
                    topics.append(topicMetadata(topic))
                } else {
                    topics.append(.init(errorCode: .unknownTopicID, name: nil, topicID: t.topicID))
                }
                continue
            }
            guard let topic = controller.topic(name) else {
                let valid = ControllerState.validateTopic(
                    name: name, partitions: config.defaultPartitions, replicationFactor: defaultReplication, members: config.members.count) == nil
                if config.autoCreateTopics && m.allowAutoTopicCreation && valid {
                    autoCreate(name)
                    topics.append(.init(errorCode: .leaderNotAvailable, name: name))
                } else {
                    topics.append(.init(errorCode: valid ? .unknownTopicOrPartition : .invalidTopic, name: name))
                }
                continue
            }
            topics.append(topicMetadata(topic))
        }
        return MetadataResponse(brokers: brokers, clusterID: config.clusterName, controllerID: Int32(advertisedController.value), topics: topics)
    }

    /// The node named as controller: with no controller leader known (a node just restarted, or
    /// an election), this node: it takes admin requests and forwards them once it knows the
    /// leader. Naming none (-1) makes librdkafka wait for a controller until its request times out.
    var advertisedController: NodeID {
        let leader = raftOf(controllerGroup).map { $0.leader } ?? .none
        return leader.isNone ? config.id : leader
    }

    func topicMetadata(_ topic: TopicState) -> MetadataResponse.MetadataResponseTopic {
        .init(name: topic.name, topicID: topic.id, isInternal: topic.name == offsetsTopic, partitions: topic.partitions.map(partitionMetadata))
    }

    /// DescribeCluster (key 60): the brokers and controller, as Metadata has them.
    func describeCluster() -> DescribeClusterResponse {
        let m = metadata(MetadataRequest(topics: []), version: 1)
        return DescribeClusterResponse(
            clusterID: config.clusterName, controllerID: m.controllerID,
            brokers: m.brokers.map { .init(brokerID: $0.nodeID, host: $0.host, port: $0.port, rack: $0.rack) })
    }

    var defaultReplication: Int { min(config.defaultReplicationFactor, config.members.count) }

    func partitionMetadata(_ p: PartitionAssignment) -> MetadataResponse.MetadataResponsePartition {
        let replicas = p.replicas.map { Int32($0.value) }
        var leader = NodeID.none
        var term = Term.zero
        var isr = replicas
        if let g = group(p.group) {
            (leader, term) = g.withRaft { ($0.leader, $0.term) }
            if leader == config.id {
                // The leader knows who is caught up: replicas matching its commit index.
                let (commit, matches) = g.withRaft { r in (r.commitIndex, p.replicas.map { (id: $0, match: r.matchIndex(of: $0)) }) }
                isr = matches.filter { ($0.match ?? .zero) >= commit }.map { Int32($0.id.value) }
            }
        } else if let hint = kafka.hints.first(where: { $0.group == p.group }) {
            leader = hint.leader
            term = hint.term
        }
        if leader.isNone {
            return .init(errorCode: .leaderNotAvailable, partitionIndex: p.partition, leaderID: -1, leaderEpoch: -1,
                         replicaNodes: replicas, isrNodes: replicas)
        }
        return .init(partitionIndex: p.partition, leaderID: Int32(leader.value), leaderEpoch: Int32(truncatingIfNeeded: term.value),
                     replicaNodes: replicas, isrNodes: isr)
    }

    /// Ask the controller to create a topic a client asked about (at most once per name until it
    /// exists).
    func autoCreate(_ name: String) {
        guard startAutoCreate(name) else { return }
        let command = ControllerCommand.createTopic(name: name, partitions: config.defaultPartitions, replicationFactor: defaultReplication)
        submitToController(command)
    }

    /// Whether to ask for `name` now: not while an earlier request may still be on its way.
    func startAutoCreate(_ name: String) -> Bool {
        let retryTicks = UInt64(BrokerLimits.controllerRetryElectionTimeouts * config.raftTemplate.electionTicks)
        if let asked = kafka.autoCreating.first(where: { $0.name == name }), ticks < asked.since + retryTicks { return false }
        kafka.autoCreating.removeAll { $0.name == name }
        kafka.autoCreating.append((name, ticks))
        return true
    }

    // MARK: - Leader gossip

    /// The groups this node leads, for its peers (sent every few ticks).
    func leadership() -> [LeaderHint] {
        groups.compactMap { g in
            let (role, term) = g.withRaft { ($0.role, $0.term) }
            return role == .leader ? LeaderHint(group: g.id, leader: config.id, term: term) : nil
        }
    }

    /// Leadership a peer reports: kept for the groups this node does not replicate. Only for
    /// groups the controller has given out so far (a hint for a newer one comes again in a few
    /// ticks): a peer cannot make this node keep hints for millions of made-up groups.
    public func receiveLeaders(_ hints: [LeaderHint]) -> NodeOutput {
        var added = false
        for h in hints where h.group.value < controller.nextGroup && group(h.group) == nil {
            if let k = kafka.hints.firstIndex(where: { $0.group == h.group }) {
                if h.term >= kafka.hints[k].term { kafka.hints[k] = h }
            } else {
                kafka.hints.append(h)
                added = true
            }
        }
        if added { kafka.hints.sort { $0.group < $1.group } }
        return NodeOutput()
    }
}
