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
    @Option(help: "Size of each generated record's value in bytes (with --count).") var size = 100
    @Flag(help: "Print partition and offset of every record.") var verbose = false

    func run() async throws {
        let kafka = try client.makeClient()
        let producer = try Producer(client: kafka)
        var deliveries: [(Int, EventLoopFuture<RecordMetadata>)] = []
        var n = 0
        func record(_ key: [UInt8]?, _ value: [UInt8]) -> ProducerRecord {
            ProducerRecord(topic: topic, partition: partition, key: key, value: value)
        }
        if let count {
            let value = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            for _ in 0..<count {
                deliveries.append((n, try await producer.enqueue(record(nil, value))))
                n += 1
                if deliveries.count >= 10_000 { try await settle(&deliveries) }
            }
        } else {
            while let line = readLine(strippingNewline: true) {
                var key: [UInt8]?
                var value = Array(line.utf8)
                if let sep = keySeparator, let r = line.range(of: sep) {
                    key = Array(line[..<r.lowerBound].utf8)
                    value = Array(line[r.upperBound...].utf8)
                }
                deliveries.append((n, try await producer.enqueue(record(key, value))))
                n += 1
                if deliveries.count >= 10_000 { try await settle(&deliveries) }
            }
        }
        try await producer.flush()
        try await settle(&deliveries)
        await kafka.shutdown()
        FileHandle.standardError.write(Data("produced \(n) records to \(topic)\n".utf8))
    }

    private func settle(_ deliveries: inout [(Int, EventLoopFuture<RecordMetadata>)]) async throws {
        for (k, d) in deliveries {
            do {
                let m = try await d.get()
                if verbose { print("record \(k): \(m.topic)[\(m.partition)]@\(m.offset)") }
            } catch {
                throw CLIError("record \(k) was not written: \(error)")
            }
        }
        deliveries.removeAll()
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
        var idlePolls = 0
        while count.map({ seen < $0 }) ?? true {
            let records = try await consumer.poll()
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
    }
}
