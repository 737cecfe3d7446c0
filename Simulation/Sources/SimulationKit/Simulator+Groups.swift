import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft

/// A simulated consumer-group member's progress through the classic protocol.
struct SimGroupMemberState {
    enum Phase { case find, join, sync, fetch, active }
    var phase = Phase.find
    var coordinator: Int?
    var memberID = ""
    var generation: Int32 = -1
    /// Member ids the leader got with its join answer (empty for followers).
    var members: [String] = []
    var owns = false
    /// The next offset it "consumes" of partition 0 (what it commits, always increasing).
    var position: Int64 = 0
    var pendingCommit: Int64?
    var lastHeartbeat: SimTime = 0
    var pausedUntil: SimTime = 0
    var sent: ApiKey = .findCoordinator
    /// When the request in flight reached its node (nil until it does).
    var deliveredAt: SimTime?
    /// The last two requests that keep a member's session alive (heartbeat, commit, join, sync):
    /// when each reached the coordinator and when its answer came back. This client has one
    /// request in flight: a commit the coordinator holds for a long while (its offsets partition
    /// cannot commit) stops its heartbeats, where a Kafka client's heartbeat thread would go on,
    /// and an expulsion for that silence is legitimate. A member silent by itself is not excused.
    var sessionRequests: (previous: (delivered: SimTime, answered: SimTime?)?, last: (delivered: SimTime, answered: SimTime?)?) = (nil, nil)
    /// Told a rebalance is in progress: the application's next poll (when the member rejoins)
    /// comes at this time; until then it keeps heartbeating, as a real client's background
    /// heartbeat does.
    var rejoinAt: SimTime?
    /// Set while the member has kept its side of the protocol since it joined its generation:
    /// no application pause, no lost coordinator, no timed-out request. `calmSince` is a time
    /// at which the group was known not to be rebalancing (a rebalance that could drop this member
    /// for missing its deadline began later).
    var steady: (since: SimTime, calmSince: SimTime)?
    /// When the JoinGroup that put the member in its generation reached the coordinator, and
    /// when its SyncGroup of that generation was answered (nil until then): the generation
    /// formed in between, and the coordinator keeps it only in memory until the rebalance's end
    /// is written (a sync is answered after that write).
    var joinDeliveredAt: SimTime?
    var syncedAt: SimTime?
    /// Back from its pause, the member acts on the generation it had before it heartbeats
    /// (`SwarmOptions.staleMembers`): a consumer whose poll loop stalled commits what it
    /// processed, as a Java consumer's commitSync after a long GC pause does.
    var staleOnResume = false
}

/// Three group members share partition 0 of the simulated topic: they find the coordinator,
/// join (with the member-id handshake), sync (the leader gives the partition to one member per
/// generation, a different one each time), fetch the committed offset when taking the partition
/// over, commit ever larger offsets, heartbeat, and now and then leave or pause past their
/// session. All of it through crashes, partitions and leader changes of the offsets partition,
/// with `SimGroupChecker` watching ownership and commits.
extension Simulator {
    static let groupID = "sim-group"
    static let memberSessionMs: Int32 = 2000
    static let memberRebalanceMs: Int32 = 3000
    static let memberRequestTimeout = 6 * SimDuration.second
    static let heartbeatEvery = 300 * SimDuration.millisecond

    /// The application polls again this long after its member heard of a rebalance: at most
    /// a little over the session timeout, always well within the rebalance timeout.
    static let rejoinDelayMax = 2200 * SimDuration.millisecond

    /// No answer from the coordinator: find it again (and rejoin there, keeping the member id).
    static func lostCoordinator(_ m: inout SimGroupMemberState) {
        m.phase = .find
        m.coordinator = nil
        m.owns = false
        m.pendingCommit = nil
        m.rejoinAt = nil
        m.steady = nil
    }

    func groupMemberRequest(_ c: Int, _ client: inout SimKafkaClient) -> (Int, ApiKey, Int16, KafkaWriter)? {
        var m = client.group
        defer { client.group = m }
        guard now >= m.pausedUntil else { return nil }
        if m.staleOnResume {
            m.staleOnResume = false
            if let stale = staleMemberRequest(c, &m) { return stale }
        }
        if m.phase == .active, let at = m.rejoinAt, now >= at {
            // The application's poll comes round: it gives the partition up and rejoins.
            m.rejoinAt = nil
            m.owns = false
            m.phase = .join
            trace("group: member \(c) rejoins generation \(m.generation)'s rebalance")
        }
        m.deliveredAt = nil
        var w = KafkaWriter()
        let coordinator = m.coordinator ?? Int(groupRandom.below(UInt64(nodes.count)))
        switch m.phase {
        case .find:
            m.sent = .findCoordinator
            FindCoordinatorRequest(key: Self.groupID).encode(&w, version: 2)
            return (Int(groupRandom.below(UInt64(nodes.count))), .findCoordinator, 2, w)
        case .join:
            m.sent = .joinGroup
            JoinGroupRequest(
                groupID: Self.groupID, sessionTimeoutMs: Self.memberSessionMs, rebalanceTimeoutMs: Self.memberRebalanceMs, memberID: m.memberID,
                protocolType: "consumer", protocols: [.init(name: "sim", metadata: ByteBuffer(bytes: [UInt8(c)]))]
            ).encode(&w, version: 5)
            return (coordinator, .joinGroup, 5, w)
        case .sync:
            m.sent = .syncGroup
            var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
            if !m.members.isEmpty {
                // One owner per generation, moving round the members as generations pass.
                let sorted = m.members.sorted()
                let owner = sorted[Int(m.generation) % sorted.count]
                assignments = sorted.map { .init(memberID: $0, assignment: ByteBuffer(bytes: $0 == owner ? [1] : [0])) }
            }
            SyncGroupRequest(groupID: Self.groupID, generationID: m.generation, memberID: m.memberID, assignments: assignments).encode(&w, version: 3)
            return (coordinator, .syncGroup, 3, w)
        case .fetch:
            m.sent = .offsetFetch
            OffsetFetchRequest(groupID: Self.groupID, topics: [.init(name: Self.kafkaTopic, partitionIndexes: [0])]).encode(&w, version: 5)
            return (coordinator, .offsetFetch, 5, w)
        case .active:
            let roll = groupRandom.below(1000)
            if roll < 2 {
                // Stop for longer than the session: the coordinator must expire it.
                m.pausedUntil = now + 2 * SimDuration.second + groupRandom.below(4 * UInt64(SimDuration.second))
                m.steady = nil
                m.staleOnResume = options.staleMembers
                trace("group: member \(c) pauses")
                return nil
            }
            if m.rejoinAt != nil && plantedBug == .memberSilentInRebalance { return nil }
            if roll < 4 {
                m.sent = .leaveGroup
                LeaveGroupRequest(groupID: Self.groupID, members: [.init(memberID: m.memberID)]).encode(&w, version: 3)
                return (coordinator, .leaveGroup, 3, w)
            }
            if now - m.lastHeartbeat >= Self.heartbeatEvery || !m.owns {
                guard now - m.lastHeartbeat >= Self.heartbeatEvery else { return nil }
                m.sent = .heartbeat
                HeartbeatRequest(groupID: Self.groupID, generationID: m.generation, memberID: m.memberID).encode(&w, version: 3)
                return (coordinator, .heartbeat, 3, w)
            }
            let next = m.position + 1 + Int64(groupRandom.below(3))
            m.pendingCommit = next
            m.sent = .offsetCommit
            OffsetCommitRequest(
                groupID: Self.groupID, generationIDOrMemberEpoch: m.generation, memberID: m.memberID,
                topics: [.init(name: Self.kafkaTopic, partitions: [.init(partitionIndex: 0, committedOffset: next)])]
            ).encode(&w, version: 7)
            return (coordinator, .offsetCommit, 7, w)
        }
    }

    /// A member back from a pause, before any heartbeat: the owner commits the next offset, any
    /// other member syncs again, both in the generation it had (it may be gone: the coordinator
    /// must answer ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID, never store the commit).
    private func staleMemberRequest(_ c: Int, _ m: inout SimGroupMemberState) -> (Int, ApiKey, Int16, KafkaWriter)? {
        guard m.phase == .active, let coordinator = m.coordinator else { return nil }
        stats.staleMemberRequests += 1
        m.deliveredAt = nil
        var w = KafkaWriter()
        if m.owns {
            let next = m.position + 1 + Int64(clientFaultRandom.below(3))
            m.pendingCommit = next
            m.sent = .offsetCommit
            trace("group: member \(c) back from a pause commits \(next) in generation \(m.generation) without a heartbeat")
            OffsetCommitRequest(
                groupID: Self.groupID, generationIDOrMemberEpoch: m.generation, memberID: m.memberID,
                topics: [.init(name: Self.kafkaTopic, partitions: [.init(partitionIndex: 0, committedOffset: next)])]
            ).encode(&w, version: 7)
            return (coordinator, .offsetCommit, 7, w)
        }
        m.sent = .syncGroup
        trace("group: member \(c) back from a pause syncs generation \(m.generation) again without a heartbeat")
        SyncGroupRequest(groupID: Self.groupID, generationID: m.generation, memberID: m.memberID, assignments: []).encode(&w, version: 3)
        return (coordinator, .syncGroup, 3, w)
    }

    /// The last time node `i` stopped leading a partition of `__consumer_offsets` (the simulator
    /// runs it with one partition, which holds the simulated group).
    func offsetsLeadershipLost(at i: Int) -> SimTime? {
        guard let topic = nodes[i].core?.controller.topic(InternalTopic.consumerOffsets.name) else { return nil }
        return topic.partitions.compactMap { nodes[i].leadershipLostAt[$0.group] }.max()
    }

    /// The simulated clients' planted bug, if the run plants one.
    var plantedBug: ClientPlantedBug? { config.plantedBug?.client }

    /// An answer reached member `c` (sent to node `node`).
    func groupMemberReply(_ c: Int, node: Int, _ r: inout KafkaReader) {
        var m = kafkaClients[c].group
        defer { kafkaClients[c].group = m }
        func rejoin(_ code: ErrorCode) {
            if code == .unknownMemberID || code == .illegalGeneration { expelled(code) }
            if code != .rebalanceInProgress { m.steady = nil }
            m.rejoinAt = nil
            switch code {
            case .unknownMemberID:
                m.memberID = ""
                m.phase = .join
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress, .requestTimedOut:
                m.phase = .find
                m.coordinator = nil
            default:
                m.phase = .join
            }
            m.owns = false
        }
        /// The coordinator dropped this member. Fine after a pause, a lost coordinator, a missed
        /// rebalance deadline; not while the member heartbeated and its application polled in
        /// time — then two members may own the partition at once.
        func expelled(_ code: ErrorCode) {
            guard let s = m.steady, let delivered = m.deliveredAt else { return }
            // The coordinator lost the offsets partition's leadership (stepped down, crashed)
            // after the generation formed and before its end was written: as in Kafka, it
            // reloads the last written generation and this one's members must rejoin (seed 2602:
            // a join answer held back by the network, a coordinator that stepped down and was
            // elected again on the same node meanwhile).
            if let joined = m.joinDeliveredAt, let lost = offsetsLeadershipLost(at: node), lost >= joined, lost <= (m.syncedAt ?? now) {
                return
            }
            // A rebalance deadline (3 s, on a clock up to 5 % fast) cannot have passed yet.
            let deadlineSafe = delivered < s.calmSince + UInt64(Self.memberRebalanceMs) * SimDuration.millisecond * 9 / 10
            guard deadlineSafe else { return }
            let session = UInt64(Self.memberSessionMs) * SimDuration.millisecond
            if m.sessionRequests.last?.delivered == delivered, let p = m.sessionRequests.previous, let answered = p.answered,
               answered - p.delivered >= session / 2, delivered - p.delivered >= session * 9 / 10 {
                return  // held at the coordinator, then silent past its session (a clock up to 5 % fast)
            }
            checkerGroups.expelledWhileLive(
                member: c, generation: m.generation,
                detail: "answered \(code) to its \(m.sent) delivered at \(delivered / SimDuration.millisecond) ms; in generation \(m.generation) since \(s.since / SimDuration.millisecond) ms, calm at \(s.calmSince / SimDuration.millisecond) ms, never paused, coordinator n\(node + 1) answering throughout\(m.owns ? ", still owning partition 0" : "")")
        }
        if [.heartbeat, .offsetCommit, .joinGroup, .syncGroup].contains(m.sent), m.sessionRequests.last?.answered == nil {
            m.sessionRequests.last?.answered = now
        }
        switch m.sent {
        case .findCoordinator:
            guard let f = try? FindCoordinatorResponse.decode(&r, version: 2), f.errorCode == .none else { return }
            m.coordinator = Int(f.nodeID) - 1
            m.phase = .join
        case .joinGroup:
            guard let j = try? JoinGroupResponse.decode(&r, version: 5) else { return }
            let code = j.errorCode
            if code == .memberIDRequired {
                m.memberID = j.memberID
                return
            }
            guard code == .none else { return rejoin(code) }
            m.memberID = j.memberID
            m.generation = j.generationID
            m.members = j.leader == j.memberID ? j.members.map(\.memberID) : []
            m.phase = .sync
            m.steady = (now, now)
            m.joinDeliveredAt = m.deliveredAt ?? now
            m.syncedAt = nil
            trace("group: member \(c) joined generation \(j.generationID)\(m.members.isEmpty ? "" : " as leader of \(m.members.count)") via n\(node + 1)")
        case .syncGroup:
            guard let s = try? SyncGroupResponse.decode(&r, version: 3) else { return }
            let code = s.errorCode
            guard code == .none else { return rejoin(code) }
            m.owns = Array(s.assignment.readableBytesView) == [1]
            m.lastHeartbeat = now
            if m.syncedAt == nil { m.syncedAt = now }
            if let d = m.deliveredAt, let steady = m.steady { m.steady = (steady.since, max(steady.calmSince, d)) }
            if m.owns {
                checkerGroups.assigned(generation: m.generation, member: c)
                m.phase = .fetch
            } else {
                m.phase = .active
            }
        case .offsetFetch:
            guard let f = try? OffsetFetchResponse.decode(&r, version: 5) else { return }
            let code = f.errorCode
            guard code == .none, let p = f.topics.first?.partitions.first, p.errorCode == .none else { return rejoin(code == .none ? .notCoordinator : code) }
            trace("group: member \(c) takes partition 0 over in generation \(m.generation) at committed offset \(p.committedOffset) via n\(node + 1)")
            checkerGroups.observed(p.committedOffset, generation: m.generation, member: c, fetched: true)
            m.position = max(p.committedOffset, 0)
            m.phase = .active
        case .heartbeat:
            guard let h = try? HeartbeatResponse.decode(&r, version: 3) else { return }
            let code = h.errorCode
            switch code {
            case .none:
                m.lastHeartbeat = now
                if let d = m.deliveredAt, let steady = m.steady { m.steady = (steady.since, max(steady.calmSince, d)) }
            case .rebalanceInProgress where m.phase == .active:
                // Heard of a rebalance: rejoin when the application next polls, heartbeating till then.
                m.lastHeartbeat = now
                if m.rejoinAt == nil {
                    m.rejoinAt = now + groupRandom.below(Self.rejoinDelayMax)
                    trace("group: member \(c) hears of a rebalance; its application polls again in \((m.rejoinAt! - now) / SimDuration.millisecond) ms")
                }
            default:
                rejoin(code)
            }
        case .offsetCommit:
            guard let o = try? OffsetCommitResponse.decode(&r, version: 7), let p = o.topics.first?.partitions.first, let value = m.pendingCommit else { return }
            m.pendingCommit = nil
            let code = p.errorCode
            guard code == .none else { return rejoin(code) }
            trace("group: member \(c) committed \(value) in generation \(m.generation) via n\(node + 1)")
            checkerGroups.observed(value, generation: m.generation, member: c, fetched: false)
            m.position = value
            stats.groupCommits += 1
        case .leaveGroup:
            trace("group: member \(c) left generation \(m.generation)")
            m.steady = nil
            m.rejoinAt = nil
            m.memberID = ""
            m.owns = false
            m.phase = .join
        default:
            return
        }
    }
}
