import Broker
import Primitives
import Testing

/// `Ticks.from`: the one conversion of milliseconds to ticks.
struct TicksTests {
    @Test("milliseconds become ticks rounded up: any positive duration is at least one tick, zero is none")
    func roundsUp() {
        let cases: [(ms: Int, tick: Int, ticks: UInt64)] = [
            (0, 100, 0), (-5, 100, 0), (1, 100, 1), (99, 100, 1), (100, 100, 1), (101, 100, 2), (150, 100, 2), (5000, 100, 50),
            (5001, 100, 51), (7, 1, 7), (300, 10, 30), (Int.max, 1, UInt64(Int.max)), (Int.max, 10_000, UInt64(Int.max / 10_000 + 1)),
        ]
        for c in cases {
            #expect(Ticks.from(milliseconds: c.ms, tickMilliseconds: c.tick) == c.ticks, "\(c.ms) ms on \(c.tick) ms ticks")
        }
    }

    @Test("a node's config converts with its own tick length")
    func nodeConfig() {
        var c = NodeConfig(id: 1, members: [1], kafkaHost: "h", kafkaPort: 9092, seed: 1)
        c.tickMilliseconds = 50
        #expect(c.ticks(milliseconds: 120) == 3)
        #expect(c.ticks(milliseconds: 0) == 0)
    }
}
