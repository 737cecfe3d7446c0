import Foundation
import KafkaProtocol
import NIOCore
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Backpressure on a Kafka connection against a real node: a client that pipelines requests
/// without reading answers is not read past its budget (`KafkaReadBudget`), so the node does not
/// hold what it sends, and other clients are served meanwhile.
@Suite(.serialized)
struct KafkaBackpressureTests {
    static func frame(_ key: ApiKey, version: Int16, correlation: Int32, _ body: (inout KafkaWriter) -> Void) -> [UInt8] {
        var w = KafkaWriter()
        RequestHeader(apiKey: key.rawValue, apiVersion: version, correlationID: correlation, clientID: "pipeliner").encode(&w)
        body(&w)
        var framed = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &framed)
        return Array(framed.readableBytesView)
    }

    @Test("100,000 pipelined long-poll fetches, answers unread: the node stops reading within a few MB, and answers another client")
    func pipeliningClientIsHeldBack() async throws {
        let c = try LocalCluster(nodes: 1)
        defer { c.stop() }
        try c.start(1)
        try #require(await c.waitUntil(seconds: 20) { c.log(1).contains("node listening") } != nil, "node did not start:\n\(c.log(1))")
        var code = 0
        await c.waitUntil(seconds: 10) {
            code = (try? c.createTopic(via: 1, "quiet", partitions: 1)) ?? 0
            return code == 202
        }
        try #require(code == 202)
        try #require(await c.waitUntil(seconds: 15) { c.status(1)?.partitions.contains { $0.topic == "quiet" && ($0.leader ?? 0) != 0 } ?? false } != nil)
        // Each fetch waits up to 20 s for a record that never comes: none is answered in this test.
        let fetch = Self.frame(.fetch, version: 11, correlation: 1) {
            FetchRequest(maxWaitMs: 20_000, minBytes: 1, maxBytes: 1 << 20, topics: [
                .init(topic: "quiet", partitions: [.init(partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20)])
            ]).encode(&$0, version: 11)
        }
        let count = 100_000
        var all: [UInt8] = []
        all.reserveCapacity(fetch.count * count)
        for _ in 0..<count { all += fetch }
        let fd = try #require(connectLoopback(port: c.kafkaPort))
        defer { close(fd) }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        // Send until the connection has taken nothing for a second (the node stopped reading).
        var sent = 0
        var idleSince = Date()
        while sent < all.count && Date().timeIntervalSince(idleSince) < 1 {
            let n = all[sent...].withUnsafeBytes { send(fd, $0.baseAddress, min($0.count, 65536), Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
                idleSince = Date()
            } else {
                try await Task.sleep(for: .milliseconds(10))
            }
        }
        // Without the budget the node read all 100,000 (~\(all.count / 1_000_000) MB) and held them.
        #expect(sent < all.count / 2, "the node took \(sent) of \(all.count) bytes")
        // Another connection is answered meanwhile (ApiVersions v0).
        let other = try #require(connectLoopback(port: c.kafkaPort))
        defer { close(other) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(other, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let versions = Self.frame(.apiVersions, version: 0, correlation: 42) { _ in }
        #expect(versions.withUnsafeBytes { send(other, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == versions.count)
        var head = [UInt8](repeating: 0, count: 8)
        #expect(recv(other, &head, 8, Int32(MSG_WAITALL)) == 8)
        #expect(Int32(bigEndian: head[4..<8].withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }) == 42)
        #expect(c.processes[1]?.isRunning == true)
    }
}
