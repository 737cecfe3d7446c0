import KafkaProtocol
import NIOCore
import Testing

@testable import RillClient

struct ProducerTests {
    @Test("bad producer settings are refused with the setting's name")
    func configuration() throws {
        func refused(_ change: (inout ProducerConfiguration) -> Void, mentioning word: String) {
            var c = ProducerConfiguration()
            change(&c)
            #expect {
                _ = try c.validated()
            } throws: { "\($0)".contains(word) }
        }
        refused({ $0.maxInFlight = 6 }, mentioning: "maxInFlight")
        refused({ $0.maxInFlight = 0 }, mentioning: "maxInFlight")
        refused({ $0.batchBytes = 2 << 20 }, mentioning: "batchBytes")
        refused({ $0.lingerMs = -1 }, mentioning: "lingerMs")
        refused({ $0.bufferBytes = 1024 }, mentioning: "bufferBytes")
        _ = try ProducerConfiguration().validated()
    }

    @Test("sequence numbers wrap from Int32.max to 0, as the broker expects")
    func sequenceWrap() {
        #expect(Producer.sequence(0, plus: 5) == 5)
        #expect(Producer.sequence(Int32.max, plus: 1) == 0)
        #expect(Producer.sequence(Int32.max - 1, plus: 5) == 3)
    }

    @Test("no broker answering: the record fails with a connection error, it does not hang")
    func unreachable() async throws {
        // Port 1 on loopback: nothing listens there, the connect is refused at once.
        let client = try KafkaClient(bootstrap: ["127.0.0.1:1"])
        let producer = try Producer(client: client)
        await #expect {
            try await producer.send(topic: "t", value: [1])
        } throws: { error in
            guard case RillClientError.connection = error else { return false }
            return true
        }
        await client.shutdown()
    }

    @Test("a bootstrap address without a port is refused")
    func badBootstrap() {
        #expect(throws: RillClientError.self) { try KafkaClient(bootstrap: ["localhost"]) }
    }

    @Test("a record over 1 MiB is refused before it is buffered")
    func tooLarge() async throws {
        let client = try KafkaClient(bootstrap: ["127.0.0.1:1"])
        let producer = try Producer(client: client)
        await #expect {
            try await producer.send(topic: "t", value: [UInt8](repeating: 0, count: 1 << 20))
        } throws: { error in
            guard case RillClientError.recordTooLarge = error else { return false }
            return true
        }
        await client.shutdown()
    }

    @Test("a fetch answer cut short at the size limit yields only its whole batches")
    func partialBatch() throws {
        var b1 = RecordBatchBuilder()
        b1.append(key: nil, value: [1, 2, 3], timestamp: 10)
        var b2 = RecordBatchBuilder()
        b2.append(key: nil, value: [4, 5, 6], timestamp: 11)
        var bytes = b1.build().bytes
        var second = b2.build().bytes
        bytes.writeBuffer(&second)
        let cut = bytes.getSlice(at: 0, length: bytes.readableBytes - 5)!
        #expect(try Consumer.completeBatches(in: cut).count == 1)
        #expect(try Consumer.completeBatches(in: bytes).count == 2)
    }
}

struct RecordBatchBuilderTests {
    @Test("records built one at a time come back with keys, values, headers and timestamps; the CRC is valid")
    func roundTrip() throws {
        var b = RecordBatchBuilder()
        b.append(key: Array("k".utf8), value: Array("v1".utf8), headers: [RecordHeader(key: "h", value: [9])], timestamp: 1000)
        b.append(key: nil, value: nil, timestamp: 1500)
        b.append(key: [], value: Array("v3".utf8), headers: [RecordHeader(key: "x", value: nil), RecordHeader(key: "y", value: [])], timestamp: 900)
        let batch = b.build(producerID: 7, producerEpoch: 1, baseSequence: 42)
        let validated = try RecordBatch(validating: batch.bytes)
        #expect(validated.producerID == 7 && validated.producerEpoch == 1 && validated.baseSequence == 42)
        #expect(validated.recordCount == 3 && validated.lastOffsetDelta == 2)
        #expect(validated.baseTimestamp == 1000 && validated.maxTimestamp == 1500)
        #expect(b.sizeInBytes == batch.bytes.readableBytes)
        let records = try validated.decodedRecords()
        #expect(records.map(\.offset) == [0, 1, 2])
        #expect(records.map(\.timestamp) == [1000, 1500, 900])
        #expect(records[0].key == Array("k".utf8) && records[0].headers == [RecordHeader(key: "h", value: [9])])
        #expect(records[1].key == nil && records[1].value == nil && records[1].headers.isEmpty)
        #expect(records[2].key == [] && records[2].headers == [RecordHeader(key: "x", value: nil), RecordHeader(key: "y", value: [])])
        // The broker's own decoder reads the same keys and values.
        #expect(try validated.records().map(\.value) == records.map(\.value))
    }

    @Test("estimatedSize is an upper bound of what a record adds, whatever its timestamp, key and value")
    func estimateBounds() {
        var b = RecordBatchBuilder()
        let cases: [([UInt8]?, [UInt8]?, [RecordHeader], Int64)] = [
            (nil, nil, [], 0), ([1], [UInt8](repeating: 7, count: 300), [], Int64.max), (nil, [UInt8](repeating: 1, count: 70_000), [], Int64.min),
            ([UInt8](repeating: 2, count: 200), [], [RecordHeader(key: "a-header", value: [UInt8](repeating: 3, count: 130))], -1),
        ]
        for _ in 0..<3 {
            for (key, value, headers, timestamp) in cases {
                let before = b.sizeInBytes
                b.append(key: key, value: value, headers: headers, timestamp: timestamp)
                #expect(b.sizeInBytes - before <= RecordBatchBuilder.estimatedSize(key: key, value: value, headers: headers))
            }
        }
    }
}

struct AssignorTests {
    @Test("range: consecutive ranges per topic, the first members get the extra partitions (as the Java client)")
    func range() {
        let plan = PartitionAssignor.range.assign(
            subscriptions: [("b", ["t", "u"]), ("a", ["t", "u"]), ("c", ["t"])], partitionCounts: ["t": 7, "u": 3])
        #expect(plan["a"]!.map(\.topic) == ["t", "u"] && plan["a"]![0].partitions == [0, 1, 2] && plan["a"]![1].partitions == [0, 1])
        #expect(plan["b"]![0].partitions == [3, 4] && plan["b"]![1].partitions == [2])
        #expect(plan["c"]!.count == 1 && plan["c"]![0].partitions == [5, 6])
    }

    @Test("roundrobin: every partition once, dealt in turn to subscribers")
    func roundRobin() {
        let plan = PartitionAssignor.roundRobin.assign(subscriptions: [("a", ["t"]), ("b", ["t"])], partitionCounts: ["t": 5])
        #expect(plan["a"]![0].partitions == [0, 2, 4] && plan["b"]![0].partitions == [1, 3])
    }

    @Test("subscription and assignment payloads round-trip; an empty assignment is empty")
    func payloads() throws {
        let s = ConsumerProtocol.Subscription(topics: ["a", "b"], userData: nil)
        #expect(try ConsumerProtocol.decodeSubscription(ConsumerProtocol.encode(s)) == s)
        let a = ConsumerProtocol.Assignment(partitions: [("a", [0, 3]), ("b", [1])])
        #expect(try ConsumerProtocol.decodeAssignment(ConsumerProtocol.encode(a)) == a)
        #expect(try ConsumerProtocol.decodeAssignment(ByteBuffer()).partitions.isEmpty)
    }
}
