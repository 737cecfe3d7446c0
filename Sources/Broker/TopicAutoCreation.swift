/// Topics this node asked the controller to create on a client's behalf (Metadata with
/// auto-creation, `__consumer_offsets` for the first group), so that a client polling Metadata
/// does not make it propose again on every poll. A name is asked again after a few election
/// timeouts: the command can be lost with a controller leader (simulator seed 1452 waited forever
/// for `__consumer_offsets`).
struct TopicAutoCreation {
    private var asked: [(name: String, since: UInt64)] = []

    /// Whether to ask for `name` now: not while an earlier request may still be on its way. A yes
    /// is remembered as asked at `now`.
    mutating func shouldAsk(_ name: String, now: UInt64, retryTicks: UInt64) -> Bool {
        if let earlier = asked.first(where: { $0.name == name }), now < earlier.since + retryTicks { return false }
        asked.removeAll { $0.name == name }
        asked.append((name, now))
        return true
    }

    /// The controller created it (or applied a create for it): nothing is waiting any more.
    mutating func created(_ name: String) {
        asked.removeAll { $0.name == name }
    }
}
