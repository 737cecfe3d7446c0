import ArgumentParser
import Foundation
import NIOCore
import RillClient
import RillTLS

/// Options shared by `rill produce` and `rill consume`: where the cluster is and how to reach it.
struct ClientOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "Bootstrap brokers, host:port[,host:port...].")
    var brokers = "127.0.0.1:9092"
    @Option(help: "CA certificate (PEM) to verify the brokers with; turns TLS on.") var tlsCA: String?
    @Option(help: "Client certificate (PEM), for a listener that requires one.") var tlsCert: String?
    @Option(help: "Private key (PEM) of the client certificate.") var tlsKey: String?

    func makeClient() throws -> KafkaClient {
        var tls: TLSContext?
        if let ca = tlsCA {
            func read(_ path: String) throws -> [UInt8] {
                guard let d = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
                return Array(d)
            }
            guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
            tls = try TLSContext(
                role: .client,
                configuration: TLSConfiguration(
                    certificatePEM: try tlsCert.map(read), privateKeyPEM: try tlsKey.map(read), trustedCAPEM: try read(ca),
                    requireClientCertificate: false, minimumVersion: .tls12))
        } else if tlsCert != nil || tlsKey != nil {
            throw ValidationError("--tls-cert/--tls-key need --tls-ca")
        }
        return try KafkaClient(bootstrap: brokers.split(separator: ",").map(String.init), clientID: "rill-cli", tls: tls)
    }
}

/// `rill produce TOPIC`: one record per line of standard input (or `--count` generated ones).
struct Produce: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Produce records from standard input, one per line (idempotent, acks=all).",
        discussion: """
            With --key-separator, the text before the first separator is the record's key.
            Prints a summary on standard error; --verbose prints partition and offset per record.
            """)

    @OptionGroup var client: ClientOptions
    @Argument(help: "Topic (created with the cluster's defaults if it does not exist).") var topic: String
    @Option(help: "Write every record to this partition instead of partitioning by key.") var partition: Int32?
    @Option(help: "Split each line into key and value at the first occurrence of this string.") var keySeparator: String?
    @Option(help: "Instead of reading standard input, produce this many generated records.") var count: Int?
    @Option(help: "Instead of reading standard input, produce generated records for this many seconds.") var duration: Double?
    @Option(help: "Size of each generated record's value in bytes (with --count or --duration).") var size = 100
    @Option(help: "Milliseconds a batch waits for more records.") var lingerMs = 5
    @Option(help: "Bytes at which a batch is sent (1 KiB to 1 MiB).") var batchBytes = 1_000_000
    @Flag(help: "Print partition and offset of every record.") var verbose = false
    @Flag(help: "Print one JSON line with records, seconds and MB/s at the end (for benchmarks).") var stats = false

    func run() async throws {
        let kafka = try client.makeClient()
        var configuration = ProducerConfiguration()
        configuration.lingerMs = lingerMs
        configuration.batchBytes = batchBytes
        let producer = try Producer(client: kafka, configuration: configuration)
        let start = Date()
        let outcome = DeliveryTally(verbose: verbose)
        var n = 0
        func record(_ key: [UInt8]?, _ value: [UInt8]) -> ProducerRecord {
            ProducerRecord(topic: topic, partition: partition, key: key, value: value)
        }
        if count != nil || duration != nil {
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            let end = duration.map { start.addingTimeInterval($0) }
            while count.map({ n < $0 }) ?? true {
                if let end, n % 1000 == 0, Date() >= end { break }
                try await producer.enqueue(record(nil, value), onDelivery: outcome.callback(n))
                n += 1
            }
        } else {
            while let line = readLine(strippingNewline: true) {
                var key: [UInt8]?
                var value = Array(line.utf8)
                if let sep = keySeparator, let r = line.range(of: sep) {
                    key = Array(line[..<r.lowerBound].utf8)
                    value = Array(line[r.upperBound...].utf8)
                }
                try await producer.enqueue(record(key, value), onDelivery: outcome.callback(n))
                n += 1
            }
        }
        try await producer.flush()
        let seconds = Date().timeIntervalSince(start)
        await kafka.shutdown()
        if stats {
            let mb = Double(n * size) / seconds / 1e6
            print("{\"test\": \"swift-produce\", \"size\": \(size), \"records\": \(n), \"seconds\": \(String(format: "%.2f", seconds)), "
                + "\"records_per_s\": \(Int(Double(n) / seconds)), \"mb_per_s\": \(String(format: "%.2f", mb))}")
        }
        if let (k, error) = outcome.firstFailure {
            throw CLIError("\(outcome.failures) of \(n) records were not written; record \(k): \(error)")
        }
        FileHandle.standardError.write(Data("produced \(n) records to \(topic)\n".utf8))
    }
}

/// Counts delivery results as they arrive (on the client's event loop).
final class DeliveryTally: @unchecked Sendable {
    private let lock = NSLock()
    private let verbose: Bool
    private(set) var failures = 0
    private(set) var firstFailure: (Int, Error)?

    init(verbose: Bool) { self.verbose = verbose }

    func callback(_ k: Int) -> @Sendable (Result<RecordMetadata, Error>) -> Void {
        { result in
            switch result {
            case .success(let m):
                if self.verbose { print("record \(k): \(m.topic)[\(m.partition)]@\(m.offset)") }
            case .failure(let error):
                self.lock.lock()
                self.failures += 1
                if self.firstFailure == nil { self.firstFailure = (k, error) }
                self.lock.unlock()
            }
        }
    }
}

/// `rill consume TOPIC`: print records as they arrive.
struct Consume: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a topic's records (values, one per line) from every partition or one.")

    @OptionGroup var client: ClientOptions
    @Argument(help: "Topic.") var topic: String
    @Option(help: "Only this partition.") var partition: Int32?
    @Option(help: "Where to start: earliest, latest, an offset, or a time like @1732530000000 (ms).") var from = "earliest"
    @Option(help: "Stop after this many records.") var count: Int?
    @Flag(help: "Stop when the end of every partition is reached.") var exitAtEnd = false
    @Flag(help: "Print topic, partition, offset and key too.") var verbose = false
    @Flag(help: "Print nothing per record; one JSON line with records, bytes, seconds and MB/s at the end.") var stats = false

    func run() async throws {
        let position: Consumer.Position
        switch from {
        case "earliest": position = .earliest
        case "latest": position = .latest
        case let s where s.hasPrefix("@"):
            guard let t = Int64(s.dropFirst()) else { throw ValidationError("--from @T needs milliseconds since 1970") }
            position = .timestamp(t)
        default:
            guard let o = Int64(from), o >= 0 else { throw ValidationError("--from must be earliest, latest, an offset or @milliseconds") }
            position = .offset(o)
        }
        let kafka = try client.makeClient()
        let consumer = Consumer(client: kafka)
        if let partition {
            await consumer.assign(topic: topic, partition: partition, from: position)
        } else {
            try await consumer.assign(topic: topic, from: position)
        }
        var seen = 0
        var bytes = 0
        var idlePolls = 0
        var start: Date?
        var last = Date()
        while count.map({ seen < $0 }) ?? true {
            let records = try await consumer.poll()
            if stats {
                // Timed from the first record to the last, so start-up and the final empty polls
                // are not counted.
                if start == nil && !records.isEmpty { start = Date() }
                seen += records.count
                for r in records { bytes += (r.value?.count ?? 0) + (r.key?.count ?? 0) }
                if !records.isEmpty { last = Date() }
                idlePolls = records.isEmpty ? idlePolls + 1 : 0
                if exitAtEnd && idlePolls >= 2 { break }
                continue
            }
            for r in records {
                let value = r.value.map { String(decoding: $0, as: UTF8.self) } ?? "(null)"
                if verbose {
                    let key = r.key.map { String(decoding: $0, as: UTF8.self) } ?? "(null)"
                    print("\(r.topic)[\(r.partition)]@\(r.offset) key=\(key) \(value)")
                } else {
                    print(value)
                }
                seen += 1
                if let count, seen >= count { break }
            }
            // With --exit-at-end: two empty long polls in a row mean every partition is drained.
            idlePolls = records.isEmpty ? idlePolls + 1 : 0
            if exitAtEnd && idlePolls >= 2 { break }
        }
        await kafka.shutdown()
        if stats {
            let seconds = max(last.timeIntervalSince(start ?? last), 0.001)
            print("{\"test\": \"swift-consume\", \"records\": \(seen), \"bytes\": \(bytes), \"seconds\": \(String(format: "%.2f", seconds)), "
                + "\"records_per_s\": \(Int(Double(seen) / seconds)), \"mb_per_s\": \(String(format: "%.2f", Double(bytes) / seconds / 1e6))}")
        }
    }
}
