// The quick start of docs/client.md, compiled with the package so the documented code stays true.
// Run against `swift run -c release rill dev`:  swift run client-quickstart [host:port]
import RillClient

let bootstrap = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "127.0.0.1:9092"
let client = try KafkaClient(bootstrap: [bootstrap])
do {
    try await Admin(client: client).createTopic("orders", partitions: 3)
} catch RillClientError.kafka(.topicAlreadyExists, _) {
    // A second run: fine.
}

let producer = try Producer(client: client)
// One record, waiting for it to be acknowledged by a majority of the partition's replicas:
let written = try await producer.send(topic: "orders", key: Array("customer-7".utf8), value: Array("pizza".utf8))
print("written at \(written.topic)[\(written.partition)]@\(written.offset)")

// Many records: hand them over without waiting, then flush.
for i in 0..<10_000 {
    try await producer.enqueue(ProducerRecord(topic: "orders", value: Array("order \(i)".utf8))) { result in
        if case .failure(let error) = result { print("not written: \(error)") }
    }
}
try await producer.flush()

let consumer = Consumer(client: client)
try await consumer.assign(topic: "orders", from: .earliest)  // every partition
var read = 0
while read < 10_001 {
    let records = try await consumer.poll()
    read += records.count
    if let last = records.last {
        print("\(read) read; last: \(last.partition) \(last.offset) \(String(decoding: last.value ?? [], as: UTF8.self))")
    }
}
await client.shutdown()
