import ArgumentParser
import KafkaProtocol
import NIOCore

/// `rill-bench codec`: what decoding and encoding a Produce and a Fetch costs, per request, with
/// the generated codecs against the hand-written ones they replaced (`LegacyCodec.swift`), on the
/// same messages in the same run. Records stay slices of the request buffer in both, so the
/// figures are the cost of the message structure, not of the record bytes.
struct CodecBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec", abstract: "Produce and Fetch decode+encode cost: generated codecs against the hand-written baseline, same run.")

    @Option(help: "Partitions per request (one topic).") var partitions = 8
    @Option(help: "Record bytes per partition.") var recordBytes = 16384
    @Option(help: "Iterations per measurement.") var iterations = 200_000
    @Option(help: "Runs of each kind (alternating); the best of each counts.") var runs = 5
    @Option(help: "Version used (classic, non-flexible): Produce and Fetch.") var classicVersions = "8,11"
    @Option(help: "Flexible versions measured for the generated codec only: Produce and Fetch.") var flexibleVersions = "11,12"

    func run() throws {
        let classic = classicVersions.split(separator: ",").compactMap { Int16($0) }
        let flexible = flexibleVersions.split(separator: ",").compactMap { Int16($0) }
        guard classic.count == 2, flexible.count == 2 else { throw ValidationError("versions: two numbers, Produce then Fetch") }
        let records = ByteBuffer(repeating: 7, count: recordBytes)
        let names = (0..<partitions).map { Int32($0) }

        // The same messages, built once in each shape.
        let produce = ProduceRequest(
            acks: -1, timeoutMs: 30000, topicData: [.init(name: "orders", partitionData: names.map { .init(index: $0, records: records) })])
        let legacyProduce = LegacyProduceRequest(
            acks: -1, timeoutMs: 30000, topics: [.init(name: "orders", partitions: names.map { .init(index: $0, records: records) })])
        // Null aborted transactions, as the hand-written codec wrote them (the generated default is
        // an empty list), so both encode the same bytes.
        let fetch = FetchResponse(responses: [.init(topic: "orders", partitions: names.map {
            .init(partitionIndex: $0, highWatermark: 1000, lastStableOffset: 1000, logStartOffset: 0, abortedTransactions: nil, records: records)
        })])
        var legacyFetch = LegacyFetchResponse(topics: [])
        legacyFetch.topics = [.init(topic: "orders", partitions: names.map {
            .init(partitionIndex: $0, highWatermark: 1000, lastStableOffset: 1000, logStartOffset: 0, records: records)
        })]

        func bytes(_ encode: (inout KafkaWriter) -> Void) -> ByteBuffer {
            var w = KafkaWriter()
            encode(&w)
            return w.buffer
        }
        let produceBytes = bytes { produce.encode(&$0, version: classic[0]) }
        let legacyProduceBytes = bytes { legacyProduce.encode(&$0, version: classic[0]) }
        let fetchBytes = bytes { fetch.encode(&$0, version: classic[1]) }
        let legacyFetchBytes = bytes { legacyFetch.encode(&$0, version: classic[1]) }
        guard produceBytes == legacyProduceBytes, fetchBytes == legacyFetchBytes else {
            throw ValidationError("the generated and the hand-written codecs encode different bytes: not the same messages")
        }
        let flexibleProduceBytes = bytes { produce.encode(&$0, version: flexible[0]) }
        let flexibleFetchBytes = bytes { fetch.encode(&$0, version: flexible[1]) }

        // One iteration: the broker's work for a request (decode the Produce request, encode the
        // Fetch response) and a client's (encode the Produce request, decode the Fetch response).
        let n = iterations
        /// `n` decode+encode round trips of `bytes`; the sum of the encoded sizes keeps the work live.
        func roundTrips(_ bytes: ByteBuffer, _ decodeEncode: @escaping (inout KafkaReader, inout KafkaWriter) throws -> Void) -> () throws -> Int {
            {
                var sum = 0
                for _ in 0..<n {
                    var r = KafkaReader(bytes)
                    var w = KafkaWriter()
                    try decodeEncode(&r, &w)
                    sum &+= w.buffer.readableBytes
                }
                return sum
            }
        }
        let (pv, fv, pf, ff) = (classic[0], classic[1], flexible[0], flexible[1])
        let cases: [(String, () throws -> Int)] = [
            ("produce request decode+encode, generated v\(pv)",
             roundTrips(produceBytes) { r, w in try ProduceRequest.decode(&r, version: pv).encode(&w, version: pv) }),
            ("produce request decode+encode, hand-written v\(pv)",
             roundTrips(legacyProduceBytes) { r, w in try LegacyProduceRequest.decode(&r, version: pv).encode(&w, version: pv) }),
            ("produce request decode+encode, generated v\(pf) (flexible)",
             roundTrips(flexibleProduceBytes) { r, w in try ProduceRequest.decode(&r, version: pf).encode(&w, version: pf) }),
            ("fetch response decode+encode, generated v\(fv)",
             roundTrips(fetchBytes) { r, w in try FetchResponse.decode(&r, version: fv).encode(&w, version: fv) }),
            ("fetch response decode+encode, hand-written v\(fv)",
             roundTrips(legacyFetchBytes) { r, w in try LegacyFetchResponse.decode(&r, version: fv).encode(&w, version: fv) }),
            ("fetch response decode+encode, generated v\(ff) (flexible)",
             roundTrips(flexibleFetchBytes) { r, w in try FetchResponse.decode(&r, version: ff).encode(&w, version: ff) }),
        ]
        let clock = ContinuousClock()
        var best = [Double](repeating: .infinity, count: cases.count)
        for _ in 0..<runs {
            for (k, c) in cases.enumerated() {
                let start = clock.now
                let sum = try c.1()
                let elapsed = clock.now - start
                precondition(sum > 0)
                let ns = (Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9) / Double(n)
                best[k] = min(best[k], ns)
            }
        }
        print("\(partitions) partitions of \(recordBytes) B records, \(n) iterations, best of \(runs) runs (ns per decode+encode):")
        for (k, c) in cases.enumerated() {
            print("  \(c.0.padding(60)) \(Int(best[k].rounded())) ns")
        }
        func two(_ x: Double) -> String { "\(Double(Int((x * 100).rounded())) / 100)" }
        print("ratio generated/hand-written: produce request \(two(best[0] / best[1])), fetch response \(two(best[3] / best[4])) (1.0 = same cost)")
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
