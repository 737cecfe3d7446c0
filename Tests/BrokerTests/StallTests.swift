import Broker
import KafkaProtocol
import NIOCore
import Raft
import Testing

/// `NodeCore+Stall`: a node that stood still past the bound within which no other node can be
/// elected steps down from what it leads before it answers anything; a shorter stall, or a group
/// nobody else could lead, changes nothing.
struct StallTests {
    /// Three nodes whose monotonic clocks read `clock`, ticked 100 ms apart until settled.
    static func cluster(clock: RetentionTests.Clock, nodes: Int = 3) throws -> MiniCluster {
        let c = try MiniCluster(nodes: nodes)
        for core in c.cores { core.monotonicMs = { clock.ms } }
        for _ in 0..<40 {
            clock.ms += 100
            c.run(ticks: 1)
        }
        return c
    }

    static func apiVersions(_ core: NodeCore) -> NodeOutput {
        let header = RequestHeader(apiKey: ApiKey.apiVersions.rawValue, apiVersion: 0, correlationID: 1, clientID: "t")
        return core.handleKafka(KafkaRequest(connection: 1, sequence: 0, header: header, body: ByteBuffer())).1
    }

    @Test("stood still past the bound (765 ms with the defaults): the first Kafka request finds it, and every group led there steps down")
    func longStallStepsDown() throws {
        let clock = RetentionTests.Clock()
        let c = try Self.cluster(clock: clock)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(controllerGroup)?.role == .leader })
        #expect(c.cores[leader].leadingGroups > 0)
        clock.ms += 2000  // stopped: no tick for 2 s
        let out = Self.apiVersions(c.cores[leader])
        #expect(c.cores[leader].leadingGroups == 0)
        #expect(c.cores[leader].stallsFound == 1)
        #expect(out.notices.contains { $0.contains("stood still for 2000 ms") })
        // Elections decide again: someone leads the controller afterwards.
        for _ in 0..<60 {
            clock.ms += 100
            c.run(ticks: 1)
        }
        #expect(c.cores.contains { $0.raftOf(controllerGroup)?.role == .leader })
    }

    @Test("a peer message or a tick finds a stall too; a stall under the bound changes nothing")
    func shortStallKeepsLeadership() throws {
        let clock = RetentionTests.Clock()
        let c = try Self.cluster(clock: clock)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(controllerGroup)?.role == .leader })
        let led = c.cores[leader].leadingGroups
        clock.ms += 700  // under 765 ms
        _ = Self.apiVersions(c.cores[leader])
        #expect(c.cores[leader].leadingGroups == led)
        #expect(c.cores[leader].stallsFound == 0)
        clock.ms += 1000
        _ = c.cores[leader].receive([])
        #expect(c.cores[leader].leadingGroups == 0)
        #expect(c.cores[leader].stallsFound == 1)
        clock.ms += 1000
        let out = c.cores[leader].tick()
        #expect(c.cores[leader].stallsFound == 2)
        #expect(out.notices.isEmpty, "nothing led there any more: nothing to say")
    }

    @Test("a single node's groups have no other voter: a stall keeps them led")
    func singleVoterKeepsLeading() throws {
        let clock = RetentionTests.Clock()
        let c = try Self.cluster(clock: clock, nodes: 1)
        let led = c.cores[0].leadingGroups
        #expect(led > 0)
        clock.ms += 5000
        _ = Self.apiVersions(c.cores[0])
        #expect(c.cores[0].leadingGroups == led)
        #expect(c.cores[0].stallsFound == 1)
    }
}
