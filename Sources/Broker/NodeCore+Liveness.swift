import Primitives
import Raft

/// Which peers this node hears from: the failure detector quiesced groups rely on (see
/// RaftNode+Quiescence). One keepalive per node pair every `keepaliveTicks` and any frame from a
/// peer count; a peer not heard from for `deadAfterTicks` is down. Per node, not per group: with
/// thousands of quiesced groups it is what stands in for their heartbeats.
struct PeerLiveness {
    /// Per peer (sorted by id): the tick it was last heard from, whether it counts as up, and
    /// the run of its process its last keepalive named (0: none yet).
    private(set) var peers: [(node: NodeID, lastHeard: UInt64, up: Bool, run: UInt64)]

    init(members: [NodeID], except me: NodeID) {
        peers = members.sorted().filter { $0 != me }.map { ($0, 0, true, 0) }
    }

    /// The cluster's members changed (a node joined or left): new peers start up, as at start,
    /// and those still members keep what was heard from them.
    mutating func update(members: [NodeID], except me: NodeID, at tick: UInt64) {
        let wanted = members.filter { $0 != me }
        guard wanted != peers.map(\.node) else { return }
        peers = wanted.sorted().map { id in peers.first { $0.node == id } ?? (id, tick, true, 0) }
    }

    /// `peer` was heard from at `tick` (its keepalive naming `run`, if it was one). True when it
    /// was down until now, or restarted since its last keepalive: a restart quicker than
    /// `deadAfter` is never seen as down, yet its groups may need their leader (one that lost
    /// entries to damage repairs without campaigning, simulator seed 399).
    mutating func heard(_ peer: NodeID, at tick: UInt64, run: UInt64? = nil) -> Bool {
        guard let k = peers.firstIndex(where: { $0.node == peer }) else { return false }
        peers[k].lastHeard = tick
        var back = false
        if let run, run != peers[k].run {
            back = peers[k].run != 0
            peers[k].run = run
        }
        if !peers[k].up {
            peers[k].up = true
            back = true
        }
        return back
    }

    /// Peers that went down by `tick` (not heard from for more than `deadAfter` ticks).
    mutating func check(at tick: UInt64, deadAfter: UInt64) -> [NodeID] {
        var down: [NodeID] = []
        for k in peers.indices where peers[k].up && tick > peers[k].lastHeard + deadAfter {
            peers[k].up = false
            down.append(peers[k].node)
        }
        return down
    }

    func isUp(_ peer: NodeID) -> Bool { peers.first { $0.node == peer }?.up ?? false }
}

extension NodeCore {
    /// Ticks between keepalives to each peer.
    var keepaliveTicks: UInt64 { UInt64(max(1, config.raftTemplate.electionTicks / 4)) }
    /// A peer unheard for this long is down: an election timeout.
    var deadAfterTicks: UInt64 { UInt64(config.raftTemplate.electionTicks) }

    /// This process's run: the keepalives carry it, so peers see a restart (`PeerLiveness`).
    public var run: UInt64 { max(1, config.seed &+ config.incarnation &* 0x9E37_79B9_7F4A_7C15) }

    /// A frame arrived from `peer` (its keepalive names `run`). When the peer was down, or
    /// restarted, the quiesced groups with a replica on it wake: their leader resyncs it.
    public func heard(from peer: NodeID, run: UInt64? = nil) -> NodeOutput {
        guard liveness.heard(peer, at: ticks, run: run) else { return NodeOutput() }
        wakeGroups(withReplicaOn: peer)
        return flush()
    }

    /// A new link to `peer` is up (the runtime's TLS connection; the first one included): what
    /// the old one carried may be lost, so the quiesced groups with a replica there wake, as for
    /// a peer back from down, and their leaders resync it.
    public func linkRestored(to peer: NodeID) -> NodeOutput {
        wakeGroups(withReplicaOn: peer)
        return flush()
    }

    /// On a tick: wake the quiesced groups with a replica on a peer that just went down (a
    /// follower then campaigns if its leader is gone; a leader steps down if it lost its quorum).
    /// (`tick` also sends the keepalives, every `keepaliveTicks`.)
    func wakeGroupsOfDownPeers() {
        for peer in liveness.check(at: ticks, deadAfter: deadAfterTicks) where config.plantedBug != .deafFailureDetector {
            wakeGroups(withReplicaOn: peer)
        }
    }

    private func wakeGroups(withReplicaOn peer: NodeID) {
        for k in groups.indices where groups[k].withRaft({ $0.isQuiesced && $0.membership.isMember(peer) }) {
            groups[k].raft.wake()
            touch(k)
        }
    }
}
