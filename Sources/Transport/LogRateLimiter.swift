/// How many problem lines the node writes about one source (a client or peer address), and about
/// all sources together, per window. Bad input is logged, but a client sending thousands of
/// distinct malformed requests gets a few lines and a count, not thousands of lines.
///
/// Per source: at most `linesPerSource` lines in a window of `windowNanoseconds` that starts at
/// the source's first line; the lines beyond are counted, and one summary line
/// (`suppressed K similar message(s) from <source> in the last X s`) is written when the window
/// has ended (`flush`, called periodically, or the source's next line). Across sources: at most
/// `totalLines` lines per window, beyond which lines are counted in one summary for all sources
/// (many addresses must not multiply the budget). The table of sources is bounded by
/// `maxSources`; the source that came first is evicted first (its count goes to the total one).
///
/// Time comes from `now` (nanoseconds, monotonic), so tests drive it. Not thread-safe: one owner
/// (the node's event loop).
public struct LogRateLimiter {
    public struct Limits: Sendable {
        public var linesPerSource = 5
        public var totalLines = 50
        public var windowNanoseconds: UInt64 = 10_000_000_000
        public var maxSources = 4096
        public init() {}
    }

    /// What to write now: the summaries due (written first), and whether the line itself goes.
    public struct Admission: Equatable {
        public var allowed: Bool
        public var summaries: [String]
    }

    private struct Source {
        /// Start of the current window; nil when no window is open.
        var windowStart: UInt64?
        var lines = 0
        var suppressed = 0
        /// The last message written about this source (its hash), for `admit(_:message:)`.
        var lastMessage: Int?
    }

    public let limits: Limits
    private let now: () -> UInt64
    private var sources: [String: Source] = [:]
    /// Sources in the order they were first seen (for eviction); `head` is the oldest live entry.
    private var order: [String] = []
    private var head = 0
    private var totalWindowStart: UInt64?
    private var totalWritten = 0
    private var totalSuppressed = 0

    public init(limits: Limits = Limits(), now: @escaping () -> UInt64) {
        self.limits = limits
        self.now = now
    }

    /// Sources tracked now (bounded by `limits.maxSources`).
    public var trackedSources: Int { sources.count }

    /// May a problem line about `source` be written now? With `message`, a line that repeats the
    /// last one written about this source is dropped without counting (a peer retrying with the
    /// same bad certificate is logged once, until its reason changes).
    public mutating func admit(_ source: String, message: String? = nil) -> Admission {
        let t = now()
        var summaries = closeTotalWindowIfEnded(at: t)
        var entry: Source
        if let e = sources[source] {
            entry = e
        } else {
            evictIfFull()
            entry = Source()
            order.append(source)
        }
        if let message, entry.lastMessage == message.hashValue {
            sources[source] = entry
            return Admission(allowed: false, summaries: summaries)
        }
        if totalWindowStart == nil { totalWindowStart = t }
        if let start = entry.windowStart, t &- start >= limits.windowNanoseconds {
            if let s = summary(source, entry, at: t) { summaries.append(s) }
            entry.windowStart = nil
        }
        if entry.windowStart == nil {
            entry.windowStart = t
            entry.lines = 0
            entry.suppressed = 0
        }
        let allowed: Bool
        if entry.lines >= limits.linesPerSource {
            entry.suppressed += 1
            allowed = false
        } else if totalWritten >= limits.totalLines {
            totalSuppressed += 1
            allowed = false
        } else {
            entry.lines += 1
            totalWritten += 1
            allowed = true
            if let message { entry.lastMessage = message.hashValue }
        }
        sources[source] = entry
        return Admission(allowed: allowed, summaries: summaries)
    }

    /// Forget what was last written about `source` (its next message is new again).
    public mutating func reset(_ source: String) {
        sources[source]?.lastMessage = nil
    }

    /// Summaries for every window that has ended with lines suppressed; those windows close.
    public mutating func flush() -> [String] {
        let t = now()
        var out: [String] = []
        for key in sources.keys.sorted() {
            guard var e = sources[key], let start = e.windowStart, t &- start >= limits.windowNanoseconds else { continue }
            if let s = summary(key, e, at: t) { out.append(s) }
            e.windowStart = nil
            e.lines = 0
            e.suppressed = 0
            sources[key] = e
        }
        out += closeTotalWindowIfEnded(at: t)
        return out
    }

    private func summary(_ source: String, _ e: Source, at t: UInt64) -> String? {
        guard e.suppressed > 0, let start = e.windowStart else { return nil }
        return "suppressed \(e.suppressed) similar message(s) from \(source) in the last \(seconds(t &- start)) s"
    }

    private mutating func closeTotalWindowIfEnded(at t: UInt64) -> [String] {
        guard let start = totalWindowStart, t &- start >= limits.windowNanoseconds else { return [] }
        totalWindowStart = nil
        totalWritten = 0
        defer { totalSuppressed = 0 }
        guard totalSuppressed > 0 else { return [] }
        return [
            "suppressed \(totalSuppressed) problem message(s) from all sources in the last \(seconds(t &- start)) s "
                + "(over \(limits.totalLines) lines per \(seconds(limits.windowNanoseconds)) s)"
        ]
    }

    private mutating func evictIfFull() {
        while sources.count >= limits.maxSources && head < order.count {
            let oldest = order[head]
            head += 1
            if let e = sources.removeValue(forKey: oldest) { totalSuppressed += e.suppressed }
        }
        if head > 1024 && head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
    }

    private func seconds(_ nanoseconds: UInt64) -> String {
        let tenths = nanoseconds / 100_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }
}
