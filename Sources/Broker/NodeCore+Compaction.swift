import Primitives
import Raft

/// Log compaction (`cleanup.policy=compact`): every `compactionCheckMs` the node asks storage to
/// clean each compacted partition it hosts; storage's `LogCleaner` decides whether the log is due
/// (dirty ratio, lag, expiring tombstones) and cleans the closed segments the partition's durable
/// snapshot covers. When closed segments lie beyond the snapshot, storage says so and the node
/// snapshots the partition (memory only: the log stays), so the next pass reaches them.
extension NodeCore {
    func cleanCompactedLogs() {
        let every = max(1, config.ticks(milliseconds: config.compactionCheckMs))
        guard ticks % every == 0 else { return }
        for g in groups {
            guard let policy = g.compaction else { continue }
            queued.append(.clean(g.id, policy))
            if let k = position(g.id) { touch(k) }
        }
    }

    /// What a completed batch's cleaning found: snapshots wanted, passes done (logged).
    func noteCompaction(_ c: StorageCompletion, into out: inout NodeOutput) {
        for (gid, through) in c.wantsSnapshot {
            guard let g = group(gid) else { continue }
            g.snapshotWanted = through
        }
        for (gid, pass) in c.compacted where pass.bytesAfter != pass.bytesBefore {
            out.notices.append(
                "compacted \(partitionName(gid)): \(pass.segments) segments, \(pass.bytesBefore) → \(pass.bytesAfter) bytes, "
                    + "\(pass.recordsRemoved) records and \(pass.tombstonesRemoved) tombstones removed")
        }
    }

    /// "topic-partition (group g)" for a log line (the topic name escaped).
    func partitionName(_ gid: GroupID) -> String {
        for t in controller.topics {
            if let p = t.partitions.first(where: { $0.group == gid }) { return "\(LogText.safe(t.name))-\(p.partition) (group \(gid.value))" }
        }
        return "group \(gid.value)"
    }
}
