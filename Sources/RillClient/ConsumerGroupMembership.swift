import KafkaProtocol
import NIOCore

/// A topic's partition.
public struct TopicPartition: Hashable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    public init(topic: String, partition: Int32) {
        self.topic = topic
        self.partition = partition
    }
    public var description: String { "\(topic)[\(partition)]" }
}

/// What a rebalance does to this member: partitions taken away (after their positions were
/// committed, with auto-commit), then partitions given.
public enum RebalanceEvent: Sendable {
    case revoked([TopicPartition])
    case assigned([TopicPartition])
}

/// A consumer's place in its group (the classic protocol, as the Java client and librdkafka do it).
struct GroupMembershipState {
    var topics: [String]
    var onRebalance: (@Sendable (RebalanceEvent) async -> Void)?
    var coordinator: Int32?
    var memberID = ""
    var generation: Int32 = -1
    var needsJoin = true
    var lastCommit = ContinuousClock.now
    var heartbeats: Task<Void, Never>?
}

extension Consumer {
    /// Join `configuration.groupID` and consume `topics` with the partitions the group gives this
    /// member. `poll` does the joining (and rejoins after a rebalance); a background task
    /// heartbeats. Positions start at the group's committed offsets (`resetTo` without one).
    public func subscribe(_ topics: [String], onRebalance: (@Sendable (RebalanceEvent) async -> Void)? = nil) throws {
        guard let group = configuration.groupID, !group.isEmpty else {
            throw RillClientError.configuration("subscribe needs Configuration.groupID")
        }
        guard !topics.isEmpty else { throw RillClientError.configuration("subscribe needs at least one topic") }
        membership?.heartbeats?.cancel()
        var m = GroupMembershipState(topics: topics.sorted(), onRebalance: onRebalance)
        let interval = configuration.heartbeatIntervalMs
        m.heartbeats = Task { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(interval))
                guard let self else { return }
                await self.heartbeat()
            }
        }
        membership = m
    }

    /// The partitions this consumer reads now.
    public var assignment: [TopicPartition] { assignments.map { TopicPartition(topic: $0.topic, partition: $0.partition) } }

    /// Commit the position of every assigned partition (the offset after the last record `poll`
    /// returned) for the group. Throws when the group has moved on (a rebalance), in which case
    /// the next `poll` rejoins.
    public func commit() async throws {
        let offsets = assignments.compactMap { a in a.next.map { (TopicPartition(topic: a.topic, partition: a.partition), $0) } }
        try await commit(offsets)
    }

    /// Commit these offsets (each the next offset to read) for the group.
    public func commit(_ offsets: [(TopicPartition, Int64)]) async throws {
        guard let group = configuration.groupID else { throw RillClientError.configuration("commit needs Configuration.groupID") }
        guard !offsets.isEmpty else { return }
        var topics: [OffsetCommitRequest.Topic] = []
        for (tp, o) in offsets.sorted(by: { ($0.0.topic, $0.0.partition) < ($1.0.topic, $1.0.partition) }) {
            if topics.last?.name == tp.topic {
                topics[topics.count - 1].partitions.append(.init(partitionIndex: tp.partition, committedOffset: o))
            } else {
                topics.append(.init(name: tp.topic, partitions: [.init(partitionIndex: tp.partition, committedOffset: o)]))
            }
        }
        let request = OffsetCommitRequest(
            groupID: group, generationID: membership?.generation ?? -1, memberID: membership?.memberID ?? "", topics: topics)
        for attempt in 0..<10 {
            let c = try await coordinatorConnection()
            let response: OffsetCommitResponse
            do {
                var r = try await c.request(.offsetCommit, version: 7, clientID: client.clientID) { request.encode(&$0, version: 7) }
                response = try OffsetCommitResponse.decode(&r, version: 7)
            } catch let error as RillClientError {
                membership?.coordinator = nil
                if attempt == 9 { throw error }
                continue
            }
            let codes = response.topics.flatMap { $0.partitions.map { ErrorCode(rawValue: $0.errorCode) ?? .unknownServerError } }
            guard let bad = codes.first(where: { $0 != .none }) else {
                membership?.lastCommit = .now
                return
            }
            switch bad {
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress, .requestTimedOut:
                membership?.coordinator = nil
                try await Task.sleep(for: .milliseconds(100))
            case .rebalanceInProgress, .illegalGeneration, .unknownMemberID:
                if bad == .unknownMemberID { membership?.memberID = "" }
                membership?.needsJoin = true
                throw RillClientError.kafka(bad, "commit for group \(group): the group is rebalancing; poll rejoins")
            default:
                throw RillClientError.kafka(bad, "commit for group \(group)")
            }
        }
        throw RillClientError.timedOut("commit for group \(group)")
    }

    /// The group's committed offsets for these partitions (nil where there is none).
    public func committed(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        guard let group = configuration.groupID else { throw RillClientError.configuration("committed needs Configuration.groupID") }
        return try await fetchCommitted(group: group, partitions)
    }

    /// Leave the group (after a last auto-commit) and stop heartbeating.
    public func close() async {
        guard let m = membership else { return }
        m.heartbeats?.cancel()
        if configuration.autoCommit && !m.needsJoin { try? await commit() }
        if let group = configuration.groupID, !m.memberID.isEmpty, let c = try? await coordinatorConnection() {
            _ = try? await c.request(.leaveGroup, version: 3, clientID: client.clientID) {
                LeaveGroupRequest(groupID: group, members: [.init(memberID: m.memberID)]).encode(&$0, version: 3)
            }
        }
        membership = nil
        assignments = []
    }

    // MARK: - Joining

    func autoCommitIfDue() async throws {
        guard configuration.autoCommit, let m = membership, !m.needsJoin,
            ContinuousClock.now - m.lastCommit >= .milliseconds(configuration.autoCommitIntervalMs)
        else { return }
        do {
            try await commit()
        } catch RillClientError.kafka(let code, _) where [.rebalanceInProgress, .illegalGeneration, .unknownMemberID].contains(code) {
            // Rejoined by the next poll; the records since the last commit may be read again.
        }
    }

    /// (Re)join the group if needed: revoke, JoinGroup (with the member-id handshake), the
    /// leader's assignment, SyncGroup, positions from the committed offsets, assigned.
    func ensureGroup() async throws {
        guard var m = membership, m.needsJoin, let group = configuration.groupID else { return }
        if !assignments.isEmpty {
            if configuration.autoCommit && m.generation >= 0 { try? await commit() }
            let revoked = assignment
            assignments = []
            await m.onRebalance?(.revoked(revoked))
        }
        for _ in 0..<100 {
            guard let current = membership else { return }
            m = current
            let c = try await coordinatorConnection()
            let protocols = configuration.assignors.map {
                JoinGroupRequest.AssignmentProtocol(name: $0.rawValue, metadata: ConsumerProtocol.encode(.init(topics: m.topics)))
            }
            let join = JoinGroupRequest(
                groupID: group, sessionTimeoutMs: configuration.sessionTimeoutMs, rebalanceTimeoutMs: configuration.rebalanceTimeoutMs,
                memberID: m.memberID, protocolType: "consumer", protocols: protocols)
            let joined: JoinGroupResponse
            do {
                // The coordinator holds a join for the whole join phase.
                var r = try await c.request(.joinGroup, version: 5, clientID: client.clientID, timeout: .milliseconds(Int64(configuration.rebalanceTimeoutMs) + 5000)) {
                    join.encode(&$0, version: 5)
                }
                joined = try JoinGroupResponse.decode(&r, version: 5)
            } catch let error as RillClientError {
                _ = error
                membership?.coordinator = nil
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            switch ErrorCode(rawValue: joined.errorCode) ?? .unknownServerError {
            case .none: break
            case .memberIDRequired:
                membership?.memberID = joined.memberID
                continue
            case .unknownMemberID, .illegalGeneration:
                membership?.memberID = ""
                continue
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress, .rebalanceInProgress, .requestTimedOut:
                membership?.coordinator = nil
                try await Task.sleep(for: .milliseconds(200))
                continue
            case let code:
                throw RillClientError.kafka(code, "join group \(group)")
            }
            membership?.memberID = joined.memberID
            membership?.generation = joined.generationID
            var assignments: [SyncGroupRequest.Assignment] = []
            if joined.leader == joined.memberID {
                assignments = try await leaderAssignments(joined)
            }
            let sync = SyncGroupRequest(groupID: group, generationID: joined.generationID, memberID: joined.memberID, assignments: assignments)
            let synced: SyncGroupResponse
            do {
                var r = try await c.request(.syncGroup, version: 3, clientID: client.clientID, timeout: .milliseconds(Int64(configuration.rebalanceTimeoutMs) + 5000)) {
                    sync.encode(&$0, version: 3)
                }
                synced = try SyncGroupResponse.decode(&r, version: 3)
            } catch let error as RillClientError {
                _ = error
                membership?.coordinator = nil
                continue
            }
            switch ErrorCode(rawValue: synced.errorCode) ?? .unknownServerError {
            case .none: break
            case .unknownMemberID:
                membership?.memberID = ""
                continue
            case .rebalanceInProgress, .illegalGeneration, .notCoordinator, .coordinatorNotAvailable:
                continue
            case let code:
                throw RillClientError.kafka(code, "sync group \(group)")
            }
            let given = try ConsumerProtocol.decodeAssignment(synced.assignment)
            let partitions = given.partitions.flatMap { tp in tp.partitions.map { TopicPartition(topic: tp.topic, partition: $0) } }
            let committed = try await fetchCommitted(group: group, partitions)
            self.assignments = partitions.map { tp in
                Assignment(topic: tp.topic, partition: tp.partition, next: nil, seekTo: committed[tp].map { .offset($0) } ?? configuration.resetTo)
            }
            membership?.needsJoin = false
            membership?.lastCommit = .now
            await membership?.onRebalance?(.assigned(partitions))
            return
        }
        throw RillClientError.timedOut("joining group \(group)")
    }

    /// The leader divides the subscribed topics' partitions with the protocol the group chose.
    private func leaderAssignments(_ joined: JoinGroupResponse) async throws -> [SyncGroupRequest.Assignment] {
        guard let assignor = PartitionAssignor(rawValue: joined.protocolName) else {
            throw RillClientError.protocolError("the group chose assignor '\(joined.protocolName)', which this client does not have")
        }
        var subscriptions: [(member: String, topics: [String])] = []
        for member in joined.members {
            subscriptions.append((member.memberID, try ConsumerProtocol.decodeSubscription(member.metadata).topics))
        }
        var counts: [String: Int] = [:]
        for t in Set(subscriptions.flatMap(\.topics)).sorted() { counts[t] = try? await client.partitionCount(t) }
        let plan = assignor.assign(subscriptions: subscriptions, partitionCounts: counts)
        return subscriptions.map { s in
            SyncGroupRequest.Assignment(memberID: s.member, assignment: ConsumerProtocol.encode(.init(partitions: plan[s.member] ?? [])))
        }
    }

    private func fetchCommitted(group: String, _ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        var topics: [OffsetFetchRequest.Topic] = []
        for tp in partitions.sorted(by: { ($0.topic, $0.partition) < ($1.topic, $1.partition) }) {
            if topics.last?.name == tp.topic { topics[topics.count - 1].partitionIndexes.append(tp.partition) } else {
                topics.append(.init(name: tp.topic, partitionIndexes: [tp.partition]))
            }
        }
        for _ in 0..<50 {
            let c = try await coordinatorConnection()
            do {
                var r = try await c.request(.offsetFetch, version: 5, clientID: client.clientID) {
                    OffsetFetchRequest(groupID: group, topics: topics).encode(&$0, version: 5)
                }
                let response = try OffsetFetchResponse.decode(&r, version: 5)
                let code = ErrorCode(rawValue: response.errorCode) ?? .unknownServerError
                if code == .none {
                    var out: [TopicPartition: Int64] = [:]
                    for t in response.topics {
                        for p in t.partitions where p.errorCode == 0 && p.committedOffset >= 0 {
                            out[TopicPartition(topic: t.name, partition: p.partitionIndex)] = p.committedOffset
                        }
                    }
                    return out
                }
                if ![.notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress].contains(code) {
                    throw RillClientError.kafka(code, "fetch committed offsets of \(group)")
                }
            } catch let error as RillClientError {
                if case .kafka = error { throw error }
            }
            membership?.coordinator = nil
            try await Task.sleep(for: .milliseconds(100))
        }
        throw RillClientError.timedOut("fetch committed offsets of \(group)")
    }

    /// The connection to the group's coordinator (FindCoordinator when not known).
    func coordinatorConnection() async throws -> KafkaConnection {
        guard let group = configuration.groupID else { throw RillClientError.configuration("no groupID") }
        if let node = membership?.coordinator, let c = try? await client.connection(to: node) { return c }
        let node = try await client.findCoordinator(group: group)
        membership?.coordinator = node
        return try await client.connection(to: node)
    }

    /// Tell the coordinator this member is alive; learn of rebalances.
    func heartbeat() async {
        guard let m = membership, !m.needsJoin, m.generation >= 0, let group = configuration.groupID else { return }
        guard let c = try? await coordinatorConnection() else { return }
        let request = HeartbeatRequest(groupID: group, generationID: m.generation, memberID: m.memberID)
        guard var r = try? await c.request(.heartbeat, version: 3, clientID: client.clientID, { request.encode(&$0, version: 3) }),
            let response = try? HeartbeatResponse.decode(&r, version: 3)
        else {
            membership?.coordinator = nil
            return
        }
        // Only if the member is still the one that sent it (a poll may have rejoined meanwhile).
        guard membership?.generation == m.generation else { return }
        switch ErrorCode(rawValue: response.errorCode) ?? .unknownServerError {
        case .none: break
        case .rebalanceInProgress, .illegalGeneration: membership?.needsJoin = true
        case .unknownMemberID:
            membership?.memberID = ""
            membership?.needsJoin = true
        default: membership?.coordinator = nil
        }
    }
}
