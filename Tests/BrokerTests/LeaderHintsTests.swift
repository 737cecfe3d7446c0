@testable import Broker
import Primitives
import Raft
import Testing

@Suite struct LeaderHintsTests {
    @Test("a hint of an older term does not replace a newer one; hints stay sorted by group; refused groups are not kept")
    func termsAndOrder() {
        var hints = LeaderHints()
        hints.receive([LeaderHint(group: GroupID(7), leader: 2, term: 5), LeaderHint(group: GroupID(3), leader: 1, term: 1)]) { _ in true }
        #expect(hints.hints.map(\.group) == [GroupID(3), GroupID(7)])
        hints.receive([LeaderHint(group: GroupID(7), leader: 3, term: 4)]) { _ in true }
        #expect(hints.hint(for: GroupID(7))?.leader == 2)
        hints.receive([LeaderHint(group: GroupID(7), leader: 3, term: 6)]) { _ in true }
        #expect(hints.hint(for: GroupID(7))?.leader == 3)
        hints.receive([LeaderHint(group: GroupID(9), leader: 1, term: 1)]) { $0 != GroupID(9) }
        #expect(hints.hint(for: GroupID(9)) == nil)
    }

    @Test("a topic is asked for once per retry interval, and again at once after it was created")
    func autoCreationRetries() {
        var asked = TopicAutoCreation()
        var ask: Bool
        ask = asked.shouldAsk("t", now: 10, retryTicks: 5)
        #expect(ask)
        ask = asked.shouldAsk("t", now: 14, retryTicks: 5)
        #expect(!ask)
        ask = asked.shouldAsk("u", now: 14, retryTicks: 5)
        #expect(ask)
        ask = asked.shouldAsk("t", now: 15, retryTicks: 5)
        #expect(ask)
        asked.created("t")
        ask = asked.shouldAsk("t", now: 16, retryTicks: 5)
        #expect(ask)
    }
}
