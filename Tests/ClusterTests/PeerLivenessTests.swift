import Foundation
import Testing

/// Peer links under a silent partition: three real nodes, with nodes 1 and 2 reaching node 3
/// through a proxy that can drop every byte without closing anything.
@Suite(.serialized)
struct PeerLivenessTests {
    @Test("a silent partition is noticed within the dead-link deadline, logged and counted; links are back within seconds of the heal")
    func silentPartition() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        let proxy = try BlackholeProxy(upstreamPort: c.peerPort(3))
        defer { proxy.stop() }
        for n in [1, 2] {
            let path = c.configPath(n)
            let text = try String(contentsOfFile: path, encoding: .utf8)
            let rerouted = text.replacingOccurrences(of: "3 = \"127.0.0.1:\(c.peerPort(3))\"", with: "3 = \"127.0.0.1:\(proxy.port)\"")
            try #require(rerouted != text, "node \(n)'s config names node 3 differently:\n\(text)")
            try rerouted.write(toFile: path, atomically: true, encoding: .utf8)
        }
        try c.startAll()
        try await c.waitSettled()

        proxy.blackhole = true
        let cut = Date()
        // Node 3 hears nothing from 1 and 2 (and they nothing from it); TCP says nothing.
        let noticed = await c.waitUntil(seconds: 15) {
            guard let s = c.status(3) else { return false }
            return s.peers.allSatisfy { !$0.connected }
        }
        let noticedAfter = Date().timeIntervalSince(cut)
        #expect(noticed != nil, "node 3 still reports its links connected \(noticedAfter) s into a silent partition")
        // Election timeout 1 s: dead after 3 s of silence, checked every 250 ms.
        #expect(noticedAfter < 4.5, "noticed only after \(noticedAfter) s")
        // Each node times its links on its own: node 1's deadline may pass up to a keepalive
        // interval and a check after node 3's.
        #expect(await c.waitUntil(seconds: 2) { c.log(3).contains("peer link dead") } != nil, "node 3 did not log the dead links")
        #expect(await c.waitUntil(seconds: 2) { c.log(1).contains("peer link dead") } != nil, "node 1 did not log its dead link to node 3")
        try? #require(await c.waitUntil(seconds: 10) { metric(c, 3, "rill_peer_links_dead_total") >= 2 } != nil)

        try await Task.sleep(for: .seconds(5))  // a partition of some seconds: redials fail meanwhile
        proxy.blackhole = false
        let healed = Date()
        let back = await c.waitUntil(seconds: 15) { ClusterProcessTests.settled(c, nodes: [1, 2, 3]) }
        let backAfter = Date().timeIntervalSince(healed)
        #expect(back != nil, "links not back \(backAfter) s after the heal")
        #expect(backAfter < 3, "links back only \(backAfter) s after the heal")
        print("silent partition: noticed after \(String(format: "%.2f", noticedAfter)) s, links back \(String(format: "%.2f", backAfter)) s after the heal")
    }

    /// A counter's value from a node's /metrics (0 when absent).
    func metric(_ c: LocalCluster, _ n: Int, _ name: String) -> Double {
        guard let (code, body) = try? httpRequest("GET", port: c.statusPort(n), path: "/metrics"), code == 200 else { return 0 }
        for line in body.split(separator: "\n") where line.hasPrefix(name + " ") || line.hasPrefix(name + "{") {
            return Double(line.split(separator: " ").last ?? "") ?? 0
        }
        return 0
    }
}
