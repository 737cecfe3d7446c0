import Primitives
import Raft

/// A nearly full data disk. Raft cannot take back a Ready it handed out, so a write that fails
/// for want of space stops the node; the runtime therefore watches free space and, below its
/// `min_free_bytes`, tells the core, which keeps the disk from filling instead:
/// - Produce answers KAFKA_STORAGE_ERROR (retriable: clients refresh metadata and retry) and
///   consumer-group writes NOT_COORDINATOR;
/// - every Kafka partition this node leads is handed to another voter, once per election timeout
///   while the disk stays full (a replica with space takes the writes);
/// - as a follower it takes no appends, snapshots or leadership hand-overs for Kafka partitions:
///   the others go on with their majority, and this replica catches up when space returns.
/// The controller group (metadata, a few bytes per change) is exempt. Reads, fetches, votes and
/// heartbeats go on.
extension NodeCore {
    /// The runtime's verdict on free space changed.
    public func setDiskFull(_ full: Bool) -> NodeOutput {
        guard full != diskFull else { return NodeOutput() }
        diskFull = full
        if full { handOffKafkaLeaderships() }
        touchAll()
        var out = flush()
        out.notices.append(
            full
                ? "data disk nearly full: Kafka partitions here take no new writes; handing their leadership to other replicas"
                : "data disk has space again: Kafka partitions here take writes and catch up")
        return out
    }

    /// A peer message that would write to a Kafka partition while space is short.
    func refusedForSpace(_ env: PeerEnvelope) -> Bool {
        guard env.group != controllerGroup else { return false }
        switch env.message.kind {
        case .append where !env.message.entries.isEmpty, .snapshot, .timeoutNow:
            appendsRefusedForSpace += 1
            return true
        default:
            return false
        }
    }

    /// Hand every Kafka partition this node leads to the next voter in id order.
    func handOffKafkaLeaderships() {
        for g in groups where g.id != controllerGroup && g.withRaft({ $0.role }) == .leader {
            let voters = g.withRaft { $0.membership.voters }.filter { $0 != config.id }.sorted()
            guard let target = voters.first(where: { $0 > config.id }) ?? voters.first else { continue }
            try? g.raft.transferLeadership(to: target)
        }
    }
}
