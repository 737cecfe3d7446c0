import KafkaProtocol
import NIOCore

/// A consumer group as tools show it.
public struct GroupDescription: Sendable {
    public struct Member: Sendable {
        public var memberID: String
        public var clientID: String
        public var host: String
        public var assignment: [TopicPartition]
    }

    public struct PartitionOffsets: Sendable {
        public var partition: TopicPartition
        /// Nil: nothing committed.
        public var committed: Int64?
        /// The partition's end (the next offset to be written).
        public var end: Int64?
        /// Records not yet read by the group: end - committed (nil without a commit).
        public var lag: Int64? {
            guard let committed, let end else { return nil }
            return max(0, end - committed)
        }
    }

    public var group: String
    /// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable" or "Dead" (unknown).
    public var state: String
    public var protocolName: String
    public var coordinator: Int32
    public var members: [Member]
    public var offsets: [PartitionOffsets]
}

extension Admin {
    /// Every group of the cluster (each broker lists those it coordinates), sorted.
    public func listGroups() async throws -> [(group: String, protocolType: String)] {
        let m = try await client.refreshMetadata()
        var all: [String: String] = [:]
        for b in m.brokers {
            let c = try await client.connection(to: b.nodeID)
            var r = try await c.request(.listGroups, version: 2, clientID: client.clientID) { ListGroupsRequest().encode(&$0, version: 2) }
            let response = try ListGroupsResponse.decode(&r, version: 2)
            let code = response.errorCode
            guard code == .none else { throw RillClientError.kafka(code, "list groups on broker \(b.nodeID)") }
            for g in response.groups { all[g.groupID] = g.protocolType }
        }
        return all.keys.sorted().map { ($0, all[$0]!) }
    }

    /// State, members with their partitions, and committed offsets with lag per partition.
    public func describeGroup(_ group: String) async throws -> GroupDescription {
        let coordinator = try await client.findCoordinator(group: group)
        let c = try await client.connection(to: coordinator)
        var r = try await c.request(.describeGroups, version: 4, clientID: client.clientID) {
            DescribeGroupsRequest(groups: [group]).encode(&$0, version: 4)
        }
        guard let g = try DescribeGroupsResponse.decode(&r, version: 4).groups.first else {
            throw RillClientError.protocolError("empty DescribeGroups response")
        }
        let code = g.errorCode
        guard code == .none else { throw RillClientError.kafka(code, "describe group \(group)") }
        let members = g.members.map { m in
            let assignment = (try? ConsumerProtocol.decodeAssignment(m.memberAssignment))?.partitions.flatMap { tp in
                tp.partitions.map { TopicPartition(topic: tp.topic, partition: $0) }
            } ?? []
            return GroupDescription.Member(memberID: m.memberID, clientID: m.clientID, host: m.clientHost, assignment: assignment)
        }
        // Every partition with a commit or assigned to a member.
        var r2 = try await c.request(.offsetFetch, version: 5, clientID: client.clientID) {
            OffsetFetchRequest(groupID: group, topics: nil).encode(&$0, version: 5)
        }
        let fetched = try OffsetFetchResponse.decode(&r2, version: 5)
        var committed: [TopicPartition: Int64] = [:]
        for t in fetched.topics {
            for p in t.partitions where p.errorCode == .none && p.committedOffset >= 0 {
                committed[TopicPartition(topic: t.name, partition: p.partitionIndex)] = p.committedOffset
            }
        }
        let partitions = Set(committed.keys).union(members.flatMap(\.assignment)).sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        var offsets: [GroupDescription.PartitionOffsets] = []
        for tp in partitions {
            let end = try? await client.listOffset(topic: tp.topic, partition: tp.partition, timestamp: ListOffsetsRequest.latest)
            offsets.append(.init(partition: tp, committed: committed[tp], end: end))
        }
        return GroupDescription(group: group, state: g.groupState, protocolName: g.protocolData, coordinator: coordinator, members: members, offsets: offsets)
    }

    /// Set a group's committed offsets for a topic's partitions (all, or `partitions`): to the
    /// earliest or latest offset, an offset, or the first offset at a time. Only while the group
    /// has no members (as Kafka's tool): a live member would overwrite them.
    @discardableResult
    public func resetOffsets(group: String, topic: String, partitions: [Int32]? = nil, to position: Consumer.Position) async throws -> [TopicPartition: Int64] {
        let state = try await describeGroup(group).state
        guard state == "Empty" || state == "Dead" else {
            throw RillClientError.kafka(.rebalanceInProgress, "group \(group) is \(state): stop its consumers before resetting offsets")
        }
        let count = try await client.partitionCount(topic)
        let chosen = partitions ?? (0..<Int32(count)).map { $0 }
        var targets: [TopicPartition: Int64] = [:]
        for p in chosen {
            guard p >= 0 && Int(p) < count else { throw RillClientError.kafka(.unknownTopicOrPartition, "\(topic) has no partition \(p)") }
            let offset: Int64
            switch position {
            case .offset(let o): offset = o
            case .earliest: offset = try await client.listOffset(topic: topic, partition: p, timestamp: ListOffsetsRequest.earliest)
            case .latest: offset = try await client.listOffset(topic: topic, partition: p, timestamp: ListOffsetsRequest.latest)
            case .timestamp(let t):
                let at = try await client.listOffset(topic: topic, partition: p, timestamp: t)
                offset = at >= 0 ? at : try await client.listOffset(topic: topic, partition: p, timestamp: ListOffsetsRequest.latest)
            }
            targets[TopicPartition(topic: topic, partition: p)] = offset
        }
        var configuration = Consumer.Configuration()
        configuration.groupID = group
        configuration.autoCommit = false
        // A standalone commit (generation -1): the coordinator takes it only while the group is empty.
        try await Consumer(client: client, configuration: configuration).commit(targets.map { ($0.key, $0.value) })
        return targets
    }
}
