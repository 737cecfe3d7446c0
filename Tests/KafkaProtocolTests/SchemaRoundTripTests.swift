import KafkaProtocol
import NIOCore
import Testing

/// Every generated request and response at every version of its codec, with every field that
/// exists in that version set (FilledMessages.swift: which field exists and may be null in which
/// version comes from Kafka's own JSON definitions, through kafka-python, not from Rill's schema).
struct SchemaRoundTripTests {
    @Test("each version's fields round-trip; fields of other versions are dropped by the encoder", arguments: Filled.messages)
    func roundTrip(_ c: MessageCase) throws {
        for v in c.versions {
            for nulls in [false, true] {
                let exact = Fill(nulls: nulls)
                let bytes = c.encodeFilled(v, exact)
                // A value with the fields of every version set encodes exactly as the value with
                // only this version's: a field the codec wrongly keeps in this version shows here.
                let everything = c.encodeFilled(v, Fill(all: true, nulls: nulls))
                #expect(hexString(everything) == hexString(bytes), "\(c.name) v\(v) nulls: \(nulls): fields of other versions leak into the encoding")
                // And it decodes to this version's value: a field the codec wrongly drops shows here.
                let (same, why) = try c.decodesToFilled(everything, v, exact)
                #expect(same, "\(c.name) v\(v) nulls: \(nulls)\n\(why)")
                let again = try c.redecode(bytes, v)
                #expect(again.bytes == bytes, "\(c.name) v\(v): re-encoding differs")
            }
        }
    }

    @Test("the filled values are not the defaults (the round trip above tests something)", arguments: Filled.messages)
    func filledIsFilled(_ c: MessageCase) {
        // Versions without a field (nothing, or just an empty tagged-field section): ApiVersionsRequest
        // before v3, ListGroupsRequest before v4.
        let empty: [String: Int16] = ["ApiVersionsRequest": 3, "ListGroupsRequest": 4]
        for v in c.versions {
            if let upTo = empty[c.name], v < upTo {
                #expect(c.encodeFilled(v, Fill(all: true)).readableBytes <= 1, "\(c.name) v\(v)")
            } else {
                #expect(c.filledIsNotDefault(v, Fill()), "\(c.name) v\(v)")
            }
        }
    }

    @Test("every API of ApiKey has its request and response here, with the registry's versions")
    func everyApi() {
        for key in ApiKey.allCases {
            let cases = Filled.messages.filter { $0.apiKey == key.rawValue }
            #expect(cases.count == 2, "\(key)")
            for c in cases {
                #expect(c.versions == key.codecVersions && c.flexibleFrom == key.flexibleFrom, "\(c.name)")
            }
        }
        #expect(Filled.messages.count == 2 * ApiKey.allCases.count)
    }
}
