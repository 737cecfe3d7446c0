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
/// committed, with auto-commit), then partitions given. `lost` is Java's `onPartitionsLost`: the
/// coordinator said this member or its generation is gone (its session expired, or the group
/// moved on without it), so the partitions may already belong to another member — nothing is
/// committed for them, and records fetched for them after that answer are dropped.
public enum RebalanceEvent: Sendable {
    case revoked([TopicPartition])
    case lost([TopicPartition])
    case assigned([TopicPartition])
}

/// A consumer's place in its group (the classic protocol, as the Java client and librdkafka do it).
struct GroupMembershipState {
    var topics: [String]
    var onRebalance: (@Sendable (RebalanceEvent) async -> Void)?
    var coordinator: Int32?
    /// This member's own connection to the coordinator (see `KafkaClient.dedicatedConnection`).
    var link: (node: Int32, connection: KafkaConnection)?
    var memberID = ""
    var generation: Int32 = -1
    var needsJoin = true
    /// The coordinator answered ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID: this member's
    /// partitions are no longer its own (see `RebalanceEvent.lost`).
    var lost = false
    /// A JoinGroup/SyncGroup of `ensureGroup` is in flight (heartbeats pause: the join keeps
    /// the member alive at the coordinator).
    var joining = false
    /// Bumped whenever the assignment is given up, so a fetch that was in flight across the
    /// change can tell that its records belong to partitions this member no longer owns.
    var assignmentEpoch = 0
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
        membership?.link?.connection.close()
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
        var topics: [OffsetCommitRequest.OffsetCommitRequestTopic] = []
        for (tp, o) in offsets.sorted(by: { ($0.0.topic, $0.0.partition) < ($1.0.topic, $1.0.partition) }) {
            if topics.last?.name == tp.topic {
                topics[topics.count - 1].partitions.append(.init(partitionIndex: tp.partition, committedOffset: o))
            } else {
                topics.append(.init(name: tp.topic, partitions: [.init(partitionIndex: tp.partition, committedOffset: o)]))
            }
        }
        let request = OffsetCommitRequest(
            groupID: group, generationIDOrMemberEpoch: membership?.generation ?? -1, memberID: membership?.memberID ?? "", topics: topics)
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
            let codes = response.topics.flatMap { $0.partitions.map(\.errorCode) }
            guard let bad = codes.first(where: { $0 != .none }) else {
                membership?.lastCommit = .now
                return
            }
            switch bad {
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress, .requestTimedOut:
                membership?.coordinator = nil
                try await Task.sleep(for: .milliseconds(100))
            case .rebalanceInProgress, .illegalGeneration, .unknownMemberID:
                sawGroupError(bad)
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

    /// Leave the group (after a last auto-commit) and stop heartbeating. The rebalance callback
    /// hears the partitions given up first (revoked, or lost when the group had moved on), as
    /// the Java client's listener does at close.
    public func close() async {
        guard let m = membership else { return }
        m.heartbeats?.cancel()
        if configuration.autoCommit && !m.needsJoin { try? await commit() }
        if !assignments.isEmpty && membership?.generation ?? -1 >= 0 {
            let given = assignment
            await m.onRebalance?(membership?.lost == true ? .lost(given) : .revoked(given))
        }
        if let group = configuration.groupID, !m.memberID.isEmpty, let c = try? await coordinatorConnection() {
            _ = try? await c.request(.leaveGroup, version: 3, clientID: client.clientID) {
                LeaveGroupRequest(groupID: group, members: [.init(memberID: m.memberID)]).encode(&$0, version: 3)
            }
        }
        membership?.link?.connection.close()
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
            let given = assignment
            if m.lost {
                // Another member may own them already: no commit, and say so.
                assignments = []
                membership?.assignmentEpoch += 1
                await m.onRebalance?(.lost(given))
            } else {
                if configuration.autoCommit && m.generation >= 0 { try? await commit() }
                assignments = []
                membership?.assignmentEpoch += 1
                await m.onRebalance?(.revoked(given))
            }
        }
        membership?.lost = false
        membership?.joining = true
        defer { membership?.joining = false }
        for _ in 0..<100 {
            guard let current = membership else { return }
            m = current
            let c = try await coordinatorConnection()
            let protocols = configuration.assignors.map {
                JoinGroupRequest.JoinGroupRequestProtocol(name: $0.rawValue, metadata: ConsumerProtocol.encode(.init(topics: m.topics)))
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
            switch joined.errorCode {
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
            var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
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
            switch synced.errorCode {
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
    private func leaderAssignments(_ joined: JoinGroupResponse) async throws -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        guard let name = joined.protocolName, let assignor = PartitionAssignor(rawValue: name) else {
            throw RillClientError.protocolError("the group chose assignor '\(joined.protocolName ?? "null")', which this client does not have")
        }
        var subscriptions: [(member: String, topics: [String])] = []
        for member in joined.members {
            subscriptions.append((member.memberID, try ConsumerProtocol.decodeSubscription(member.metadata).topics))
        }
        var counts: [String: Int] = [:]
        for t in Set(subscriptions.flatMap(\.topics)).sorted() { counts[t] = try? await client.partitionCount(t) }
        let plan = assignor.assign(subscriptions: subscriptions, partitionCounts: counts)
        return subscriptions.map { s in
            SyncGroupRequest.SyncGroupRequestAssignment(memberID: s.member, assignment: ConsumerProtocol.encode(.init(partitions: plan[s.member] ?? [])))
        }
    }

    private func fetchCommitted(group: String, _ partitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        var topics: [OffsetFetchRequest.OffsetFetchRequestTopic] = []
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
                let code = response.errorCode
                if code == .none {
                    var out: [TopicPartition: Int64] = [:]
                    for t in response.topics {
                        for p in t.partitions where p.errorCode == .none && p.committedOffset >= 0 {
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

    /// The connection to the group's coordinator (FindCoordinator when not known). A subscribed
    /// member has its own (see `KafkaClient.dedicatedConnection`); commits without a
    /// subscription use the client's shared one.
    func coordinatorConnection() async throws -> KafkaConnection {
        guard let group = configuration.groupID else { throw RillClientError.configuration("no groupID") }
        guard membership != nil else { return try await client.connection(to: try await client.findCoordinator(group: group)) }
        if let node = membership?.coordinator, let link = membership?.link, link.node == node, link.connection.isActive {
            return link.connection
        }
        let node: Int32
        if let known = membership?.coordinator { node = known } else { node = try await client.findCoordinator(group: group) }
        let c = try await client.dedicatedConnection(to: node)
        guard membership != nil else {
            c.close()  // closed meanwhile
            throw RillClientError.configuration("the consumer left its group")
        }
        membership?.link?.connection.close()
        membership?.coordinator = node
        membership?.link = (node, c)
        return c
    }

    /// Tell the coordinator this member is alive; learn of rebalances. Heartbeats go on after a
    /// REBALANCE_IN_PROGRESS answer until `poll` sends the JoinGroup, as the Java client's
    /// heartbeat thread does: the coordinator waits for this member up to the rebalance timeout
    /// only while its session lives, and the application may take a while to call `poll` again.
    /// (They used to stop at that answer; a member whose next `poll` came later than the session
    /// timeout was then expelled while it still read its partitions.)
    func heartbeat() async {
        guard let m = membership, !m.joining, !m.lost, !m.memberID.isEmpty, m.generation >= 0, let group = configuration.groupID else { return }
        guard let c = try? await coordinatorConnection() else { return }
        let request = HeartbeatRequest(groupID: group, generationID: m.generation, memberID: m.memberID)
        guard var r = try? await c.request(.heartbeat, version: 3, clientID: client.clientID, { request.encode(&$0, version: 3) }),
            let response = try? HeartbeatResponse.decode(&r, version: 3)
        else {
            membership?.coordinator = nil
            return
        }
        // Only if the member is still the one that sent it (a poll may have rejoined meanwhile).
        guard let now = membership, now.generation == m.generation, now.memberID == m.memberID, !now.joining else { return }
        switch response.errorCode {
        case .none: break
        case .rebalanceInProgress, .illegalGeneration, .unknownMemberID: sawGroupError(response.errorCode)
        default: membership?.coordinator = nil
        }
    }

    /// A heartbeat or commit answer about this member's place in the group. REBALANCE_IN_PROGRESS:
    /// rejoin at the next `poll` (the partitions are still this member's until then).
    /// ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID: the group has moved on without this member, so its
    /// partitions are lost at once.
    func sawGroupError(_ code: ErrorCode) {
        guard membership != nil else { return }
        membership?.needsJoin = true
        switch code {
        case .illegalGeneration:
            membership?.lost = true
        case .unknownMemberID:
            membership?.lost = true
            membership?.memberID = ""
        default:
            break
        }
    }
}
