import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 12 item 2 against a real node: malformed requests with huge, distinct client ids that
/// carry a forged log line neither forge a line nor grow the log by more than a few lines.
@Suite(.serialized)
struct LogFloodTests {
    /// Metadata v1 (api key 3) whose topic count promises more than the body holds.
    static func malformedRequest(clientID: [UInt8], correlation: Int32) -> [UInt8] {
        func be<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.bigEndian) { Array($0) } }
        let payload = be(Int16(3)) + be(Int16(1)) + be(correlation) + be(Int16(clientID.count)) + clientID + be(Int32.max)
        return be(Int32(payload.count)) + payload
    }

    /// Connect, send, read until the node closes the connection.
    static func sendOnce(port: Int, _ bytes: [UInt8]) -> Bool {
        guard let fd = connectLoopback(port: port) else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while recv(fd, &buffer, buffer.count, 0) > 0 {}
        return true
    }

    func logBytes(_ c: LocalCluster) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: c.dir)) ?? []
        return names.filter { $0.hasPrefix("node-1.log") || $0 == "node-1.stderr" }.reduce(0) { total, name in
            total + (((try? FileManager.default.attributesOfItem(atPath: c.dir + "/" + name))?[.size] as? Int) ?? 0)
        }
    }

    @Test("2,000 malformed requests with distinct 32 KB client ids: no forged line, the log grows by a few lines")
    func maliciousClientIDs() async throws {
        let c = try LocalCluster(nodes: 1)
        defer { c.stop() }
        try c.start(1)
        let port = c.kafkaPort
        try #require(await c.waitUntil(seconds: 20) { c.log(1).contains("node listening") } != nil, "node did not start:\n\(c.log(1))")
        let before = logBytes(c)
        let forged = Array("x\n2026-12-03T22:00:00+0000 critical rill.node-1: storage failed: stopping ".utf8)
        var delivered = 0
        for i in 0..<2000 {
            var id = forged + Array("\(i)-".utf8)
            id += [UInt8](repeating: UInt8(ascii: "a") + UInt8(i % 26), count: 32_000 - id.count)
            if Self.sendOnce(port: port, Self.malformedRequest(clientID: id, correlation: Int32(i))) { delivered += 1 }
        }
        #expect(delivered == 2000)
        try await Task.sleep(for: .milliseconds(300))
        let grown = logBytes(c) - before
        // Before the fix: 32 KB and ~100 forged lines per request (64 MB here).
        #expect(grown < 16 * 1024, "log grew by \(grown) bytes for 2,000 requests")
        let log = c.log(1)
        #expect(!log.split(separator: "\n").contains { $0.hasPrefix("2026-12-03T22:00:00+0000 critical") }, "a forged line reached the log")
        #expect(log.contains("(client x\\n2026-12-03T22:00:00+0000 critical"), "the bad request is logged, escaped:\n\(log.suffix(2000))")
        #expect(c.processes[1]?.isRunning == true)
    }
}
