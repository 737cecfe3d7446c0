import Foundation
import Logging
import Primitives
import Testing
import Transport

/// Issue 12 item 2: what clients and peers send must not forge log lines, nor flood the log.
struct LogTextTests {
    @Test("a client id with a newline and a forged line stays on one line, escaped")
    func forgedLine() {
        let clientID = "x\n2026-12-03T22:00:00+0000 critical rill.node-1: storage failed: stopping\r\u{1b}[2J"
        let safe = LogText.safe(clientID)
        #expect(!safe.contains("\n") && !safe.contains("\r") && !safe.contains("\u{1b}"))
        #expect(safe == "x\\n2026-12-03T22:00:00+0000 critical rill.node-1: storage failed: stopping\\r\\u{1b}[2J")
    }

    @Test("control, separator and invisible format characters are escaped; backslashes doubled; ordinary text untouched")
    func escapes() {
        #expect(LogText.safe("tab\there\u{0}\u{7f}\u{85}") == "tab\\there\\u{0}\\u{7f}\\u{85}")
        #expect(LogText.safe("a\u{2028}b\u{2029}c\u{202e}d\u{200b}e") == "a\\u{2028}b\\u{2029}c\\u{202e}d\\u{200b}e")
        #expect(LogText.safe("back\\n slash") == "back\\\\n slash")
        #expect(LogText.safe("back\\n slash", escapeBackslash: false) == "back\\n slash")
        #expect(LogText.safe("consumer-group.1 Zürich 東京 🙂") == "consumer-group.1 Zürich 東京 🙂")
    }

    @Test("one value puts at most the cap into a line, and says how much it left out")
    func cap() {
        let huge = String(repeating: "a", count: 32 * 1024)
        let safe = LogText.safe(huge)
        #expect(safe == String(repeating: "a", count: 200) + "…(+\(32 * 1024 - 200) bytes)")
        // Escapes count towards the cap and are never cut in half.
        let newlines = LogText.safe(String(repeating: "\n", count: 500), cap: 11)
        #expect(newlines == String(repeating: "\\n", count: 5) + "…(+495 bytes)")
        // Combining marks cannot stack past the cap inside one Character.
        let zalgo = "e" + String(repeating: "\u{301}", count: 10_000)
        #expect(LogText.safe(zalgo).unicodeScalars.count < 230)
        #expect(LogText.safe("short") == "short")
    }
}

struct LogRateLimiterTests {
    final class Clock: @unchecked Sendable {
        var now: UInt64 = 1_000_000_000
        func advance(seconds: UInt64) { now += seconds * 1_000_000_000 }
    }

    func limiter(_ clock: Clock, perSource: Int = 5, total: Int = 50, maxSources: Int = 4096) -> LogRateLimiter {
        var l = LogRateLimiter.Limits()
        l.linesPerSource = perSource
        l.totalLines = total
        l.maxSources = maxSources
        return LogRateLimiter(limits: l, now: { clock.now })
    }

    @Test("per source: N lines per window, the rest counted, one summary when the window ends")
    func perSource() {
        let clock = Clock()
        var r = limiter(clock)
        var written = 0
        for i in 0..<1000 {
            let a = r.admit("kafka client 10.0.0.9", message: "malformed request \(i)")
            #expect(a.summaries.isEmpty)
            if a.allowed { written += 1 }
        }
        #expect(written == 5)
        // Another address has its own budget.
        #expect(r.admit("kafka client 10.0.0.10", message: "x").allowed)
        clock.advance(seconds: 5)
        #expect(r.flush().isEmpty, "the window has not ended")
        clock.advance(seconds: 5)
        #expect(r.flush() == ["suppressed 995 similar message(s) from kafka client 10.0.0.9 in the last 10.0 s"])
        #expect(r.flush().isEmpty, "summarized once")
        // A new window: lines again.
        #expect(r.admit("kafka client 10.0.0.9", message: "malformed request 1000").allowed)
    }

    @Test("the summary comes with the next line when no flush ran")
    func summaryOnNextLine() {
        let clock = Clock()
        var r = limiter(clock, perSource: 2)
        for i in 0..<7 { _ = r.admit("remote 10.0.0.1", message: "bad \(i)") }
        clock.advance(seconds: 11)
        let a = r.admit("remote 10.0.0.1", message: "bad 7")
        #expect(a.allowed)
        #expect(a.summaries == ["suppressed 5 similar message(s) from remote 10.0.0.1 in the last 11.0 s"])
    }

    @Test("the same reason from the same source is logged once until it changes")
    func sameReasonOnce() {
        let clock = Clock()
        var r = limiter(clock)
        #expect(r.admit("node 2", message: "certificate has expired").allowed)
        for _ in 0..<100 {
            clock.advance(seconds: 3)
            #expect(!r.admit("node 2", message: "certificate has expired").allowed)
            #expect(r.flush().isEmpty, "repeats are not counted as suppressed")
        }
        #expect(r.admit("node 2", message: "wrong cluster").allowed)
        r.reset("node 2")
        #expect(r.admit("node 2", message: "wrong cluster").allowed)
    }

    @Test("many addresses share a total budget, and the table of sources stays bounded")
    func totalAndTable() {
        let clock = Clock()
        var r = limiter(clock, perSource: 5, total: 50, maxSources: 100)
        var written = 0
        for i in 0..<10_000 {
            if r.admit("kafka client 10.\(i / 65536).\(i / 256 % 256).\(i % 256)", message: "m").allowed { written += 1 }
            #expect(r.trackedSources <= 100)
        }
        #expect(written == 50)
        clock.advance(seconds: 10)
        #expect(r.flush() == ["suppressed 9950 problem message(s) from all sources in the last 10.0 s (over 50 lines per 10.0 s)"])
    }
}

struct LogOutputTests {
    func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "rill-log-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func size(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    @Test("the node's handler writes one line per event: newlines in messages and metadata escaped, lines capped")
    func handlerOneLine() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.log"
        let output = try LogOutput(.file(path: path, maxBytes: 1 << 20, files: 2))
        let logger = Logger(label: "rill.node-1") { _ in NodeLogHandler(label: "rill.node-1", output: output) }
        logger.warning("closed (client x\n2026-12-03T22:00:00Z critical rill.node-1: storage failed)", metadata: ["who": "a\nb"])
        logger.info("\(String(repeating: "z", count: 100_000))")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3 && lines[2].isEmpty, "\(lines.count) lines")
        #expect(lines[0].hasSuffix(" warning rill.node-1: who=a\\nb closed (client x\\n2026-12-03T22:00:00Z critical rill.node-1: storage failed)"))
        #expect(lines[1].utf8.count < NodeLogHandler.lineCap + 100)
        #expect(lines[1].hasSuffix("…(+\(100_000 - NodeLogHandler.lineCap) bytes)"))
    }

    @Test("writes beyond max_bytes roll the file; at most `files` files, each within max_bytes")
    func rotation() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/node.log"
        let maxBytes = 10_000
        let output = try LogOutput(.file(path: path, maxBytes: maxBytes, files: 3))
        let line = String(repeating: "l", count: 99)  // 100 bytes with the newline
        for i in 0..<2_000 { output.write("\(i % 10)" + line.dropFirst()) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["node.log", "node.log.1", "node.log.2"])
        var total = 0
        for n in names {
            let s = size(dir + "/" + n)
            #expect(s > 0 && s <= maxBytes, "\(n): \(s) bytes")
            total += s
        }
        #expect(total <= 3 * maxBytes, "200,000 bytes written, \(total) kept")
        // The newest lines are in node.log, whole.
        let last = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").last!
        #expect(last == "9" + line.dropFirst())

        // Reopening appends to the current file and keeps counting its size.
        let again = try LogOutput(.file(path: path, maxBytes: maxBytes, files: 3))
        for _ in 0..<200 { again.write(String(line)) }
        #expect(size(path) <= maxBytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 3)
    }

    @Test("files = 1 keeps a single file that starts over")
    func singleFile() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let output = try LogOutput(.file(path: dir + "/n.log", maxBytes: 1000, files: 1))
        for _ in 0..<100 { output.write(String(repeating: "x", count: 99)) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["n.log"])
        #expect(size(dir + "/n.log") <= 1000)
    }
}
