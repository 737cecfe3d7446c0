import KafkaProtocol
import NIOCore
import Testing

func hex(_ s: String) -> ByteBuffer {
    var out = ByteBuffer()
    var chars = Array(s.utf8)
    if chars.count % 2 == 1 { chars.insert(48, at: 0) }
    for i in stride(from: 0, to: chars.count, by: 2) {
        out.writeInteger(UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16)!)
    }
    return out
}

func hexString(_ b: ByteBuffer) -> String {
    let digits = Array("0123456789abcdef")
    return String(b.readableBytesView.flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 15)]] })
}

/// Unframe a golden request and read its header.
func request(_ golden: String) throws -> (RequestHeader, KafkaReader) {
    var framed = hex(golden)
    let body = try #require(try KafkaFrame.next(from: &framed))
    #expect(framed.readableBytes == 0)
    var r = KafkaReader(body)
    return (try RequestHeader.decode(&r), r)
}

/// One API's codec under a version, both directions.
struct Codec: Sendable {
    let name: String
    let versions: ClosedRange<Int16>
    let encode: @Sendable (Int16) -> ByteBuffer
    let decodeAndReencode: @Sendable (ByteBuffer, Int16) throws -> ByteBuffer
}

func codec<T: Sendable>(
    _ name: String, _ versions: ClosedRange<Int16>, _ value: T, encode: @escaping @Sendable (T, inout KafkaWriter, Int16) -> Void,
    decode: @escaping @Sendable (inout KafkaReader, Int16) throws(KafkaWireError) -> T
) -> Codec {
    Codec(
        name: name, versions: versions,
        encode: { v in
            var w = KafkaWriter()
            encode(value, &w, v)
            return w.buffer
        },
        decodeAndReencode: { bytes, v in
            var r = KafkaReader(bytes)
            let decoded = try decode(&r, v)
            try r.expectEnd(name)
            var w = KafkaWriter()
            encode(decoded, &w, v)
            return w.buffer
        })
}

let batchBytes = RecordBatch.build(records: [(Array("k".utf8), Array("v".utf8))], timestamp: 1_700_000_000_000).bytes

let codecs: [Codec] = [
    codec("MetadataRequest", ApiKey.metadata.supported, MetadataRequest(topics: ["a", "bb"], allowAutoTopicCreation: false),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try MetadataRequest.decode(&r, version: v) }),
    codec("MetadataResponse", ApiKey.metadata.supported,
          MetadataResponse(
            brokers: [.init(nodeID: 1, host: "127.0.0.1", port: 9092, rack: "r1"), .init(nodeID: 2, host: "h2", port: 9093)],
            clusterID: "rill", controllerID: 2,
            topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, leaderID: 1, leaderEpoch: 4, replicaNodes: [1, 2], isrNodes: [1, 2], offlineReplicas: [3])]),
                     .init(errorCode: .unknownTopicOrPartition, name: "missing", partitions: [])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try MetadataResponse.decode(&r, version: v) }),
    codec("ProduceRequest", ApiKey.produce.supported,
          ProduceRequest(acks: -1, timeoutMs: 30000, topics: [.init(name: "t", partitions: [.init(index: 0, records: batchBytes), .init(index: 1, records: nil)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try ProduceRequest.decode(&r, version: v) }),
    codec("ProduceResponse", ApiKey.produce.supported,
          ProduceResponse(topics: [.init(name: "t", partitions: [.init(index: 0, errorCode: .none, baseOffset: 7, logStartOffset: 0),
                                                                 .init(index: 1, errorCode: .notLeaderOrFollower, errorMessage: "not the leader")])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try ProduceResponse.decode(&r, version: v) }),
    codec("FetchRequest", ApiKey.fetch.supported,
          FetchRequest(maxWaitMs: 500, minBytes: 1, maxBytes: 1 << 20, topics: [.init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: 2, fetchOffset: 10, logStartOffset: 0, partitionMaxBytes: 1 << 20)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try FetchRequest.decode(&r, version: v) }),
    codec("FetchResponse", ApiKey.fetch.supported,
          FetchResponse(topics: [.init(topic: "t", partitions: [.init(partitionIndex: 0, highWatermark: 5, lastStableOffset: 5, logStartOffset: 0, records: batchBytes),
                                                               .init(partitionIndex: 1, errorCode: .offsetOutOfRange, highWatermark: 0, lastStableOffset: 0, logStartOffset: 0, records: nil)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try FetchResponse.decode(&r, version: v) }),
    codec("ListOffsetsRequest", ApiKey.listOffsets.supported,
          ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ListOffsetsRequest.earliest)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try ListOffsetsRequest.decode(&r, version: v) }),
    codec("ListOffsetsResponse", ApiKey.listOffsets.supported,
          ListOffsetsResponse(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: -1, offset: 12, leaderEpoch: 3)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try ListOffsetsResponse.decode(&r, version: v) }),
    codec("CreateTopicsRequest", ApiKey.createTopics.supported,
          CreateTopicsRequest(topics: [.init(name: "t", numPartitions: 3, replicationFactor: 3, configs: [.init(name: "retention.ms", value: "1000")])], timeoutMs: 5000),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try CreateTopicsRequest.decode(&r, version: v) }),
    codec("CreateTopicsResponse", ApiKey.createTopics.supported,
          CreateTopicsResponse(topics: [.init(name: "t", errorCode: .topicAlreadyExists, errorMessage: "exists")]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try CreateTopicsResponse.decode(&r, version: v) }),
    codec("DeleteTopicsRequest", ApiKey.deleteTopics.supported, DeleteTopicsRequest(topicNames: ["a", "b"], timeoutMs: 100),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try DeleteTopicsRequest.decode(&r, version: v) }),
    codec("DeleteTopicsResponse", ApiKey.deleteTopics.supported, DeleteTopicsResponse(responses: [.init(name: "a", errorCode: .none)]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try DeleteTopicsResponse.decode(&r, version: v) }),
    codec("OffsetForLeaderEpochRequest", ApiKey.offsetForLeaderEpoch.supported,
          OffsetForLeaderEpochRequest(topics: [.init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: 3, leaderEpoch: 2)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try OffsetForLeaderEpochRequest.decode(&r, version: v) }),
    codec("OffsetForLeaderEpochResponse", ApiKey.offsetForLeaderEpoch.supported,
          OffsetForLeaderEpochResponse(topics: [.init(topic: "t", partitions: [.init(partition: 0, leaderEpoch: 2, endOffset: 99)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try OffsetForLeaderEpochResponse.decode(&r, version: v) }),
    codec("InitProducerIDRequest", ApiKey.initProducerID.supported, InitProducerIDRequest(transactionTimeoutMs: 60000),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try InitProducerIDRequest.decode(&r, version: v) }),
    codec("InitProducerIDResponse", ApiKey.initProducerID.supported, InitProducerIDResponse(producerID: 1000, producerEpoch: 0),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try InitProducerIDResponse.decode(&r, version: v) }),
    codec("FindCoordinatorRequest", ApiKey.findCoordinator.supported, FindCoordinatorRequest(key: "g", keyType: 0),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try FindCoordinatorRequest.decode(&r, version: v) }),
    codec("FindCoordinatorResponse", ApiKey.findCoordinator.supported, FindCoordinatorResponse(errorMessage: "m", nodeID: 2, host: "h", port: 9093),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try FindCoordinatorResponse.decode(&r, version: v) }),
    codec("JoinGroupRequest", ApiKey.joinGroup.supported,
          JoinGroupRequest(groupID: "g", sessionTimeoutMs: 30000, rebalanceTimeoutMs: 60000, memberID: "", groupInstanceID: "i", protocolType: "consumer",
                           protocols: [.init(name: "range", metadata: ByteBuffer(bytes: [0, 1, 2]))]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try JoinGroupRequest.decode(&r, version: v) }),
    codec("JoinGroupResponse", ApiKey.joinGroup.supported,
          JoinGroupResponse(generationID: 3, protocolName: "range", leader: "m1", memberID: "m1", members: [.init(memberID: "m1", groupInstanceID: "i", metadata: ByteBuffer(bytes: [9]))]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try JoinGroupResponse.decode(&r, version: v) }),
    codec("SyncGroupRequest", ApiKey.syncGroup.supported,
          SyncGroupRequest(groupID: "g", generationID: 3, memberID: "m1", groupInstanceID: "i", assignments: [.init(memberID: "m1", assignment: ByteBuffer(bytes: [1, 2]))]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try SyncGroupRequest.decode(&r, version: v) }),
    codec("SyncGroupResponse", ApiKey.syncGroup.supported, SyncGroupResponse(assignment: ByteBuffer(bytes: [1, 2])),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try SyncGroupResponse.decode(&r, version: v) }),
    codec("HeartbeatRequest", ApiKey.heartbeat.supported, HeartbeatRequest(groupID: "g", generationID: 3, memberID: "m1", groupInstanceID: "i"),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try HeartbeatRequest.decode(&r, version: v) }),
    codec("HeartbeatResponse", ApiKey.heartbeat.supported, HeartbeatResponse(errorCode: .rebalanceInProgress),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try HeartbeatResponse.decode(&r, version: v) }),
    codec("LeaveGroupRequest", ApiKey.leaveGroup.supported, LeaveGroupRequest(groupID: "g", members: [.init(memberID: "m1")]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try LeaveGroupRequest.decode(&r, version: v) }),
    codec("LeaveGroupResponse", ApiKey.leaveGroup.supported, LeaveGroupResponse(members: [.init(memberID: "m1", errorCode: .unknownMemberID)]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try LeaveGroupResponse.decode(&r, version: v) }),
    codec("OffsetCommitRequest", ApiKey.offsetCommit.supported,
          OffsetCommitRequest(groupID: "g", generationID: 3, memberID: "m1", groupInstanceID: "i",
                              topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 4, committedLeaderEpoch: 2, metadata: "x")])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try OffsetCommitRequest.decode(&r, version: v) }),
    codec("OffsetCommitResponse", ApiKey.offsetCommit.supported, OffsetCommitResponse(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, errorCode: .illegalGeneration)])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try OffsetCommitResponse.decode(&r, version: v) }),
    codec("OffsetFetchRequest", ApiKey.offsetFetch.supported, OffsetFetchRequest(groupID: "g", topics: [.init(name: "t", partitionIndexes: [0, 1])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try OffsetFetchRequest.decode(&r, version: v) }),
    codec("OffsetFetchResponse", ApiKey.offsetFetch.supported,
          OffsetFetchResponse(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: -1), .init(partitionIndex: 1, committedOffset: 4, committedLeaderEpoch: 2, metadata: "x")])]),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try OffsetFetchResponse.decode(&r, version: v) }),
    codec("ApiVersionsResponse", ApiKey.apiVersions.supported, ApiVersionsResponse.advertised(),
          encode: { $0.encode(&$1, version: $2) }, decode: { r, v throws(KafkaWireError) in try ApiVersionsResponse.decode(&r, version: v) }),
]

struct KafkaCodecTests {
    @Test("every API codec round-trips at every advertised version", arguments: codecs)
    func roundTrip(_ c: Codec) throws {
        for v in c.versions {
            let bytes = c.encode(v)
            let again = try c.decodeAndReencode(bytes, v)
            #expect(again == bytes, "\(c.name) v\(v)")
        }
    }

    @Test("every proper prefix of every message is refused as truncated, never a crash", arguments: codecs)
    func truncation(_ c: Codec) throws {
        for v in c.versions {
            let bytes = c.encode(v)
            for n in 0..<bytes.readableBytes {
                let prefix = bytes.getSlice(at: bytes.readerIndex, length: n)!
                #expect(throws: (any Error).self, "\(c.name) v\(v) prefix \(n)") { _ = try c.decodeAndReencode(prefix, v) }
            }
        }
    }

    @Test("random byte flips give an error or a valid message, never a crash or a huge allocation", arguments: codecs)
    func mutations(_ c: Codec) throws {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        for v in c.versions {
            let bytes = Array(c.encode(v).readableBytesView)
            for _ in 0..<300 {
                var m = bytes
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                let flips = Int(seed >> 60) + 1
                for k in 0..<flips {
                    let pos = Int((seed >> UInt64(8 + k)) % UInt64(m.count))
                    m[pos] = UInt8(truncatingIfNeeded: seed >> UInt64(k * 5))
                }
                _ = try? c.decodeAndReencode(ByteBuffer(bytes: m), v)
            }
        }
    }

    @Test("an array count larger than the bytes could hold is refused before allocating")
    func absurdCounts() throws {
        var w = KafkaWriter()
        w.int32(Int32.max)  // topics count
        var r = KafkaReader(w.buffer)
        #expect(throws: KafkaWireError.self) { _ = try MetadataRequest.decode(&r, version: 8) }
        var w2 = KafkaWriter()
        w2.nullableString(nil)
        w2.int16(-1)
        w2.int32(1000)
        w2.int32(1)
        w2.string("t")
        w2.int32(1)
        w2.int32(0)
        w2.int32(Int32.max)  // records length
        var r2 = KafkaReader(w2.buffer)
        #expect(throws: KafkaWireError.self) { _ = try ProduceRequest.decode(&r2, version: 8) }
    }

    @Test("framing: a size over the limit or negative is refused before reading; a frame dripped byte by byte comes out whole")
    func framing() throws {
        var big = ByteBuffer()
        big.writeInteger(Int32(200 * 1024 * 1024), endianness: .big)
        #expect(throws: KafkaFrame.Problem.tooLarge(size: 200 * 1024 * 1024, limit: KafkaFrame.requestBytesMaxDefault)) {
            _ = try KafkaFrame.next(from: &big)
        }
        var negative = ByteBuffer()
        negative.writeInteger(Int32(-5), endianness: .big)
        #expect(throws: KafkaFrame.Problem.negativeSize(-5)) { _ = try KafkaFrame.next(from: &negative) }
        let golden = hex(GoldenRequests.produceV8 + GoldenRequests.metadataV8)
        var drip = ByteBuffer()
        var frames: [ByteBuffer] = []
        for byte in golden.readableBytesView {
            drip.writeInteger(byte)
            while let f = try KafkaFrame.next(from: &drip) { frames.append(f) }
        }
        #expect(frames.count == 2)
        #expect(drip.readableBytes == 0)
    }
}
