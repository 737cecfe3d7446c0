import Primitives
import Raft

/// A bound on what moving partitions cost the node that leads them: the storage reads that catch
/// up a group's learners — a move's new replicas, which may need the whole log — share a budget of
/// `moveThrottleBytesPerSec` (Kafka's `leader.replication.throttled.rate`, Redpanda's
/// `raft_learner_recovery_rate`), refilled every tick and holding at most one second's worth.
/// A learner's read goes out while the budget is positive and is charged the bytes it read when
/// it completes (each learner has one read out at a time, so the overdraft is bounded); over
/// budget, it waits for the refill. Producers, consumers and the voters' own catch-up are never
/// held back. A read held past Raft's read timeout is given up by Raft and asked again; the old
/// one is then dropped here unread (`RaftNode.isAwaiting`).
extension NodeCore {
    /// A learner's read as a storage read of at most a tick's worth of the budget (a tenth of a
    /// second's, at least 4 KiB; storage returns at least one entry): Raft asks for the next
    /// part once this one is sent, so no single read overdraws the budget by much.
    func catchUpRead(_ read: LogRead, of g: Group) -> StorageRead {
        guard isThrottled(read, of: g) else { return storageRead(read, group: g) }
        let cap = max(4096, config.moveThrottleBytesPerSec / 10)
        return storageRead(LogRead(peer: read.peer, from: read.from, maxBytes: min(read.maxBytes, cap), term: read.term), group: g)
    }

    /// Whether `read` is held back: a learner's catch-up with the budget spent.
    func throttlesCatchUp(_ read: LogRead, of g: Group) -> Bool {
        guard isThrottled(read, of: g) else { return false }
        if catchUpBudget > 0 && !throttledCatchUp.contains(where: { $0.group == g.id }) { return false }
        catchUpReadsHeld += 1
        // One read per learner waits: a newer one replaces it.
        throttledCatchUp.removeAll { $0.group == g.id && $0.read.peer == read.peer }
        throttledCatchUp.append((g.id, read))
        return true
    }

    func isThrottled(_ read: LogRead, of g: Group) -> Bool {
        config.moveThrottleBytesPerSec > 0 && g.isKafkaPartition && g.withRaft { $0.membership.isLearner(read.peer) }
    }

    /// A learner's catch-up read completed: charge what it read.
    func chargeCatchUp(_ read: LogRead, entries: [Entry], of g: Group) {
        guard isThrottled(read, of: g) else { return }
        catchUpBudget -= entries.reduce(0) { $0 + $1.sizeBytes }
    }

    /// On a tick: refill the budget, and send the held reads while it lasts, oldest first.
    func releaseThrottledCatchUp(into out: inout NodeOutput) {
        let rate = config.moveThrottleBytesPerSec
        guard rate > 0 else { return }
        catchUpBudget = min(catchUpBudget + max(1, rate * config.tickMilliseconds / 1000), rate)
        while catchUpBudget > 0, !throttledCatchUp.isEmpty {
            let (gid, read) = throttledCatchUp.removeFirst()
            guard let g = group(gid), g.withRaft({ $0.isAwaiting(read) }) else { continue }
            out.reads.append(catchUpRead(read, of: g))
        }
    }
}
