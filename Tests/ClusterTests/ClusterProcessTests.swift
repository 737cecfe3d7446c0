import Foundation
import NIOCore
import NIOPosix
import RillTLS
import Testing
import Transport

/// Three real `rill serve` processes with TLS on loopback. Slow by nature (seconds each), so they
/// run one at a time, with bounded waits, and kill everything they start.
@Suite(.serialized)
struct ClusterProcessTests {
    /// Every node agrees on one controller leader, sees all brokers registered and all peers up.
    static func settled(_ c: LocalCluster, nodes: [Int]) -> Bool {
        let statuses = nodes.compactMap { c.status($0) }
        guard statuses.count == nodes.count, let leader = statuses.first?.controllerLeader, leader != 0 else { return false }
        return statuses.allSatisfy { s in
            s.controllerLeader == leader && s.brokers.count == c.nodes
                && s.peers.filter { nodes.contains(Int($0.node)) }.allSatisfy(\.connected)
        }
    }

    @Test("three processes with TLS form a cluster, register through the controller and place a topic's partitions")
    func formAndReplicate() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        let formed = await c.waitUntil(seconds: 20) { Self.settled(c, nodes: [1, 2, 3]) }
        #expect(formed != nil, "cluster did not form; logs:\n\(c.log(1))\n\(c.log(2))\n\(c.log(3))")
        // Ask node 1; if it is not the controller leader it forwards to it.
        var code = 0
        await c.waitUntil(seconds: 5) {
            code = (try? c.createTopic(via: 1, "orders", partitions: 3)) ?? 0
            return code == 202
        }
        #expect(code == 202)
        let placed = await c.waitUntil(seconds: 15) {
            (1...3).allSatisfy { n in
                guard let s = c.status(n) else { return false }
                let mine = s.partitions.filter { $0.replicas.contains(UInt32(n)) }
                return s.partitions.count == 3 && mine.count == 3 && mine.allSatisfy { ($0.leader ?? 0) != 0 }
            }
        }
        #expect(placed != nil, "partitions did not get leaders: \((1...3).map { c.status($0).map { "\($0.partitions)" } ?? "-" })")
        // Prometheus text on /metrics: the controller group's Raft gauges and node-wide aggregates
        // (a partition's own series only with metrics.per_partition), the group-commit fsync
        // histogram, bytes.
        let (metricsCode, metrics) = try httpRequest("GET", port: c.statusPort(1), path: "/metrics")
        #expect(metricsCode == 200)
        #expect(!metrics.contains("rill_raft_is_leader{group=\"1\"}"))
        for needle in ["rill_raft_term{group=\"0\"}", "rill_raft_groups ", "rill_raft_leaders ", "rill_raft_groups_without_leader ",
            "rill_raft_uncommitted_entries_total ", "rill_storage_batch_sync_seconds_count",
            "rill_storage_batch_round_trip_seconds_count", "rill_kafka_produce_seconds_bucket{le=\"0.0002\"}",
            "rill_peer_bytes_sent_total", "rill_peer_connections 2"] {
            #expect(metrics.contains(needle), "missing \(needle) in:\n\(metrics)")
        }
    }

    @Test("kill -9 of the controller leader: a new leader within two election timeouts; the node restarts and catches up")
    func killLeader() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let leader = Int(try #require(c.status(1)?.controllerLeader))
        let survivors = [1, 2, 3].filter { $0 != leader }
        c.kill9(leader)
        // Election timeout: 10 ticks of 100 ms (the defaults), randomized up to twice that.
        let took = await c.waitUntil(seconds: 10) {
            let views = survivors.compactMap { c.status($0) }
            return views.count == 2 && views.allSatisfy { $0.controllerLeader != 0 && $0.controllerLeader != UInt32(leader) }
                && views[0].controllerLeader == views[1].controllerLeader
        }
        let seconds = try #require(took, "no new controller leader after the kill")
        print("new controller leader after \(String(format: "%.2f", seconds)) s")
        #expect(seconds < 2.0 + 0.5, "two election timeouts (2 s) plus scheduling slack")
        // Work done while it is down: a topic.
        var code = 0
        await c.waitUntil(seconds: 5) {
            code = (try? c.createTopic(via: survivors[0], "while-down", partitions: 1)) ?? 0
            return code == 202
        }
        #expect(code == 202)
        try c.start(leader)
        let caughtUp = await c.waitUntil(seconds: 20) {
            guard let back = c.status(leader), let other = c.status(survivors[0]) else { return false }
            return back.partitions.contains { $0.topic == "while-down" } && back.controllerCommit == other.controllerCommit
                && back.controllerLeader == other.controllerLeader && back.controllerLeader != 0
        }
        #expect(caughtUp != nil, "restarted node did not catch up:\n\(c.log(leader).suffix(3000))")
    }

    @Test("SIGTERM on the controller leader hands leadership over before an election timeout, and exits 0")
    func gracefulStop() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let leader = Int(try #require(c.status(1)?.controllerLeader))
        let term = try #require(c.status(1)?.controllerTerm)
        let survivors = [1, 2, 3].filter { $0 != leader }
        let start = Date()
        let status = await c.terminate(leader)
        #expect(status == 0, "graceful stop exit status")
        let took = await c.waitUntil(seconds: 5) {
            let views = survivors.compactMap { c.status($0) }
            return views.count == 2 && views.allSatisfy { $0.controllerLeader != 0 && $0.controllerLeader != UInt32(leader) }
        }
        let seconds = Date().timeIntervalSince(start)
        #expect(took != nil)
        print("leadership handed over \(String(format: "%.2f", seconds)) s after SIGTERM")
        // A handover, not an election after a timeout: well under the 1 s election timeout, one term on.
        #expect(seconds < 1.0)
        #expect(c.status(survivors[0])?.controllerTerm == term + 1)
        #expect(c.log(leader).contains("node stopped"))
    }

    @Test("refused peers: plaintext, another CA, a lying hello, an expired certificate, a stalled handshake; a node of this CA not yet a member may dial in (to join)")
    func refusedPeers() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        try c.startAll()
        try await c.waitSettled()
        let target = 3  // node 3 accepts connections from nodes 1 and 2
        let port = c.peerPort(target)
        let ca = try CertificateAuthority(
            certificatePEM: Array(FileManager.default.contents(atPath: c.dir + "/ca.pem")!),
            privateKeyPEM: Array(FileManager.default.contents(atPath: c.dir + "/ca.key")!))
        let foreign = try CertificateAuthority(name: "another-cluster")
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        defer { group.shutdownGracefully { _ in } }

        func expectLogged(_ needle: String, _ what: String) async {
            let found = await c.waitUntil(seconds: 8) { c.log(target).contains(needle) }
            #expect(found != nil, "\(what): node \(target) did not log '\(needle)'; log tail:\n\(c.log(target).suffix(2000))")
        }

        // Plaintext on the peer port: a peer frame without TLS (a node configured without it).
        var frame = ByteBuffer()
        PeerFrame.hello(node: 1, cluster: "dev", version: PeerFrame.version).encode(into: &frame)
        try PeerProbe.plaintext(port: port, bytes: Array(frame.readableBytesView))
        await expectLogged("plaintext on a TLS port?", "plaintext")

        // A certificate from another CA.
        let alien = try foreign.issueNodeCertificate(node: 1)
        try await PeerProbe.tls(group: group, port: port, certificate: alien, trust: ca.certificatePEM, hello: 1)
        await expectLogged("unable to get local issuer certificate", "foreign CA")

        // A certificate of this CA for a node that is not a member: holding one is the right to
        // join (`rill node add` issues it), so its link is taken — nodes of removed ids are
        // refused (ElasticClusterTests).
        try await PeerProbe.tls(group: group, port: port, certificate: ca.issueNodeCertificate(node: 9), trust: ca.certificatePEM, hello: 9)
        await expectLogged("peer=9", "a node dialing in to join")

        // A certificate for node 2 whose hello claims node 1.
        try await PeerProbe.tls(group: group, port: port, certificate: ca.issueNodeCertificate(node: 2), trust: ca.certificatePEM, hello: 1)
        await expectLogged("peer says it is node 1 but its certificate is for node 2", "lying hello")

        // An expired certificate.
        try await PeerProbe.tls(
            group: group, port: port, certificate: ca.issueNodeCertificate(node: 1, notBefore: -172_800, notAfter: -86_400),
            trust: ca.certificatePEM, hello: 1)
        await expectLogged("certificate has expired", "expired")

        // A connection that never starts its handshake (default deadline: 5 s).
        let stalled = try PeerProbe.openSilent(port: port)
        await expectLogged("TLS handshake timed out", "stall")
        close(stalled)

        // The cluster kept working through all of it.
        #expect(Self.settled(c, nodes: [1, 2, 3]))
        var code = 0
        await c.waitUntil(seconds: 5) {
            code = (try? c.createTopic(via: 1, "still-fine", partitions: 1)) ?? 0
            return code == 202
        }
        #expect(code == 202)
        // Each refusal is logged once, not once per retry or per byte.
        #expect(c.log(target).components(separatedBy: "but its certificate is for node 2").count - 1 == 1)
    }
}
