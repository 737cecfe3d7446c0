import Foundation
import NIOCore
import RillClient
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A node whose data disk fills up: three real nodes, node 3's data directory on a small tmpfs.
@Suite(.serialized)
struct DiskFullTests {
    @Test(
        "a full data disk: the node refuses writes and hands its leaderships away without stopping, producers lose nothing, and it catches up once space returns",
        .enabled(if: getuid() == 0, "mounts a tmpfs as node 3's data disk (needs root, as CI has)"))
    func fullDisk() async throws {
        let c = try LocalCluster()
        defer { c.stop() }
        let data = c.dir + "/node-3/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try #require(try await run("/bin/mount", ["-t", "tmpfs", "-o", "size=40m", "tmpfs", data]).0 == 0)
        defer { _ = try? runBlocking("/bin/umount", ["-l", data]) }
        let config = try String(contentsOfFile: c.configPath(3), encoding: .utf8)
        try (config + "\n[storage]\nmin_free_bytes = 12582912\nwarn_free_bytes = 20971520\n").write(toFile: c.configPath(3), atomically: true, encoding: .utf8)
        try c.startAll()
        try await c.waitSettled()

        let client = try KafkaClient(bootstrap: (0..<3).map { "127.0.0.1:\(c.kafkaPort + $0)" })
        try await Admin(client: client).createTopic("fill", partitions: 3)
        // 48 MiB in 4 KiB records: node 3's replicas outgrow its 40 MiB disk less its 12 MiB floor.
        let producer = try Producer(client: client)
        let value = [UInt8](repeating: 0x61, count: 4096)
        var futures: [EventLoopFutureBox] = []
        for i in 0..<12_000 {
            futures.append(EventLoopFutureBox(try await producer.enqueue(ProducerRecord(topic: "fill", key: Array("k\(i)".utf8), value: value))))
        }
        try await producer.flush()
        var acknowledged = 0
        for f in futures { if (try? await f.future.get()) != nil { acknowledged += 1 } }
        #expect(acknowledged == 12_000, "\(acknowledged) of 12000 acknowledged")

        let full = c.status(3)
        #expect(full?.diskFull == true, "node 3 does not report its disk full (free \(full?.freeBytes ?? 0))")
        #expect(c.isRunning(3), "node 3 stopped: \(c.log(3).suffix(2000))")
        #expect(c.log(3).contains("data disk nearly full"), "no log line about the full disk")
        let led = await c.waitUntil(seconds: 10) { c.status(3)?.partitions.filter { $0.topic == "fill" }.allSatisfy { $0.leader != 3 } ?? false }
        #expect(led != nil, "node 3 still leads a partition of 'fill' with a full disk")

        // Space returns: node 3 takes writes again and catches up with the others.
        try #require(try await run("/bin/mount", ["-o", "remount,size=200m", data]).0 == 0)
        let back = await c.waitUntil(seconds: 30) {
            guard let s3 = c.status(3), s3.diskFull == false, let s1 = c.status(1) else { return false }
            let commits1 = s1.partitions.filter { $0.topic == "fill" }.map(\.commit)
            let commits3 = s3.partitions.filter { $0.topic == "fill" }.map(\.commit)
            return commits1 == commits3
        }
        #expect(back != nil, "node 3 did not catch up after space returned: \(String(describing: c.status(3)?.partitions))")
        #expect(c.log(3).contains("free space back"))

        // Every acknowledged record is there.
        let consumer = Consumer(client: client)
        try await consumer.assign(topic: "fill")
        var read = 0
        let deadline = Date().addingTimeInterval(60)
        while read < 12_000 && Date() < deadline { read += try await consumer.poll().count }
        #expect(read == 12_000)
        try await producer.close()
        await client.shutdown()
    }
}

/// An `EventLoopFuture` held across awaits.
struct EventLoopFutureBox: @unchecked Sendable {
    let future: EventLoopFuture<RecordMetadata>
    init(_ f: EventLoopFuture<RecordMetadata>) { future = f }
}
