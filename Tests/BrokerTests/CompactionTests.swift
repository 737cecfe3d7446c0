@testable import Broker
import KafkaProtocol
import NIOCore
import Primitives
import Raft
import Storage
import Testing

/// Log compaction (`cleanup.policy=compact`) through the node cores of an in-memory cluster with
/// 4 KiB segments: each replica cleans its own closed segments, offsets never change, every key
/// keeps its newest value, tombstones go after delete.retention.ms, and a follower that catches
/// up from its leader's compacted storage chains the same history.
struct CompactionTests {
    /// `quietNode` (an index) never cleans its own log (its check comes once a day).
    static func cluster(_ configs: [(String, String)], clock: RetentionTests.Clock, quietNode: Int? = nil) throws -> (MiniCluster, Int, GroupID) {
        let quiet = quietNode.map { NodeID(UInt32($0 + 1)) }
        let c = try MiniCluster(nodes: 3, configure: { $0.compactionCheckMs = $0.id == quiet ? 86_400_000 : 100 }, logConfig: { g in
            var small = PartitionLogConfig()
            small.segmentBytesMax = 4096
            return g == controllerGroup ? PartitionLogConfig() : KafkaEntry.logConfig(small)
        })
        clock.ms = max(clock.ms, 10_000)  // records are stamped 1000: not in the future
        for s in c.storages { s.clockMs = { clock.ms } }
        c.run(ticks: 40)
        let (out, _) = try c.cores[c.controllerIndex].proposeToController(
            .createTopic(name: "t", partitions: 1, replicationFactor: 3, configs: ConfigOverrides([("cleanup.policy", "compact")] + configs)))
        c.take(c.controllerIndex, out)
        c.run(ticks: 60)
        let gid = try #require(c.cores[0].controller.topic("t")?.partitions.first?.group)
        let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
        return (c, leader, gid)
    }

    /// Produce `records` (key, value) pairs in batches of three, acks=all.
    @discardableResult
    static func produce(_ c: MiniCluster, _ leader: Int, _ records: [(String, String?)], from correlation: Int32) throws -> [ErrorCode] {
        var codes: [ErrorCode] = []
        for (k, start) in stride(from: 0, to: records.count, by: 3).enumerated() {
            let chunk = records[start..<min(start + 3, records.count)].map { (key: Array($0.0.utf8) as [UInt8]?, value: $0.1.map { Array($0.utf8) }) }
            let batch = RecordBatch.build(records: chunk, timestamp: 1000)
            let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch.bytes)])])
            let id = correlation + Int32(k)
            var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 8, correlation: id) { request.encode(&$0, version: 8) }, correlation: id)
            codes.append(try ProduceResponse.decode(&r, version: 8).responses[0].partitionResponses[0].errorCode)
        }
        return codes
    }

    /// Every record the leader serves from offset 0 on, in order.
    static func readAll(_ c: MiniCluster, _ leader: Int, correlation: Int32) throws -> [DecodedRecord] {
        var out: [DecodedRecord] = []
        var offset: Int64 = 0
        for k in 0..<100 {
            let p = try KafkaDataTests.fetch(c, from: leader, offset: offset, correlation: correlation + Int32(k))
            #expect(p.errorCode == ErrorCode.none)
            let batches = try RecordBatch.batches(in: try #require(p.records), from: .log)
            guard let last = batches.last else { break }
            for b in batches { out += try b.decodedRecords().filter { $0.offset >= offset } }
            offset = last.nextOffset
        }
        return out
    }

    /// 180 records over 7 keys, each value naming its position.
    static let history: [(String, String?)] = (0..<180).map { n in ("k\(n % 7)", "value-\(n)-" + String(repeating: "x", count: 90)) }

    @Test("each replica keeps every key's newest value, offsets unchanged and increasing, the log far smaller; replicas chain the same history")
    func keepsNewest() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, gid) = try Self.cluster([("min.cleanable.dirty.ratio", "0.01")], clock: clock)
        let sizeBefore = { (i: Int) in c.storages[i].storage(of: gid)!.log.sizeBytes }
        #expect(try Self.produce(c, leader, Self.history, from: 1).allSatisfy { $0 == ErrorCode.none })
        c.run(ticks: 60)
        let records = try Self.readAll(c, leader, correlation: 500)
        #expect(records.count < 60, "\(records.count) records left of 180")
        #expect(zip(records, records.dropFirst()).allSatisfy { $0.offset < $1.offset })
        var newest: [String: String] = [:]
        for r in records { newest[String(decoding: r.key ?? [], as: UTF8.self)] = String(decoding: r.value ?? [], as: UTF8.self) }
        for (n, (key, value)) in Self.history.enumerated().reversed() where newest[key] != nil {
            if n >= 173 { #expect(newest[key] == value, "\(key) at \(n)") }
        }
        #expect(newest.count == 7)
        for r in records { #expect(Self.history[Int(r.offset)].1.map { Array($0.utf8) } == r.value, "offset \(r.offset) holds its own record") }
        #expect(try RetentionTests.offsets(c, leader, correlation: 900) == (0, 180))
        for i in 0..<3 {
            // 27,007 bytes uncompacted (measured with compaction off); every batch stays, emptied or not.
            #expect(sizeBefore(i) * 2 < 27_007, "node \(i + 1): \(sizeBefore(i)) bytes")
            #expect(c.cores[i].group(gid)?.state.chain == c.cores[leader].group(gid)?.state.chain)
        }
        #expect(c.notices.contains { $0.contains("compacted t-0") })
        // Replicas serve the same record at every offset they both hold: the same cleaning, the
        // same bytes.
        let logs = (0..<3).map { c.storages[$0].storage(of: gid)!.log }
        var i = LogIndex(1)
        while i <= logs[0].lastIndex {
            let copies = try logs.map { KafkaEntry.batchBytes(try $0.read(i).entry.data) }
            #expect(copies.allSatisfy { $0 == copies[0] }, "entry \(i)")
            i = i.next
        }
        // Writes go on at the offsets that follow.
        #expect(try Self.produce(c, leader, [("k1", "after")], from: 1000) == [ErrorCode.none])
        #expect(try RetentionTests.offsets(c, leader, correlation: 1001).latest == 181)
    }

    @Test("a tombstone removes its key's older values at once and goes itself after delete.retention.ms")
    func tombstones() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, gid) = try Self.cluster([("min.cleanable.dirty.ratio", "0.01"), ("delete.retention.ms", "100000")], clock: clock)
        var records: [(String, String?)] = [("gone", "first"), ("gone", "second"), ("gone", nil)]
        records += (0..<90).map { n in ("k\(n % 5)", "value-\(n)-" + String(repeating: "y", count: 90)) }
        try Self.produce(c, leader, records, from: 1)
        c.run(ticks: 60)
        var gone = try Self.readAll(c, leader, correlation: 100).filter { $0.key == Array("gone".utf8) }
        #expect(gone.count == 1 && gone.first?.value == nil && gone.first?.offset == 2, "only the tombstone: \(gone)")
        clock.ms = 200_000
        c.run(ticks: 60)
        gone = try Self.readAll(c, leader, correlation: 300).filter { $0.key == Array("gone".utf8) }
        #expect(gone.isEmpty, "the tombstone went: \(gone)")
        #expect(c.cores[0].group(gid)?.state.chain == c.cores[1].group(gid)?.state.chain)
    }

    @Test("a follower that was away catches up from its leader's compacted storage: same chain, same records")
    func followerCatchesUp() throws {
        let clock = RetentionTests.Clock()
        // Node 3 never cleans: whatever compacted entries it holds came from its leader (node 2,
        // the partition's first replica).
        let away = 2
        let (c, leader, gid) = try Self.cluster([("min.cleanable.dirty.ratio", "0.01")], clock: clock, quietNode: away)
        try #require(leader != away, "the seeded election picks another leader")
        c.isolated = away
        try Self.produce(c, leader, Self.history, from: 1)
        c.run(ticks: 60)
        let leaderLog = c.storages[leader].storage(of: gid)!.log
        #expect(try (1...20).contains { KafkaEntry.compactedIdentity(try leaderLog.read(LogIndex(UInt64($0))).entry.data) != nil })
        c.isolated = nil
        c.run(ticks: 60)
        let follower = try #require(c.cores[away].group(gid))
        #expect(follower.state.appliedIndex == c.cores[leader].group(gid)?.state.appliedIndex)
        #expect(follower.state.chain == c.cores[leader].group(gid)?.state.chain)
        let log = c.storages[away].storage(of: gid)!.log
        #expect(try (1...20).contains { KafkaEntry.compactedIdentity(try log.read(LogIndex(UInt64($0))).entry.data) != nil },
                "the follower received compacted entries")
        #expect(c.rejected.isEmpty)
    }

    @Test("a compacted topic refuses records without a key and compressed batches (INVALID_RECORD, with Kafka's message)")
    func refusesKeyless() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, _) = try Self.cluster([], clock: clock)
        let keyless = RecordBatch.build(records: [(Array("k".utf8), Array("v".utf8)), (nil, Array("v".utf8))], timestamp: 1)
        let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: keyless.bytes)])])
        var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 8, correlation: 7) { request.encode(&$0, version: 8) }, correlation: 7)
        let p = try ProduceResponse.decode(&r, version: 8).responses[0].partitionResponses[0]
        #expect(p.errorCode == ErrorCode.invalidRecord && p.errorMessage == "Compacted topic cannot accept message without key")
        #expect(try Self.produce(c, leader, [("k", "v")], from: 8) == [ErrorCode.none])
    }

    @Test("the cleaner: due by dirty ratio, not before min.compaction.lag.ms, never the active segment")
    func policy() throws {
        let clock = RetentionTests.Clock()
        let (c, leader, gid) = try Self.cluster([("min.compaction.lag.ms", "50000")], clock: clock)
        try Self.produce(c, leader, Self.history, from: 1)
        c.run(ticks: 60)
        #expect(try Self.readAll(c, leader, correlation: 100).count == 180, "records stamped 1000 are younger than 50 s at time 10 s")
        clock.ms = 60_000
        c.run(ticks: 60)
        let left = try Self.readAll(c, leader, correlation: 300)
        #expect(left.count < 60)
        let log = c.storages[leader].storage(of: gid)!.log
        // The active segment is as written.
        let active = log.lastIndex
        #expect(KafkaEntry.compactedIdentity(try log.read(active).entry.data) == nil)
    }
}

/// A topic's `segment.bytes` is the size at which its partitions' segments close.
struct SegmentBytesTests {
    @Test("segment.bytes set on a topic closes its segments at that size on every replica; without it storage's own size stands")
    func honoured() throws {
        let c = try MiniCluster(nodes: 3)
        c.run(ticks: 40)
        for (name, configs) in [("t", [("segment.bytes", "1048576")]), ("u", [])] {
            let (out, _) = try c.cores[c.controllerIndex].proposeToController(
                .createTopic(name: name, partitions: 1, replicationFactor: 3, configs: ConfigOverrides(configs)))
            c.take(c.controllerIndex, out)
        }
        c.run(ticks: 60)
        let value = [UInt8](repeating: 7, count: 10_000)
        for name in ["t", "u"] {
            let gid = try #require(c.cores[0].controller.topic(name)?.partitions.first?.group)
            let leader = try #require(c.cores.indices.first { c.cores[$0].raftOf(gid)?.role == .leader })
            for k in 0..<30 {  // 30 batches of 100 KB: 3 MB
                let batch = RecordBatch.build(records: Array(repeating: (key: nil, value: value), count: 10), timestamp: 1)
                let request = ProduceRequest(acks: -1, timeoutMs: 5000, topicData: [.init(name: name, partitionData: [.init(index: 0, records: batch.bytes)])])
                let id = Int32(100 + k)
                var r = try MiniCluster.body(c.kafka(leader, key: .produce, version: 8, correlation: id) { request.encode(&$0, version: 8) }, correlation: id)
                #expect(try ProduceResponse.decode(&r, version: 8).responses[0].partitionResponses[0].errorCode == ErrorCode.none)
            }
            c.run(ticks: 5)
            for s in c.storages {
                let log = try #require(s.storage(of: gid)?.log)
                let closed = log.closedSegments(through: log.lastIndex)
                if name == "t" {
                    #expect(closed.count == 2 && closed.allSatisfy { $0.bytes <= 1_048_576 && $0.bytes > 900_000 }, "\(closed.map(\.bytes))")
                } else {
                    #expect(closed.isEmpty, "64 MiB segments: \(closed.map(\.bytes))")
                }
            }
        }
    }
}
