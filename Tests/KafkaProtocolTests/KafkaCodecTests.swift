import KafkaProtocol
import NIOCore
import Testing

/// One API's codec with a hand-picked, realistic value, both directions, at every version.
struct Codec: Sendable, CustomTestStringConvertible {
    let name: String
    let versions: ClosedRange<Int16>
    let encode: @Sendable (Int16) -> ByteBuffer
    let decodeAndReencode: @Sendable (ByteBuffer, Int16) throws -> ByteBuffer
    var testDescription: String { name }
}

func codec<T: KafkaMessage>(_ value: T) -> Codec {
    Codec(
        name: "\(T.self)", versions: T.versions,
        encode: { v in encoded(value, v) },
        decodeAndReencode: { bytes, v in encoded(try decoded(T.self, bytes, v), v) })
}

let batchBytes = RecordBatch.build(records: [(Array("k".utf8), Array("v".utf8))], timestamp: 1_700_000_000_000).bytes

let codecs: [Codec] = [
    codec(MetadataRequest(topics: [.init(name: "a"), .init(name: "bb")], allowAutoTopicCreation: false)),
    codec(MetadataResponse(
        brokers: [.init(nodeID: 1, host: "127.0.0.1", port: 9092, rack: "r1"), .init(nodeID: 2, host: "h2", port: 9093)],
        clusterID: "rill", controllerID: 2,
        topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, leaderID: 1, leaderEpoch: 4, replicaNodes: [1, 2], isrNodes: [1, 2], offlineReplicas: [3])]),
                 .init(errorCode: .unknownTopicOrPartition, name: "missing", partitions: [])])),
    codec(ProduceRequest(acks: -1, timeoutMs: 30000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batchBytes), .init(index: 1, records: nil)])])),
    codec(ProduceResponse(responses: [.init(name: "t", partitionResponses: [
        .init(index: 0, errorCode: .none, baseOffset: 7, logStartOffset: 0),
        .init(index: 1, errorCode: .notLeaderOrFollower, errorMessage: "not the leader")])])),
    codec(FetchRequest(maxWaitMs: 500, minBytes: 1, maxBytes: 1 << 20, topics: [.init(topic: "t", partitions: [
        .init(partition: 0, currentLeaderEpoch: 2, fetchOffset: 10, logStartOffset: 0, partitionMaxBytes: 1 << 20)])])),
    codec(FetchResponse(responses: [.init(topic: "t", partitions: [
        .init(partitionIndex: 0, highWatermark: 5, lastStableOffset: 5, logStartOffset: 0, records: batchBytes),
        .init(partitionIndex: 1, errorCode: .offsetOutOfRange, highWatermark: 0, lastStableOffset: 0, logStartOffset: 0, records: nil)])])),
    codec(ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: -2)])])),
    codec(ListOffsetsResponse(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: -1, offset: 12, leaderEpoch: 3)])])),
    codec(CreateTopicsRequest(topics: [.init(name: "t", numPartitions: 3, replicationFactor: 3, configs: [.init(name: "retention.ms", value: "1000")])], timeoutMs: 5000)),
    codec(CreateTopicsResponse(topics: [.init(name: "t", errorCode: .topicAlreadyExists, errorMessage: "exists")])),
    codec(DeleteTopicsRequest(topics: [.init(name: "a"), .init(name: "b")], topicNames: ["a", "b"], timeoutMs: 100)),
    codec(DeleteTopicsResponse(responses: [.init(name: "a", errorCode: .none)])),
    codec(OffsetForLeaderEpochRequest(topics: [.init(topic: "t", partitions: [.init(partition: 0, currentLeaderEpoch: 3, leaderEpoch: 2)])])),
    codec(OffsetForLeaderEpochResponse(topics: [.init(topic: "t", partitions: [.init(partition: 0, leaderEpoch: 2, endOffset: 99)])])),
    codec(InitProducerIDRequest(transactionTimeoutMs: 60000)),
    codec(InitProducerIDResponse(producerID: 1000, producerEpoch: 0)),
    codec(FindCoordinatorRequest(key: "g", keyType: 0, coordinatorKeys: ["g"])),
    codec(FindCoordinatorResponse(errorMessage: "m", nodeID: 2, host: "h", port: 9093,
                                  coordinators: [.init(key: "g", nodeID: 2, host: "h", port: 9093)])),
    codec(JoinGroupRequest(groupID: "g", sessionTimeoutMs: 30000, rebalanceTimeoutMs: 60000, memberID: "", groupInstanceID: "i", protocolType: "consumer",
                           protocols: [.init(name: "range", metadata: ByteBuffer(bytes: [0, 1, 2]))])),
    codec(JoinGroupResponse(generationID: 3, protocolName: "range", leader: "m1", memberID: "m1",
                            members: [.init(memberID: "m1", groupInstanceID: "i", metadata: ByteBuffer(bytes: [9]))])),
    codec(SyncGroupRequest(groupID: "g", generationID: 3, memberID: "m1", groupInstanceID: "i",
                           assignments: [.init(memberID: "m1", assignment: ByteBuffer(bytes: [1, 2]))])),
    codec(SyncGroupResponse(assignment: ByteBuffer(bytes: [1, 2]))),
    codec(HeartbeatRequest(groupID: "g", generationID: 3, memberID: "m1", groupInstanceID: "i")),
    codec(HeartbeatResponse(errorCode: .rebalanceInProgress)),
    codec(LeaveGroupRequest(groupID: "g", memberID: "m1", members: [.init(memberID: "m1")])),
    codec(LeaveGroupResponse(members: [.init(memberID: "m1", errorCode: .unknownMemberID)])),
    codec(OffsetCommitRequest(groupID: "g", generationIDOrMemberEpoch: 3, memberID: "m1", groupInstanceID: "i",
                              topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 4, committedLeaderEpoch: 2, committedMetadata: "x")])])),
    codec(OffsetCommitResponse(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, errorCode: .illegalGeneration)])])),
    codec(OffsetFetchRequest(groupID: "g", topics: [.init(name: "t", partitionIndexes: [0, 1])],
                             groups: [.init(groupID: "g", topics: [.init(name: "t", partitionIndexes: [0, 1])])])),
    codec(OffsetFetchResponse(
        topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: -1), .init(partitionIndex: 1, committedOffset: 4, committedLeaderEpoch: 2, metadata: "x")])],
        groups: [.init(groupID: "g", topics: [.init(name: "t", partitions: [.init(partitionIndex: 1, committedOffset: 4, committedLeaderEpoch: 2, metadata: "x")])])])),
    codec(ApiVersionsRequest(clientSoftwareName: "rill", clientSoftwareVersion: "1.0")),
    codec(ApiVersionsResponse(apiKeys: ApiKey.allCases.map { .init(apiKey: $0.rawValue, minVersion: $0.codecVersions.lowerBound, maxVersion: $0.codecVersions.upperBound) })),
    codec(DescribeGroupsRequest(groups: ["g"], includeAuthorizedOperations: true)),
    codec(DescribeGroupsResponse(groups: [.init(groupID: "g", groupState: "Stable", protocolType: "consumer", protocolData: "range",
                                                members: [.init(memberID: "m1", clientID: "c", clientHost: "/127.0.0.1", memberMetadata: ByteBuffer(bytes: [1]))])])),
    codec(ListGroupsRequest(statesFilter: ["Stable"])),
    codec(ListGroupsResponse(groups: [.init(groupID: "g", protocolType: "consumer")])),
    codec(DescribeClusterRequest(includeClusterAuthorizedOperations: true)),
    codec(DescribeClusterResponse(clusterID: "rill", controllerID: 1, brokers: [.init(brokerID: 1, host: "h", port: 9092)])),
    codec(DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "t", configurationKeys: ["cleanup.policy"])], includeSynonyms: true,
                                 includeDocumentation: true)),
    codec(DescribeConfigsResponse(results: [.init(resourceType: 2, resourceName: "t", configs: [
        .init(name: "cleanup.policy", value: "compact", readOnly: false, configSource: 1, isSensitive: false,
              synonyms: [.init(name: "cleanup.policy", value: "compact", source: 1)], configType: 7, documentation: "d")])])),
    codec(AlterConfigsRequest(resources: [.init(resourceType: 2, resourceName: "t", configs: [.init(name: "cleanup.policy", value: "compact")])], validateOnly: true)),
    codec(AlterConfigsResponse(responses: [.init(errorCode: .invalidConfig, errorMessage: "no", resourceType: 2, resourceName: "t")])),
    codec(IncrementalAlterConfigsRequest(resources: [.init(resourceType: 4, resourceName: "", configs: [.init(name: "message.max.bytes", configOperation: 0, value: "5")])])),
    codec(CreatePartitionsRequest(topics: [.init(name: "t", count: 4, assignments: [.init(brokerIDs: [1, 2])])], timeoutMs: 100, validateOnly: true)),
    codec(CreatePartitionsResponse(results: [.init(name: "t", errorCode: .invalidPartitions, errorMessage: "no")])),
    codec(DeleteGroupsRequest(groupsNames: ["a", "b"])),
    codec(DeleteGroupsResponse(results: [.init(groupID: "a", errorCode: .nonEmptyGroup), .init(groupID: "b", errorCode: .none)])),
    codec(DescribeLogDirsRequest(topics: [.init(topic: "t", partitions: [0, 1])])),
    codec(DescribeLogDirsResponse(errorCode: .none, results: [.init(errorCode: .none, logDir: "/d", topics: [.init(name: "t", partitions: [.init(partitionIndex: 1, partitionSize: 4096, offsetLag: 0, isFutureKey: false)])], totalBytes: 10, usableBytes: 5)])),
    codec(ListPartitionReassignmentsRequest(timeoutMs: 1000, topics: [.init(name: "t", partitionIndexes: [0, 2])])),
    codec(ListPartitionReassignmentsResponse(errorCode: .none, topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, replicas: [1, 2], addingReplicas: [3], removingReplicas: [1])])])),
    codec(OffsetDeleteRequest(groupID: "g", topics: [.init(name: "t", partitions: [.init(partitionIndex: 1)])])),
    codec(OffsetDeleteResponse(errorCode: .none, topics: [.init(name: "t", partitions: [.init(partitionIndex: 1, errorCode: .groupSubscribedToTopic)])])),
    codec(IncrementalAlterConfigsResponse(responses: [.init(errorCode: .none, errorMessage: nil, resourceType: 4, resourceName: "")])),
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
            guard !bytes.isEmpty else { continue }  // ApiVersionsRequest v0-2 has no field
            for _ in 0..<50 {  // (DecoderFuzzTests does more, over every message)
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
        // The same in the flexible encoding: a compact (uvarint) count of 0xFFFFFFFF - 1.
        var w3 = KafkaWriter()
        w3.unsignedVarint(UInt32.max)  // topics count
        w3.buffer.writeBytes([0, 0, 0, 0])
        var r3 = KafkaReader(w3.buffer)
        #expect(throws: KafkaWireError.self) { _ = try MetadataRequest.decode(&r3, version: 12) }
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
