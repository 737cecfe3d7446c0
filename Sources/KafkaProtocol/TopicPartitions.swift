/// The shape most Kafka APIs share: per topic name, a list of per-partition entries.
public struct TopicPartitions<Partition: Equatable & Sendable>: Equatable, Sendable {
    public var name: String
    public var partitions: [Partition]

    public init(name: String, partitions: [Partition]) {
        self.name = name
        self.partitions = partitions
    }
}

extension KafkaWriter {
    /// `[name, [partition]]`.
    public mutating func topics<P>(_ topics: [TopicPartitions<P>], _ partition: (inout KafkaWriter, P) -> Void) {
        array(topics) { w, t in
            w.string(t.name)
            w.array(t.partitions, partition)
        }
    }
}

extension KafkaReader {
    /// `[name, [partition]]`; `minPartitionBytes` bounds the partition count by the bytes left.
    public mutating func topics<P>(
        _ field: String, minPartitionBytes: Int, _ partition: (inout KafkaReader) throws(KafkaWireError) -> P
    ) throws(KafkaWireError) -> [TopicPartitions<P>] {
        try array(field, minElementBytes: 6) { r throws(KafkaWireError) in
            TopicPartitions(name: try r.string("\(field) name"), partitions: try r.array("partitions", minElementBytes: minPartitionBytes, partition))
        }
    }
}
