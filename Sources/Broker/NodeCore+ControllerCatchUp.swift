import Raft

/// Whether this node's copy of the controller's state — topics, partitions, brokers — is current.
///
/// At start-up a node knows only what its own disk says is committed; the rest of the controller's
/// log (topics created just before a crash of every node, say) reaches it once a controller leader
/// is elected and replicates. Until then "this topic does not exist" may be false: librdkafka
/// drops a topic answered UNKNOWN_TOPIC_OR_PARTITION from its metadata and fails every record
/// produced to it, and auto-creation would try to create it again. Kafka's brokers likewise serve
/// no metadata until they have caught up with the metadata log (KRaft's fenced brokers).
///
/// The test is Raft's log matching: once this node has applied an entry of the present
/// controller leader's term, it holds every entry committed before that leader's election, so
/// everything any node ever acknowledged about topics. It then stays current for good: its
/// state only moves forward.
extension NodeCore {
    func noteControllerEntryApplied(_ e: Entry, of g: Group) {
        guard !controllerCaughtUp else { return }
        let (term, leader) = g.withRaft { ($0.term, $0.leader) }
        if e.term == term && !leader.isNone { controllerCaughtUp = true }
    }
}
