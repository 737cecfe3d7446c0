import Primitives
import Raft

/// Leaders back to their preferred replicas (Kafka's auto.leader.rebalance, Redpanda's leader
/// balancer): every `leaderBalanceMs` a node hands each partition it leads whose first replica is
/// another node — one it hears from, holding every committed entry — to that replica (a Raft
/// leadership transfer, which brings it the entries still in flight first). Not "the whole log":
/// a partition taking writes is always a few entries ahead of its followers, and waiting for an
/// instant when they match left such partitions with the wrong leader for round after round
/// (18-29 s after a restart under a producer, in ElasticClusterTests on a busy machine). Placement spreads first replicas evenly, so leaders spread with them: after a
/// restart (the restarted node's partitions were led elsewhere meanwhile) and when a first
/// election went to another replica. At most `leaderBalanceBatch` transfers per round: a node
/// coming back after a restart gets its partitions back within a round or two (at 200 a round,
/// 1,600 of them took 80 s), not all of ten thousand elections at once.
extension NodeCore {
    static let leaderBalanceBatch = 1000

    func balanceLeaders() {
        guard config.leaderBalanceMs > 0, !diskFull else { return }
        let every = max(1, config.ticks(milliseconds: config.leaderBalanceMs))
        guard ticks % every == 0 else { return }
        var moved = 0
        for k in groups.indices where groups[k].isKafkaPartition && moved < Self.leaderBalanceBatch {
            let g = groups[k]
            guard let preferred = controller.replicas(of: g.id)?.first, preferred != config.id, liveness.isUp(preferred) else { continue }
            let ready = g.withRaft { raft in
                raft.role == .leader && raft.transferee.isNone && raft.membership.isVoter(preferred)
                    && (raft.matchIndex(of: preferred) ?? .zero) >= raft.commitIndex
            }
            guard ready else { continue }
            try? g.raft.transferLeadership(to: preferred)
            touch(k)
            moved += 1
        }
    }
}
