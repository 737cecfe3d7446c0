import Broker
import CoreMetrics
import Primitives
import Prometheus
import Raft

/// A node's metrics, through swift-metrics with a Prometheus registry of its own (not the global
/// bootstrap, so several runtimes can live in one process). Counters and the fsync histogram are
/// updated as things happen; Raft gauges are refreshed from the core at each scrape: node-wide
/// aggregates always, the controller group's own series, and every partition's only with
/// `metrics.per_partition` (series per partition are what made a 10,000-partition node's
/// /metrics 2 MB, and creating them took the registry seconds).
final class NodeMetrics: @unchecked Sendable {
    let registry = PrometheusCollectorRegistry()
    let factory: PrometheusMetricsFactory
    let bytesSent: CoreMetrics.Counter
    let bytesReceived: CoreMetrics.Counter
    let framesSent: CoreMetrics.Counter
    let framesDropped: CoreMetrics.Counter
    /// Raft messages from peers dropped as invalid (what no correct node sends).
    let messagesRejected: CoreMetrics.Counter
    /// Peer links closed because nothing (not even a keepalive) arrived within the deadline.
    let peerLinksDead: CoreMetrics.Counter
    /// Free bytes on the data disk, and 1 while the node refuses writes for want of space.
    let storageFreeBytes: CoreMetrics.Gauge
    let storageDiskFull: CoreMetrics.Gauge
    let storageBatches: CoreMetrics.Counter
    /// Time to write and fsync one storage batch (group commit), on the disk thread.
    let storageSync: CoreMetrics.Timer
    /// From handing a batch to the disk thread to its completion back on the node's loop (the
    /// sync plus waiting behind reads and the two hops).
    let storageRoundTrip: CoreMetrics.Timer
    /// From a Produce request read off the socket to its response written (acks 1 and all).
    let produceLatency: CoreMetrics.Timer
    let peerConnections: CoreMetrics.Gauge
    let kafkaConnections: CoreMetrics.Gauge
    let kafkaRequests: CoreMetrics.Counter
    private var groupGauges: [GroupID: GroupGauges] = [:]
    let perPartition: Bool
    /// Groups this node replicates, leads, and knows no leader of; entries not yet committed
    /// over all groups, and the most in one group.
    let raftGroups: CoreMetrics.Gauge
    let raftLeaders: CoreMetrics.Gauge
    let raftLeaderless: CoreMetrics.Gauge
    let raftUncommitted: CoreMetrics.Gauge
    let raftUncommittedMax: CoreMetrics.Gauge
    /// Partitions moving (this node's copy of the controller's state), and of the groups this
    /// node leads, the learners still catching up (a move's new replicas).
    let partitionsMoving: CoreMetrics.Gauge
    let learnersCatchingUp: CoreMetrics.Gauge

    struct GroupGauges {
        let term: CoreMetrics.Gauge
        let leader: CoreMetrics.Gauge
        let commit: CoreMetrics.Gauge
        let applied: CoreMetrics.Gauge
        let commitLag: CoreMetrics.Gauge
    }

    init(node: NodeID, perPartition: Bool = false) {
        self.perPartition = perPartition
        var f = PrometheusMetricsFactory(registry: registry)
        // fsyncs on SSDs take tens of microseconds to milliseconds: finer buckets than the default.
        // Fine below a millisecond, where a one-record produce lives (ops/bench-produce.sh reads
        // its latency breakdown from these).
        f.defaultDurationHistogramBuckets = [
            .microseconds(25), .microseconds(50), .microseconds(75), .microseconds(100), .microseconds(125),
            .microseconds(150), .microseconds(175), .microseconds(200), .microseconds(250), .microseconds(300),
            .microseconds(350), .microseconds(400), .microseconds(500), .microseconds(750), .milliseconds(1),
            .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
            .milliseconds(100), .milliseconds(250), .seconds(1),
        ]
        factory = f
        bytesSent = CoreMetrics.Counter(label: "rill_peer_bytes_sent_total", factory: f)
        bytesReceived = CoreMetrics.Counter(label: "rill_peer_bytes_received_total", factory: f)
        framesSent = CoreMetrics.Counter(label: "rill_peer_frames_sent_total", factory: f)
        framesDropped = CoreMetrics.Counter(label: "rill_peer_frames_dropped_total", factory: f)
        messagesRejected = CoreMetrics.Counter(label: "rill_peer_messages_rejected_total", factory: f)
        peerLinksDead = CoreMetrics.Counter(label: "rill_peer_links_dead_total", factory: f)
        storageFreeBytes = CoreMetrics.Gauge(label: "rill_storage_free_bytes", factory: f)
        storageDiskFull = CoreMetrics.Gauge(label: "rill_storage_disk_full", factory: f)
        storageBatches = CoreMetrics.Counter(label: "rill_storage_batches_total", factory: f)
        storageSync = CoreMetrics.Timer(label: "rill_storage_batch_sync_seconds", factory: f)
        storageRoundTrip = CoreMetrics.Timer(label: "rill_storage_batch_round_trip_seconds", factory: f)
        produceLatency = CoreMetrics.Timer(label: "rill_kafka_produce_seconds", factory: f)
        peerConnections = CoreMetrics.Gauge(label: "rill_peer_connections", factory: f)
        kafkaConnections = CoreMetrics.Gauge(label: "rill_kafka_connections", factory: f)
        kafkaRequests = CoreMetrics.Counter(label: "rill_kafka_requests_total", factory: f)
        raftGroups = CoreMetrics.Gauge(label: "rill_raft_groups", factory: f)
        raftLeaders = CoreMetrics.Gauge(label: "rill_raft_leaders", factory: f)
        raftLeaderless = CoreMetrics.Gauge(label: "rill_raft_groups_without_leader", factory: f)
        raftUncommitted = CoreMetrics.Gauge(label: "rill_raft_uncommitted_entries_total", factory: f)
        raftUncommittedMax = CoreMetrics.Gauge(label: "rill_raft_uncommitted_entries_max", factory: f)
        partitionsMoving = CoreMetrics.Gauge(label: "rill_partitions_moving", factory: f)
        learnersCatchingUp = CoreMetrics.Gauge(label: "rill_raft_learners", factory: f)
    }

    /// Refresh the per-group gauges from the core (on the node's loop).
    func refresh(from core: NodeCore, connections: Int) {
        peerConnections.record(connections)
        var leaders = 0
        var leaderless = 0
        var uncommitted: Int64 = 0
        var uncommittedMax: Int64 = 0
        var learners = 0
        for g in core.groups {
            let (role, leader, commit, last) = g.withRaft { ($0.role, $0.leader, $0.commitIndex, $0.lastIndex) }
            if role == .leader {
                leaders += 1
                learners += g.withRaft { $0.membership.learners.count }
            }
            if leader.isNone { leaderless += 1 }
            let lag = Int64(last.value) - Int64(commit.value)
            uncommitted += lag
            uncommittedMax = max(uncommittedMax, lag)
        }
        raftGroups.record(core.groups.count)
        raftLeaders.record(leaders)
        raftLeaderless.record(leaderless)
        raftUncommitted.record(uncommitted)
        raftUncommittedMax.record(uncommittedMax)
        partitionsMoving.record(core.controller.movesInProgress.count)
        learnersCatchingUp.record(learners)
        for g in core.groups where perPartition || g.id == controllerGroup {
            let gauges = groupGauges[g.id] ?? makeGroupGauges(g.id)
            groupGauges[g.id] = gauges
            let (term, role, commit, applied, last) = g.withRaft { ($0.term, $0.role, $0.commitIndex, $0.appliedIndex, $0.lastIndex) }
            gauges.term.record(Int64(term.value))
            gauges.leader.record(role == .leader ? 1 : 0)
            gauges.commit.record(Int64(commit.value))
            gauges.applied.record(Int64(applied.value))
            gauges.commitLag.record(Int64(last.value) - Int64(commit.value))
        }
    }

    private func makeGroupGauges(_ g: GroupID) -> GroupGauges {
        let d = [("group", String(g.value))]
        return GroupGauges(
            term: CoreMetrics.Gauge(label: "rill_raft_term", dimensions: d, factory: factory),
            leader: CoreMetrics.Gauge(label: "rill_raft_is_leader", dimensions: d, factory: factory),
            commit: CoreMetrics.Gauge(label: "rill_raft_commit_index", dimensions: d, factory: factory),
            applied: CoreMetrics.Gauge(label: "rill_raft_applied_index", dimensions: d, factory: factory),
            commitLag: CoreMetrics.Gauge(label: "rill_raft_uncommitted_entries", dimensions: d, factory: factory))
    }

    /// The Prometheus text exposition.
    func render() -> String { registry.emitToString() }
}
