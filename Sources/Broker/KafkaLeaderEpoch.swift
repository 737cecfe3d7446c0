import KafkaProtocol
import Primitives
import Raft

extension NodeCore {
    /// OffsetForLeaderEpoch: for a leader epoch (a Raft term), the offset where the next higher
    /// term's data starts — the end of that epoch — or the log end offset for the current term.
    /// Consumers (kafka-python 3, librdkafka ≥ 2.1) ask after a leader change to check that their
    /// position is still on the log. Raft never rewrites committed entries, so a consumer that
    /// read only committed data always passes this check.
    func offsetForLeaderEpoch(_ request: OffsetForLeaderEpochRequest) -> OffsetForLeaderEpochResponse {
        var topics: [OffsetForLeaderEpochResponse.OffsetForLeaderTopicResult] = []
        for t in request.topics {
            var parts: [OffsetForLeaderEpochResponse.EpochEndOffset] = []
            for p in t.partitions {
                guard let assignment = controller.topic(t.topic)?.partitions.first(where: { $0.partition == p.partition }) else {
                    parts.append(.init(errorCode: .unknownTopicOrPartition, partition: p.partition, leaderEpoch: -1, endOffset: -1))
                    continue
                }
                guard let g = group(assignment.group), g.isServing else {
                    parts.append(.init(errorCode: .notLeaderOrFollower, partition: p.partition, leaderEpoch: -1, endOffset: -1))
                    continue
                }
                let current = Int32(truncatingIfNeeded: g.withRaft { $0.term }.value)
                if p.currentLeaderEpoch >= 0 && p.currentLeaderEpoch < current {
                    parts.append(.init(errorCode: .fencedLeaderEpoch, partition: p.partition, leaderEpoch: -1, endOffset: -1))
                    continue
                }
                if p.currentLeaderEpoch > current {
                    parts.append(.init(errorCode: .unknownLeaderEpoch, partition: p.partition, leaderEpoch: -1, endOffset: -1))
                    continue
                }
                let (epoch, end) = epochEnd(g, epoch: p.leaderEpoch, current: current)
                parts.append(.init(partition: p.partition, leaderEpoch: epoch, endOffset: end))
            }
            topics.append(.init(topic: t.topic, partitions: parts))
        }
        return OffsetForLeaderEpochResponse(topics: topics)
    }

    /// The largest term ≤ `epoch` with data in the log, and the first offset after it. Looks at
    /// the Raft log still in memory; an epoch older than it answers with the start of memory's
    /// window, which a consumer of committed data is never beyond.
    func epochEnd(_ g: Group, epoch: Int32, current: Int32) -> (Int32, Int64) {
        let leo = Int64(g.logEndOffset)
        if epoch >= current { return (current, leo) }
        let (first, last) = g.withRaft { ($0.firstIndex, $0.lastIndex) }
        var offset = leo
        var i = last
        var found: Int32 = -1
        // Walk back over entries of terms above `epoch`; the offset where they begin is the end.
        while i >= first && i > .zero {
            guard let e = g.withRaft({ $0.entry(at: i) }) else { break }
            if Int64(e.term.value) <= Int64(epoch) {
                found = Int32(truncatingIfNeeded: e.term.value)
                break
            }
            offset -= Int64(g.records(e))
            i = LogIndex(i.value - 1)
        }
        return (found == -1 ? epoch : found, offset)
    }
}
