import Broker
import Primitives
import Raft
import Testing
@testable import Transport

/// `/metrics` with many groups: node-wide Raft aggregates always, a partition's own series only
/// with `metrics.per_partition`.
struct NodeMetricsTests {
    static func core() throws -> NodeCore {
        var c = NodeConfig(id: 1, members: [1], kafkaHost: "h", kafkaPort: 9093, seed: 1)
        c.staticGroups = (1...40 as ClosedRange<UInt32>).map { (GroupID($0), [1]) }
        c.firstTopicGroup = 41
        let core = try NodeCore(config: c, recovered: [])
        for g in core.groups { g.withRaft { $0.campaign() } }
        _ = core.drain()
        return core
    }

    @Test("by default: the controller group's series and the aggregates, no partition's series")
    func aggregates() throws {
        let m = NodeMetrics(node: 1)
        m.refresh(from: try Self.core(), connections: 0)
        let text = m.render()
        #expect(text.contains("rill_raft_groups 41"))
        #expect(text.contains("rill_raft_leaders 41"))
        #expect(text.contains("rill_raft_groups_without_leader 0"))
        #expect(text.contains("rill_raft_term{group=\"0\"}"))
        #expect(!text.contains("group=\"7\""))
    }

    @Test("metrics.per_partition: every group's five series as well")
    func perPartition() throws {
        let m = NodeMetrics(node: 1, perPartition: true)
        m.refresh(from: try Self.core(), connections: 0)
        let text = m.render()
        for name in ["rill_raft_term", "rill_raft_is_leader", "rill_raft_commit_index", "rill_raft_applied_index", "rill_raft_uncommitted_entries"] {
            #expect(text.contains("\(name){group=\"7\"}"), "\(name)")
        }
        #expect(text.contains("rill_raft_groups 41"))
    }
}
