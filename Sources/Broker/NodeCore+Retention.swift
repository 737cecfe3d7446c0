import Primitives
import Raft

/// Retention by size and time (Kafka's `retention.bytes` and `retention.ms`). Each replica trims
/// its own log, as Kafka's and Redpanda's do: storage measures a log against its partition's policy
/// after every write to it and, for retention by time, every `retentionCheckMs` on every partition;
/// the node then snapshots the partition's state and drops the whole segments before the point
/// (`maybeCompact`). Offsets never change; the log start offset moves forward. A follower that
/// needs what its leader dropped is sent a snapshot (Raft's usual catch-up).
extension NodeCore {
    /// The retention and compaction policy of every group here, from the controller's topics. Its inputs change only with
    /// a controller entry applied or a group added, so it is not recomputed on other controller
    /// Readies (heartbeats, every few ticks on the leader).
    func refreshRetention() {
        let inputs = (controller.appliedIndex, groups.count)
        guard retentionRefreshedFor.map({ $0 != inputs }) ?? true else { return }
        retentionRefreshedFor = inputs
        var byGroup: [GroupID: RetentionPolicy] = [:]
        var compactedGroups: [GroupID: CompactionPolicy] = [:]
        var segmentBytes: [GroupID: Int] = [:]
        for topic in controller.topics {
            let isInternal = InternalTopic.isInternal(topic.name)
            let policy = isInternal ? RetentionPolicy.keepEverything
                : config.retentionOverride ?? RetentionPolicy.of(topic, in: controller)
            let compaction = isInternal ? nil : config.compactionOverride ?? CompactionPolicy.of(topic, in: controller)
            // Only a value set for the topic or the cluster: storage's own size stands otherwise
            // (the simulator and the tests use small segments).
            let bytes = isInternal ? config.offsetsSegmentBytes
                : (topic.configs["segment.bytes"] ?? controller.clusterConfigs["log.segment.bytes"]).flatMap { Int($0) }
            for p in topic.partitions {
                byGroup[p.group] = policy
                compactedGroups[p.group] = compaction
                segmentBytes[p.group] = bytes
            }
        }
        for g in groups {
            let policy: RetentionPolicy?
            if g.id == controllerGroup {
                policy = nil
            } else if g.internalTopic != nil {
                policy = .belowSnapshot
            } else if g.isKafkaPartition {
                policy = byGroup[g.id]
            } else {
                policy = config.retentionOverride  // the simulator's static groups
            }
            g.retention = Self.withDeletions(policy, g)
            g.compaction = g.isKafkaPartition && g.internalTopic == nil ? compactedGroups[g.id] : nil
            if g.isKafkaPartition, g.segmentBytesSent != .some(segmentBytes[g.id]) {
                g.segmentBytesSent = .some(segmentBytes[g.id])
                queued.append(.setSegmentBytes(g.id, segmentBytes[g.id]))
                if let k = position(g.id) { touch(k) }
            }
        }
    }

    /// Every `retentionCheckMs`: measure the groups with retention by time, written to or not.
    func measureRetentionByTime() {
        let every = max(1, config.ticks(milliseconds: config.retentionCheckMs))
        guard ticks % every == 0 else { return }
        for g in groups {
            guard let policy = g.retention, policy.ms != nil || policy.belowOffset != nil else { continue }
            queued.append(.measureRetention(g.id, policy))
            if let k = position(g.id) { touch(k) }
        }
    }
}
