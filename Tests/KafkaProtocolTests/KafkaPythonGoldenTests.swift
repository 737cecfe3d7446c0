import KafkaProtocol
import NIOCore
import Testing

/// Bytes from another implementation: kafka-python 3.0.12's encoding (KafkaPythonGolden.swift) of
/// every message at every version of Rill's codec, of the values FilledMessages.swift builds. Both
/// files come from golden_from_kafka_python.py (its docstring says how to regenerate them).
struct KafkaPythonGoldenTests {
    struct Line: Sendable, CustomTestStringConvertible {
        var message: String
        var version: Int16
        var nulls: Bool
        var hex: String
        var testDescription: String { "\(message) v\(version)\(nulls ? " nulls" : "")" }
    }

    static let lines: [Line] = KafkaPythonGolden.lines.split(separator: "\n").map { line in
        let w = line.split(separator: " ")
        return Line(message: String(w[0]), version: Int16(w[1])!, nulls: w[2] == "nulls", hex: w[3] == "-" ? "" : String(w[3]))
    }

    static let byMessage: [String: MessageCase] = Dictionary(uniqueKeysWithValues: Filled.messages.map { ($0.name, $0) })

    @Test("kafka-python's bytes decode to the filled value, every byte used; ours encode to kafka-python's bytes")
    func decodeAndEncode() throws {
        for line in Self.lines {
            let c = try #require(Self.byMessage[line.message], "\(line.message)")
            let fill = Fill(nulls: line.nulls)
            do {
                let (same, why) = try c.decodesToFilled(hex(line.hex), line.version, fill)
                #expect(same, "\(line.testDescription)\n\(why)")
            } catch {
                Issue.record("\(line.testDescription): \(error)")
            }
            #expect(hexString(c.encodeFilled(line.version, fill)) == line.hex, "\(line.testDescription)")
        }
    }

    @Test("there is a kafka-python encoding of every message at every version of the codec")
    func coverage() {
        for c in Filled.messages {
            let versions = Set(Self.lines.filter { $0.message == c.name && !$0.nulls }.map(\.version))
            #expect(versions == Set(c.versions), "\(c.name)")
        }
        #expect(Set(Self.lines.map(\.message)) == Set(Filled.messages.map(\.name)))
    }

    @Test("spot checks: kafka-python's Produce v11, Fetch v17 and Metadata v12 read field by field")
    func spotChecks() throws {
        func golden(_ m: String, _ v: Int16, nulls: Bool = false) throws -> ByteBuffer {
            hex(try #require(Self.lines.first { $0.message == m && $0.version == v && $0.nulls == nulls }).hex)
        }
        let p = try decoded(ProduceRequest.self, try golden("ProduceRequest", 11), 11)
        #expect(p.transactionalID == "ti-514" && p.topicData.count == 1)
        #expect(p.topicData[0].partitionData.first?.records == ByteBuffer(bytes: [141, 126, 127] as [UInt8]))
        let pn = try decoded(ProduceRequest.self, try golden("ProduceRequest", 11, nulls: true), 11)
        #expect(pn.transactionalID == nil && pn.topicData[0].partitionData[0].records == nil)
        let f = try decoded(FetchRequest.self, try golden("FetchRequest", 17), 17)
        #expect(f.clusterID != nil && f.replicaState.replicaID != -1 && f.topics[0].topicID != .zero)
        #expect(f.topics[0].partitions[0].replicaDirectoryID != .zero && f.topics[0].topic == "")
        let r = try decoded(FetchResponse.self, try golden("FetchResponse", 17), 17)
        let part = try #require(r.responses.first?.partitions.first)
        #expect(part.currentLeader.leaderEpoch != -1 && part.divergingEpoch.epoch != -1 && part.snapshotID.epoch != -1)
        #expect(r.nodeEndpoints.count == 1 && r.nodeEndpoints[0].rack != nil)
        let m = try decoded(MetadataResponse.self, try golden("MetadataResponse", 12, nulls: true), 12)
        #expect(m.topics[0].name == nil && m.clusterID == nil && m.brokers[0].rack == nil)
        #expect(m.clusterAuthorizedOperations == -2_147_483_648)  // gone after v10
    }
}
