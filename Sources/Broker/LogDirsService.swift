import KafkaProtocol
import Primitives

/// DescribeLogDirs: this node's one data directory and, for each partition it replicates, the
/// bytes its log takes there, as storage last reported them (after every write to the partition
/// and every retention check; all of them right after start-up). Rill has no future replicas
/// (offset lag 0, never a future key) and does not report the file system's total and usable
/// bytes here (-1: unknown; the status page shows free bytes).
enum LogDirsService {
    static func describe(_ d: DescribeLogDirsRequest, _ request: KafkaRequest, _ node: some MetadataContext) -> [KafkaAction] {
        var topics: [DescribeLogDirsResponse.DescribeLogDirsTopic] = []
        for topic in node.controller.topics {
            // Asked for by name: only those partitions (Kafka leaves out what a broker lacks).
            let asked: [Int32]?
            if let wanted = d.topics {
                guard let t = wanted.first(where: { $0.topic == topic.name }) else { continue }
                asked = t.partitions
            } else {
                asked = nil
            }
            var partitions: [DescribeLogDirsResponse.DescribeLogDirsPartition] = []
            for p in topic.partitions where asked?.contains(p.partition) ?? true {
                guard let g = node.group(p.group) else { continue }
                partitions.append(.init(partitionIndex: p.partition, partitionSize: Int64(g.logBytes), offsetLag: 0, isFutureKey: false))
            }
            if !partitions.isEmpty { topics.append(.init(name: topic.name, partitions: partitions)) }
        }
        let result = DescribeLogDirsResponse.DescribeLogDirsResult(errorCode: .none, logDir: node.config.dataDirectory, topics: topics)
        return [.complete(request.answer(DescribeLogDirsResponse(errorCode: .none, results: [result])))]
    }
}
