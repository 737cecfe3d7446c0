/// Time inside the core is a count of ticks; Kafka requests and the configuration speak
/// milliseconds. Every conversion from one to the other goes through `Ticks.from`.
public enum Ticks {
    /// `milliseconds` as ticks of `tickMilliseconds` each: rounded up, so any positive duration
    /// is at least one tick; zero (or less) is zero ticks.
    ///
    /// Up, because a deadline rounded down fires early: 150 ms on 100 ms ticks was one tick,
    /// and 50 ms was none. A deadline of `n` ticks still fires within one tick of the time asked
    /// (the current tick is partly over when it is set), never a whole tick early. Zero stays
    /// zero because it means "now" where it matters (a Fetch with `max_wait_ms` 0 is answered at
    /// once; a `group.initial.rebalance.delay.ms` of 0 is no delay); deadlines checked on ticks
    /// (Produce, CreateTopics, InitProducerId) expire at the next tick whether they are 0 or 1.
    public static func from(milliseconds: Int, tickMilliseconds: Int) -> UInt64 {
        precondition(tickMilliseconds > 0, "a tick of \(tickMilliseconds) ms")
        guard milliseconds > 0 else { return 0 }
        return UInt64((milliseconds - 1) / tickMilliseconds + 1)  // the ceiling, without overflow
    }
}

extension NodeConfig {
    /// `milliseconds` as this node's ticks (`Ticks.from`).
    public func ticks(milliseconds: Int) -> UInt64 {
        Ticks.from(milliseconds: milliseconds, tickMilliseconds: tickMilliseconds)
    }
}
