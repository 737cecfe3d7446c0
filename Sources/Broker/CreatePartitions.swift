import KafkaProtocol
import Primitives

/// CreatePartitions: a topic grows to a new total; each topic is one controller command, placed
/// and answered like a CreateTopics (`TopicAdmin`'s flow). Existing partitions do not move, so a
/// keyed producer's key-to-partition mapping changes for the keys that now hash elsewhere, as in
/// Kafka.
extension TopicAdmin {
    mutating func createPartitions(_ c: CreatePartitionsRequest, _ request: KafkaRequest, _ node: some AdminContext) -> [KafkaAction] {
        var p = PendingAdmin(
            request: request, version: request.header.apiVersion, kind: .createPartitions, topics: [],
            deadlineTick: node.ticks + node.config.ticks(milliseconds: Int(c.timeoutMs)))
        for t in c.topics {
            if p.topics.contains(where: { $0.name == t.name }) {
                p.topics.append(.answered(t.name, .invalidRequest, "topic '\(t.name)' appears twice in the request"))
            } else if let assignments = t.assignments, !assignments.isEmpty {
                p.topics.append(.answered(t.name, .invalidReplicaAssignment, "manual replica assignments are not supported: Rill places the new partitions"))
            } else if let topic = node.controller.topic(t.name) {
                if let reason = ControllerState.validatePartitionIncrease(topic, to: t.count) {
                    p.topics.append(.answered(t.name, InternalTopic.isInternal(t.name) ? .invalidRequest : .invalidPartitions, reason))
                } else if c.validateOnly {
                    p.topics.append(.answered(t.name, .none))
                } else {
                    var pending = PendingAdmin.Topic(name: t.name, command: .createPartitions(name: t.name, total: t.count))
                    Self.ask(&pending, node)
                    p.topics.append(pending)
                }
            } else {
                p.topics.append(.answered(t.name, .unknownTopicOrPartition, "topic '\(t.name)' does not exist"))
            }
        }
        return wait(p, node)
    }
}
