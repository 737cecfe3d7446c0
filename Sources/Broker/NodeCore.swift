import Primitives
import Raft
import Storage

/// What a node core wants done after an event: messages for peers, and storage work.
public struct NodeOutput: Sendable {
    /// Messages by destination, sorted by node id; each list goes out as one frame.
    public var messages: [(NodeID, [PeerEnvelope])] = []
    /// A group commit to run; at most one is in flight, its completion comes back through
    /// `storageCompleted`.
    public var storage: StorageBatch?
    /// Controller commands for the controller leader to propose (by destination).
    public var forwards: [(NodeID, ControllerCommand)] = []

    public var isEmpty: Bool { messages.isEmpty && storage == nil && forwards.isEmpty }
}

/// One node's logic, with no clock, socket, thread or file of its own: every Raft group it
/// replicates (the controller and its partitions), their state machines, and group commit.
/// The runtime (Transport) or the simulator feeds it events — ticks, peer messages, storage
/// completions, proposals — and carries out the `NodeOutput` each one returns. The etcd-raft
/// "Ready loop" for many groups at once.
public final class NodeCore {
    final class Group {
        let id: GroupID
        var raft: RaftNode
        /// The Ready whose writes are in the batch in flight.
        var outstanding: Ready?
        var lastHardState: HardState
        init(id: GroupID, raft: RaftNode) {
            self.id = id
            self.raft = raft
            self.lastHardState = raft.hardState
        }
    }

    public let config: NodeConfig
    /// Groups sorted by id: iteration order is part of the run.
    private var groups: [Group] = []
    public private(set) var controller: ControllerState
    private var nextToken: UInt64 = 1
    private var inFlight: (token: UInt64, groups: [GroupID])?
    /// Operations decided while a batch was in flight (compactions, new groups).
    private var queued: [StorageBatch.Operation] = []
    /// Groups handed to another node by `transferLeaderships` (once each).
    private var transferred: [GroupID] = []
    /// Partition groups found on disk, waiting for the controller to name their replicas.
    private var recoveredPartitions: [(GroupID, RecoveredState)] = []
    private var ticks: UInt64 = 0
    private var nextRegistrationTick: UInt64 = 0
    /// A failed fsync: the node must stop.
    public private(set) var storageFailure: StorageError?

    /// Start from what storage recovered: one state per group found on disk.
    public init(config: NodeConfig, recovered: [(GroupID, RecoveredState)]) throws(RaftError) {
        self.config = config
        self.controller = ControllerState(members: config.members)
        var states = recovered.sorted { $0.0 < $1.0 }
        if !states.contains(where: { $0.0 == controllerGroup }) {
            states.insert((controllerGroup, RecoveredState()), at: 0)
            queued.append(.createGroup(controllerGroup))
        }
        for (gid, state) in states {
            if gid == controllerGroup {
                try addGroup(gid, members: config.members, recovered: state)
            } else {
                // A partition's replicas come from the controller's state: the group starts once
                // the controller has caught up and names it (`reconcileGroups`).
                recoveredPartitions.append((gid, state))
            }
        }
        if let snap = raftOf(controllerGroup)?.latestSnapshot, snap.index > .zero {
            try? controller.restore(snap)
        }
        reconcileGroups()
    }

    // MARK: - Queries

    public var groupIDs: [GroupID] { groups.map(\.id) }

    public func raftOf(_ g: GroupID) -> RaftNode? { group(g)?.raft }

    public var isStorageBusy: Bool { inFlight != nil }

    // MARK: - Events

    public func tick() -> NodeOutput {
        ticks += 1
        for g in groups { g.raft.tick() }
        return flush()
    }

    /// Messages from a peer (one decoded frame). Messages for groups this node does not (yet)
    /// replicate are dropped: the sender retries, and the controller will create the group here.
    public func receive(_ envelopes: [PeerEnvelope]) -> NodeOutput {
        for env in envelopes {
            guard env.message.to == config.id, let g = group(env.group) else { continue }
            g.raft.step(env.message)
        }
        return flush()
    }

    /// Propose a controller command (on the controller leader; others throw `notLeader`).
    public func proposeToController(_ command: ControllerCommand) throws(RaftError) -> (NodeOutput, LogIndex) {
        guard let g = group(controllerGroup) else { throw RaftError.notLeader(leaderHint: .none) }
        let at = try g.raft.propose(command.encode())
        return (flush(), at.index)
    }

    /// Before a graceful stop: hand every group this node leads to another voter (the one after
    /// this node in id order, so a cluster stopping node by node spreads them). Each group is
    /// handed over once per stop: when the whole cluster stops together, leadership must not
    /// bounce between stopping nodes (each bounce is a new term).
    public func transferLeaderships() -> NodeOutput {
        for g in groups where g.raft.role == .leader && !transferred.contains(g.id) {
            let voters = g.raft.membership.voters.filter { $0 != config.id }.sorted()
            guard let target = voters.first(where: { $0 > config.id }) ?? voters.first else { continue }
            transferred.append(g.id)
            try? g.raft.transferLeadership(to: target)
        }
        return flush()
    }

    /// Groups this node leads now.
    public var leadingGroups: Int { groups.filter { $0.raft.role == .leader }.count }

    public func storageCompleted(_ c: StorageCompletion) -> NodeOutput {
        guard let flight = inFlight, flight.token == c.token else { return NodeOutput() }
        inFlight = nil
        if let failure = c.failure {
            storageFailure = failure
            return NodeOutput()
        }
        var out = NodeOutput()
        completeReadies(flight.groups, into: &out)
        let more = flush()
        out.messages = merge(out.messages, more.messages)
        out.storage = more.storage
        out.forwards += more.forwards
        return out
    }

    // MARK: - The Ready loop

    private func flush() -> NodeOutput {
        var out = NodeOutput()
        guard storageFailure == nil else { return out }
        for _ in 0..<64 {
            var outgoing: [(NodeID, [PeerEnvelope])] = []
            for g in groups {
                for m in g.raft.takeMessages() { append(&outgoing, PeerEnvelope(group: g.id, message: m)) }
            }
            out.messages = merge(out.messages, outgoing)
            guard inFlight == nil else { break }
            var operations = queued
            queued = []
            var readyGroups: [GroupID] = []
            var needsWrite = !operations.isEmpty
            for g in groups where g.outstanding == nil && g.raft.hasReady {
                let r = g.raft.ready()
                if let snap = r.snapshot {
                    operations.append(.installSnapshot(g.id, snap, nextOffset: .zero))
                }
                if !r.entries.isEmpty { operations.append(.append(g.id, r.entries)) }
                if let hs = r.hardState, hs.term != g.lastHardState.term || hs.vote != g.lastHardState.vote {
                    operations.append(.saveHardState(g.id, hs))
                }
                if let hs = r.hardState { g.lastHardState = hs }
                if r.needsWrite { needsWrite = true }
                g.outstanding = r
                readyGroups.append(g.id)
            }
            if readyGroups.isEmpty && operations.isEmpty { break }
            if !needsWrite || operations.isEmpty {
                completeReadies(readyGroups, into: &out)
                continue
            }
            let batch = StorageBatch(token: nextToken, operations: operations)
            nextToken += 1
            inFlight = (batch.token, readyGroups)
            out.storage = batch
            break
        }
        maybeRegister(&out)
        return out
    }

    /// The writes of these groups' Readies are durable: send what waited for them, apply, advance.
    private func completeReadies(_ ids: [GroupID], into out: inout NodeOutput) {
        var outgoing: [(NodeID, [PeerEnvelope])] = []
        for id in ids {
            guard let g = group(id), let r = g.outstanding else { continue }
            g.outstanding = nil
            for m in r.messagesAfterPersist { append(&outgoing, PeerEnvelope(group: id, message: m)) }
            if id == controllerGroup {
                if let s = r.snapshot { try? controller.restore(s) }
                for e in r.committedEntries { controller.apply(e) }
            }
            g.raft.advance(r)
            maybeCompact(g)
        }
        out.messages = merge(out.messages, outgoing)
        if ids.contains(controllerGroup) { reconcileGroups() }
    }

    /// Snapshot a group every `compactEvery` applied entries; its storage drops the log before it.
    private func maybeCompact(_ g: Group) {
        let applied = g.raft.appliedIndex
        guard applied.value >= g.raft.snapshotIndex.value + UInt64(config.compactEvery), applied <= g.raft.persistedIndex
        else { return }
        let data = g.id == controllerGroup ? controller.encode() : []
        let snap = g.raft.compact(through: applied, data: data)
        queued.append(.compact(g.id, snap, keepFrom: nil))
    }

    /// Create the partition groups the controller assigns to this node.
    private func reconcileGroups() {
        for a in controller.assignments(of: config.id) where group(a.group) == nil {
            if let k = recoveredPartitions.firstIndex(where: { $0.0 == a.group }) {
                let state = recoveredPartitions.remove(at: k).1
                try? addGroup(a.group, members: a.replicas, recovered: state)
            } else {
                queued.append(.createGroup(a.group))
                try? addGroup(a.group, members: a.replicas, recovered: RecoveredState())
            }
        }
    }

    /// Until the controller holds this node's current registration, ask for it every ten ticks:
    /// proposed here on the controller leader, forwarded to it from anywhere else.
    private func maybeRegister(_ out: inout NodeOutput) {
        guard ticks >= nextRegistrationTick, let g = group(controllerGroup) else { return }
        guard !controller.brokers.contains(registration) else { return }
        nextRegistrationTick = ticks + 10
        let command = ControllerCommand.registerBroker(registration)
        if g.raft.role == .leader {
            _ = try? g.raft.propose(command.encode())
        } else if !g.raft.leader.isNone {
            out.forwards.append((g.raft.leader, command))
        }
    }

    /// A controller command forwarded by a peer: proposed when this node leads the controller,
    /// dropped otherwise (the sender asks again).
    public func receiveForward(_ command: ControllerCommand) -> NodeOutput {
        if let g = group(controllerGroup), g.raft.role == .leader { _ = try? g.raft.propose(command.encode()) }
        return flush()
    }

    /// This node's registration with the controller.
    public var registration: BrokerRegistration {
        BrokerRegistration(node: config.id, host: config.kafkaHost, kafkaPort: config.kafkaPort)
    }

    // MARK: - Helpers

    private func addGroup(_ gid: GroupID, members: [NodeID], recovered: RecoveredState) throws(RaftError) {
        var rc = RaftConfig(id: config.id, initialMembership: Membership(voters: members))
        rc.electionTicks = config.electionTicks
        rc.heartbeatTicks = config.heartbeatTicks
        rc.randomSeed = config.seed &+ UInt64(gid.value) &* 0x9E37_79B9_7F4A_7C15
        let raft = try RaftNode(config: rc, recovered: recovered)
        let g = Group(id: gid, raft: raft)
        let at = groups.firstIndex { $0.id > gid } ?? groups.endIndex
        groups.insert(g, at: at)
    }

    private func group(_ g: GroupID) -> Group? {
        var lo = 0
        var hi = groups.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if groups[mid].id == g { return groups[mid] }
            if groups[mid].id < g { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }

    private func append(_ list: inout [(NodeID, [PeerEnvelope])], _ env: PeerEnvelope) {
        if let k = list.firstIndex(where: { $0.0 == env.message.to }) {
            list[k].1.append(env)
        } else {
            list.append((env.message.to, [env]))
            list.sort { $0.0 < $1.0 }
        }
    }

    private func merge(_ a: [(NodeID, [PeerEnvelope])], _ b: [(NodeID, [PeerEnvelope])]) -> [(NodeID, [PeerEnvelope])] {
        var out = a
        for (_, envs) in b { for e in envs { append(&out, e) } }
        return out
    }
}
