import KafkaProtocol
import NIOCore
import Primitives
import Testing

/// Requests exactly as kafka-python 3.0.12 encodes them (GoldenRequests.swift), decoded by ours.
struct GoldenTests {
    @Test("kafka-python's Metadata v8, with topics and for all topics; v12 (flexible, header v2)")
    func metadata() throws {
        var (h, r) = try request(GoldenRequests.metadataV8)
        #expect(h == RequestHeader(apiKey: 3, apiVersion: 8, correlationID: 3, clientID: "kafka-python-3.0.12"))
        #expect(!h.isFlexible)
        let m = try MetadataRequest.decode(&r, version: 8)
        try r.expectEnd("metadata")
        #expect(m.topics?.map(\.name) == ["orders"] && m.allowAutoTopicCreation)
        var (h2, r2) = try request(GoldenRequests.metadataV8AllTopics)
        let all = try MetadataRequest.decode(&r2, version: h2.apiVersion)
        #expect(all.topics == nil && !all.allowAutoTopicCreation)  // null topics: all of them (v1+)
        h2.clientID = nil
        var (h3, r3) = try request(GoldenRequests.metadataV12)
        #expect(h3 == RequestHeader(apiKey: 3, apiVersion: 12, correlationID: 12, clientID: "kafka-python-3.0.12"))
        #expect(h3.isFlexible && h3.responseHeaderIsFlexible)
        let m12 = try MetadataRequest.decode(&r3, version: 12)
        try r3.expectEnd("metadata v12")
        #expect(m12.topics == [.init(topicID: .zero, name: "orders")] && !m12.allowAutoTopicCreation && m12.includeTopicAuthorizedOperations)
        h3.correlationID = 0
        // Our header encoder writes the same header v2 (the tagged-field byte after client_id).
        var w = KafkaWriter()
        RequestHeader(apiKey: 3, apiVersion: 12, correlationID: 12, clientID: "kafka-python-3.0.12").encode(&w)
        m12.encode(&w, version: 12)
        var framed = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &framed)
        #expect(hexString(framed) == GoldenRequests.metadataV12)
    }

    @Test("kafka-python's Produce v8 carries a RecordBatch that validates, with its records")
    func produce() throws {
        var (h, r) = try request(GoldenRequests.produceV8)
        #expect(h.apiKey == 0 && h.apiVersion == 8)
        let p = try ProduceRequest.decode(&r, version: 8)
        try r.expectEnd("produce")
        #expect(p.acks == -1 && p.timeoutMs == 30000 && p.transactionalID == nil)
        let records = try #require(p.topicData.first?.partitionData.first?.records)
        let batches = try RecordBatch.batches(in: records)
        #expect(batches.count == 1)
        let b = batches[0]
        #expect(b.recordCount == 2 && b.lastOffsetDelta == 1)
        #expect(b.producerID == 1000 && b.producerEpoch == 0 && b.baseSequence == 5)
        #expect(b.maxTimestamp == 1_700_000_000_005)
        let decoded = try b.records()
        #expect(decoded.map(\.offset) == [0, 1])
        #expect(decoded[0].key == Array("k1".utf8) && decoded[0].value == Array("hello".utf8))
        #expect(decoded[1].key == nil && decoded[1].value == Array("world".utf8))
    }

    @Test("kafka-python's Produce v11 (flexible): header v2, compact strings, the same RecordBatch bytes")
    func produceFlexible() throws {
        var (h, r) = try request(GoldenRequests.produceV11)
        #expect(h.apiKey == 0 && h.apiVersion == 11 && h.correlationID == 13 && h.clientID == "kafka-python-3.0.12" && h.isFlexible)
        let p = try ProduceRequest.decode(&r, version: 11)
        try r.expectEnd("produce v11")
        #expect(p.transactionalID == "tx-1" && p.acks == 1 && p.timeoutMs == 1500)
        #expect(p.topicData.map(\.name) == ["orders"] && p.topicData[0].partitionData.map(\.index) == [2])
        #expect(p.topicData[0].partitionData[0].records == hex(GoldenRequests.recordBatch))
        var w = KafkaWriter()
        h.encode(&w)
        p.encode(&w, version: 11)
        var framed = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &framed)
        #expect(hexString(framed) == GoldenRequests.produceV11)
    }

    @Test("kafka-python's Fetch v11, ListOffsets v5, CreateTopics v4, DeleteTopics v3, InitProducerId v1, OffsetForLeaderEpoch v3")
    func others() throws {
        var (h, r) = try request(GoldenRequests.fetchV11)
        let f = try FetchRequest.decode(&r, version: h.apiVersion)
        try r.expectEnd("fetch")
        #expect(f.replicaID == -1 && f.maxWaitMs == 500 && f.minBytes == 1 && f.maxBytes == 52_428_800 && f.isolationLevel == 1)
        #expect(f.sessionID == 0 && f.sessionEpoch == -1 && f.forgottenTopicsData == [] && f.rackID == "")
        #expect(f.topics == [.init(topic: "orders", partitions: [.init(partition: 0, currentLeaderEpoch: 3, fetchOffset: 42, logStartOffset: -1, partitionMaxBytes: 1_048_576)])])
        (h, r) = try request(GoldenRequests.listOffsetsV5)
        let l = try ListOffsetsRequest.decode(&r, version: h.apiVersion)
        #expect(l.topics.first?.partitions.first?.timestamp == -2 && l.isolationLevel == 1)  // -2: the earliest offset
        (h, r) = try request(GoldenRequests.createTopicsV4)
        let c = try CreateTopicsRequest.decode(&r, version: h.apiVersion)
        #expect(c.topics == [.init(name: "orders", numPartitions: 3, replicationFactor: -1)] && c.timeoutMs == 30000)
        (h, r) = try request(GoldenRequests.deleteTopicsV3)
        #expect(try DeleteTopicsRequest.decode(&r, version: h.apiVersion) == DeleteTopicsRequest(topicNames: ["orders"], timeoutMs: 30000))
        (h, r) = try request(GoldenRequests.initProducerIDV1)
        #expect(try InitProducerIDRequest.decode(&r, version: h.apiVersion) == InitProducerIDRequest(transactionTimeoutMs: 60000))
        (h, r) = try request(GoldenRequests.offsetForLeaderEpochV3)
        let o = try OffsetForLeaderEpochRequest.decode(&r, version: h.apiVersion)
        #expect(o.topics.first?.partitions.first == .init(partition: 0, currentLeaderEpoch: 3, leaderEpoch: 2))
        for golden in [GoldenRequests.fetchV11, GoldenRequests.listOffsetsV5, GoldenRequests.createTopicsV4] {
            let (hh, _) = try request(golden)
            #expect(hh.clientID == "kafka-python-3.0.12")
        }
    }

    @Test("ApiVersions v4 (flexible, header v2) decodes; the v0-format error-35 answer matches the documented example bytes")
    func apiVersions() throws {
        var (h, r) = try request(GoldenRequests.apiVersionsV4)
        #expect(h.apiKey == 18 && h.apiVersion == 4 && h.correlationID == 2 && h.isFlexible)
        #expect(!h.responseHeaderIsFlexible)  // ApiVersions answers with header v0 at every version
        #expect(ApiKey.apiVersions.codecVersions.contains(h.apiVersion))
        let a = try ApiVersionsRequest.decode(&r, version: 4)
        try r.expectEnd("api versions v4")
        #expect(a == ApiVersionsRequest(clientSoftwareName: "kafka-python", clientSoftwareVersion: "3.0.12"))
        // The documented example: error 35, one key, {18, 0, 2}, correlation id 1, header v0.
        var w = KafkaWriter()
        ResponseHeader.encode(&w, correlationID: 1, flexible: false)
        ApiVersionsResponse(errorCode: .unsupportedVersion, apiKeys: [.init(apiKey: 18, minVersion: 0, maxVersion: 2)]).encode(&w, version: 0)
        var framed = ByteBuffer()
        KafkaFrame.frame(w.buffer, into: &framed)
        #expect(hexString(framed) == "00000010" + "00000001" + "0023" + "00000001" + "001200000002")
        let (h2, r2) = try request(GoldenRequests.apiVersionsV2)
        #expect(h2.apiVersion == 2 && !h2.isFlexible && r2.remaining == 0)
    }

    @Test("hostile counts and offsets under a matching CRC are refused or read without a trap (found by fuzzing: a record count of Int32.min trapped Produce's validation)")
    func recordBatchHostileFields() throws {
        let bytes = Array(hex(GoldenRequests.recordBatch).readableBytesView)
        /// The bytes with `field` at `at` (big-endian) and the CRC made to match again.
        func with(_ at: Int, _ field: [UInt8]) -> ByteBuffer {
            var m = bytes
            m.replaceSubrange(at..<(at + field.count), with: field)
            let crc = m.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[21...])) }
            for i in 0..<4 { m[17 + i] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * UInt32(i))) }
            return ByteBuffer(bytes: m)
        }
        #expect(throws: RecordBatch.Invalid.self) { _ = try RecordBatch(validating: with(57, [0x80, 0, 0, 0])) }  // record count Int32.min
        // A base offset near Int64.max (a client's, before the leader assigns one): reading wraps, never traps.
        let far = try RecordBatch(validating: with(0, [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]))
        _ = far.nextOffset
        _ = try far.decodedRecords()
        // A count of Int32.max with the offset delta to match passes validation; reading it must
        // fail on the missing bytes, not first reserve room for two billion records.
        let huge = try RecordBatch(validating: with(23, [0x7F, 0xFF, 0xFF, 0xFE] + Array(bytes[27..<57]) + [0x7F, 0xFF, 0xFF, 0xFF]))
        #expect(throws: KafkaWireError.self) { _ = try huge.decodedRecords() }
        #expect(throws: KafkaWireError.self) { _ = try huge.recordSpans() }
    }

    @Test("kafka-python's RecordBatch: validation catches a flipped byte, a wrong magic, a wrong length; offsets are reassigned without touching the CRC")
    func recordBatch() throws {
        let golden = hex(GoldenRequests.recordBatch)
        let b = try RecordBatch(validating: golden)
        #expect(b.crc == 0x3EB6_B0F3)
        let moved = b.assigned(baseOffset: 1000, leaderEpoch: 7)
        #expect(moved.baseOffset == 1000 && moved.partitionLeaderEpoch == 7 && moved.nextOffset == 1002)
        _ = try RecordBatch(validating: moved.bytes)  // still valid: neither field is under the CRC
        #expect(b.baseOffset == 0)  // the original is untouched
        let bytes = Array(golden.readableBytesView)
        for i in 21..<bytes.count {
            var m = bytes
            m[i] ^= 0x40
            #expect(throws: RecordBatch.Invalid.self, "flip at \(i)") { _ = try RecordBatch(validating: ByteBuffer(bytes: m)) }
        }
        var wrongMagic = bytes
        wrongMagic[16] = 1
        #expect(throws: RecordBatch.Invalid.magic(1)) { _ = try RecordBatch(validating: ByteBuffer(bytes: wrongMagic)) }
        #expect(throws: RecordBatch.Invalid.self) { _ = try RecordBatch(validating: ByteBuffer(bytes: bytes.dropLast())) }
        // Two batches back to back split; a truncated second one is refused.
        var two = golden
        two.writeImmutableBuffer(moved.bytes)
        #expect(try RecordBatch.batches(in: two).map(\.baseOffset) == [0, 1000])
        var cut = two
        cut.moveWriterIndex(to: cut.writerIndex - 3)
        #expect(throws: RecordBatch.Invalid.self) { _ = try RecordBatch.batches(in: cut) }
    }

    @Test("a batch built here is read back by our own decoder with the same records")
    func buildRoundTrip() throws {
        let b = RecordBatch.build(records: [(nil, Array("a".utf8)), (Array("k".utf8), nil), (Array("kk".utf8), Array("vv".utf8))], timestamp: 5)
        let again = try RecordBatch(validating: b.bytes)
        let recs = try again.records()
        #expect(recs.count == 3 && recs[2].key == Array("kk".utf8) && recs[1].value == nil && recs[0].key == nil)
    }
}
