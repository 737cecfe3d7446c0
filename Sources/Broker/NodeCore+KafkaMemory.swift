/// What Kafka partitions' Raft logs hold in memory, node-wide. Each keeps the entries it applied
/// since its last snapshot (`NodeConfig.kafkaMemoryBytes` at most: the records are on disk, the
/// copy in memory serves followers and is dropped by a snapshot). Per partition alone that is no
/// bound: with a thousand partitions written at once a node grew by the whole stream, and fresh
/// pages (zeroed by the kernel) took a fifth of its CPU. So the node also keeps the sum under
/// `kafkaMemoryBytesTotal`, snapshotting the partitions that hold the most.
extension NodeCore {
    /// `g` applied `bytes` more (or, negative, let go of them).
    func noteRetained(_ g: Group, _ bytes: Int) {
        g.appliedBytesSinceSnapshot += bytes
        if g.isKafkaPartition { kafkaRetainedBytes += bytes }
    }

    /// `g`'s log no longer holds what it applied (snapshot taken or installed, group removed).
    func noteReleased(_ g: Group) {
        noteRetained(g, -g.appliedBytesSinceSnapshot)
    }

    /// Over the node's budget: snapshot the partitions holding the most until the rest fits in
    /// half of it (so this runs once per half budget written, not once per entry). A partition
    /// that cannot snapshot yet (its applied entries not persisted) does at its next apply.
    func trimKafkaMemory() {
        guard kafkaRetainedBytes > config.kafkaMemoryBytesTotal else { return }
        var holders = groups.filter { $0.isKafkaPartition && $0.appliedBytesSinceSnapshot > 0 && $0.snapshotWanted == nil }
        holders.sort { ($0.appliedBytesSinceSnapshot, $1.id.value) > ($1.appliedBytesSinceSnapshot, $0.id.value) }
        var left = kafkaRetainedBytes
        for g in holders {
            guard left > config.kafkaMemoryBytesTotal / 2 else { break }
            left -= g.appliedBytesSinceSnapshot
            g.snapshotWanted = g.state.appliedIndex
            if g.outstanding == nil { maybeCompact(g) }
        }
    }
}
