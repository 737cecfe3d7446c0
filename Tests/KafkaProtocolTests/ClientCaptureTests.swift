import KafkaProtocol
import NIOCore
import Testing

/// Request frames exactly as real clients sent them (ClientCaptures.swift, from
/// capture_client_frames.py): librdkafka 2.16 and the Java client 4.3.0, told by a fake broker
/// that the codec ranges of ApiKey are served, so they chose flexible versions (header v2).
struct ClientCaptureTests {
    static let byApi: [Int16: MessageCase] = Dictionary(uniqueKeysWithValues: Filled.messages.filter { $0.name.hasSuffix("Request") }.map { ($0.apiKey, $0) })

    static func frame(_ client: String, _ api: ApiKey) throws -> (RequestHeader, ByteBuffer) {
        let f = try #require(ClientCaptures.frames.first { $0.client == client && $0.apiKey == api.rawValue }, "\(client) \(api)")
        var framed = hex(f.hex)
        let body = try #require(try KafkaFrame.next(from: &framed))
        var r = KafkaReader(body)
        let h = try RequestHeader.decode(&r)
        return (h, r.buffer)
    }

    @Test("every captured frame: its header, then a body that decodes whole and re-encodes to the same bytes")
    func everyFrame() throws {
        #expect(Set(ClientCaptures.frames.map(\.client)).isSuperset(of: ["capture-librdkafka"]))
        for f in ClientCaptures.frames {
            var framed = hex(f.hex)
            let body = try #require(try KafkaFrame.next(from: &framed))
            #expect(framed.readableBytes == 0)
            var r = KafkaReader(body)
            let h = try RequestHeader.decode(&r)
            #expect(h.apiKey == f.apiKey && h.apiVersion == f.apiVersion && h.clientID == f.client)
            let c = try #require(Self.byApi[f.apiKey], "api \(f.apiKey)")
            #expect(h.isFlexible == (c.flexibleFrom.map { f.apiVersion >= $0 } ?? false))
            let again = try c.redecode(r.buffer, f.apiVersion)
            #expect(again.stable && again.bytes == r.buffer, "\(f.client) \(c.name) v\(f.apiVersion)")
            // The header too re-encodes to the client's bytes.
            var w = KafkaWriter()
            h.encode(&w)
            #expect(w.buffer == body.getSlice(at: body.readerIndex, length: body.readableBytes - r.remaining), "\(f.client) \(c.name) header")
        }
    }

    @Test("the clients chose flexible versions where the codec has them")
    func flexibleChosen() throws {
        for f in ClientCaptures.frames {
            let (h, _) = try Self.frame(f.client, ApiKey(rawValue: f.apiKey)!)
            if f.apiKey == ApiKey.produce.rawValue || f.apiKey == ApiKey.fetch.rawValue || f.apiKey == ApiKey.metadata.rawValue || f.apiKey == ApiKey.apiVersions.rawValue {
                #expect(h.isFlexible, "\(f.client) api \(f.apiKey) v\(f.apiVersion)")
            }
        }
    }

    @Test("Produce: acks, topic, and a RecordBatch that validates with the records the client sent", arguments: ["capture-librdkafka", "capture-java"])
    func produce(_ client: String) throws {
        guard ClientCaptures.frames.contains(where: { $0.client == client }) else { return }
        let (h, body) = try Self.frame(client, .produce)
        let p = try decoded(ProduceRequest.self, body, h.apiVersion)
        #expect(p.acks == -1 && p.transactionalID == nil && p.timeoutMs > 0)
        #expect(p.topicData.map(\.name) == ["orders"] && p.topicData[0].partitionData.map(\.index) == [0])
        let records = try #require(p.topicData[0].partitionData[0].records)
        let batches = try RecordBatch.batches(in: records)
        #expect(batches.count == 1)
        let b = batches[0]
        #expect(b.producerID == 1000 && b.producerEpoch == 0 && b.baseSequence == 0)  // from our InitProducerId answer
        let recs = try b.records()
        #expect(recs.first?.key == Array("k0".utf8) && recs.first?.value == Array("value-0".utf8))
    }

    @Test("Metadata v12, ApiVersions v3+, InitProducerId, FindCoordinator, JoinGroup, SyncGroup, OffsetFetch, OffsetCommit, Fetch, ListOffsets", arguments: ["capture-librdkafka", "capture-java"])
    func groupAndFetch(_ client: String) throws {
        guard ClientCaptures.frames.contains(where: { $0.client == client }) else { return }
        var (h, body) = try Self.frame(client, .apiVersions)
        let av = try decoded(ApiVersionsRequest.self, body, h.apiVersion)
        #expect(h.apiVersion >= 3 && !av.clientSoftwareName.isEmpty && !av.clientSoftwareVersion.isEmpty)
        (h, body) = try Self.frame(client, .metadata)
        let m = try decoded(MetadataRequest.self, body, h.apiVersion)
        #expect(h.apiVersion == 12)
        #expect(m.topics == nil || m.topics?.compactMap(\.name).allSatisfy { $0 == "orders" } == true)
        (h, body) = try Self.frame(client, .initProducerID)
        let ip = try decoded(InitProducerIDRequest.self, body, h.apiVersion)
        #expect(ip.transactionalID == nil && ip.producerID == -1 && ip.producerEpoch == -1)
        (h, body) = try Self.frame(client, .findCoordinator)
        let fc = try decoded(FindCoordinatorRequest.self, body, h.apiVersion)
        #expect((h.apiVersion >= 4 ? fc.coordinatorKeys : [fc.key]) == ["capture-group"] && fc.keyType == 0)
        (h, body) = try Self.frame(client, .joinGroup)
        let j = try decoded(JoinGroupRequest.self, body, h.apiVersion)
        #expect(j.groupID == "capture-group" && j.protocolType == "consumer" && !j.protocols.isEmpty && j.sessionTimeoutMs > 0)
        (h, body) = try Self.frame(client, .syncGroup)
        let s = try decoded(SyncGroupRequest.self, body, h.apiVersion)
        #expect(s.groupID == "capture-group" && s.generationID == 1 && s.assignments.count == 1)
        (h, body) = try Self.frame(client, .offsetFetch)
        let of = try decoded(OffsetFetchRequest.self, body, h.apiVersion)
        #expect(h.apiVersion >= 8 ? of.groups.map(\.groupID) == ["capture-group"] : of.groupID == "capture-group")
        (h, body) = try Self.frame(client, .offsetCommit)
        let oc = try decoded(OffsetCommitRequest.self, body, h.apiVersion)
        #expect(oc.groupID == "capture-group" && oc.generationIDOrMemberEpoch == 1)
        #expect(oc.topics.map(\.name) == ["orders"] && oc.topics[0].partitions.map(\.committedOffset) == [2])
        (h, body) = try Self.frame(client, .fetch)
        let f = try decoded(FetchRequest.self, body, h.apiVersion)
        let topic = try #require(f.topics.first)
        // From v13 a Fetch names its topic by id: the one our Metadata answer gave.
        #expect(h.apiVersion >= 13 ? topic.topicID == KafkaUUID("a6e4EJ2tEdGAtADAT9QwyA") : topic.topic == "orders")
        #expect(topic.partitions.map(\.partition) == [0] && f.maxWaitMs > 0)
        (h, body) = try Self.frame(client, .listOffsets)
        let lo = try decoded(ListOffsetsRequest.self, body, h.apiVersion)
        #expect(lo.replicaID == -1 && lo.topics.map(\.name) == ["orders"] && lo.topics[0].partitions.first?.timestamp == -2)
    }
}
