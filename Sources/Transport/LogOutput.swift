import Foundation
import Logging
import Primitives

#if canImport(Glibc)
    import Glibc
    private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Glibc.write(fd, p, n) }
    private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Glibc.open(path, flags, mode) }
#elseif canImport(Darwin)
    import Darwin
    private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { Darwin.write(fd, p, n) }
    private func posixOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { Darwin.open(path, flags, mode) }
#endif

/// Where a node's log lines go: standard error, or a file that is rotated by size so the total
/// stays bounded (`[log]` in node.toml: `file`, `max_bytes`, `files`).
///
/// A file is rotated when the next line would take it past `maxBytes`: `node.log` becomes
/// `node.log.1`, `.1` becomes `.2` and so on, the oldest beyond `files - 1` rotated ones is
/// removed. So the log never takes more than `files × maxBytes` (plus one line) on disk. Write
/// errors (a full disk) are ignored: a node does not stop because its log cannot be written.
/// Thread-safe: lines from any thread are written whole, one at a time.
public final class LogOutput: @unchecked Sendable {
    public enum Target: Equatable, Sendable {
        case standardError
        case file(path: String, maxBytes: Int, files: Int)
    }

    public let target: Target
    private let lock = NSLock()
    private var fd: Int32
    private var size: Int

    public init(_ target: Target) throws {
        self.target = target
        switch target {
        case .standardError:
            fd = 2
            size = 0
        case .file(let path, let maxBytes, let files):
            precondition(maxBytes > 0 && files >= 1, "log: max_bytes and files must be positive")
            fd = -1
            size = 0
            try open(path)
        }
    }

    deinit {
        if case .file = target, fd >= 0 { close(fd) }
    }

    /// Append one line (a newline is added).
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        bytes.append(0x0A)
        lock.lock()
        defer { lock.unlock() }
        if case .file(let path, let maxBytes, let files) = target {
            if size > 0 && size + bytes.count > maxBytes { rotate(path, files: files) }
            guard fd >= 0 else { return }
        }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            offset += n
        }
        size += offset
    }

    private func open(_ path: String) throws {
        let f = posixOpen(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard f >= 0 else {
            throw RuntimeError.configuration("log.file: cannot open \(path): \(String(cString: strerror(errno)))")
        }
        var st = stat()
        size = fstat(f, &st) == 0 ? Int(st.st_size) : 0
        fd = f
    }

    /// `path` → `path.1` → ... → `path.<files-1>`; the oldest goes. With `files == 1` the file
    /// is simply started again.
    private func rotate(_ path: String, files: Int) {
        if fd >= 0 { close(fd) }
        fd = -1
        if files == 1 {
            unlink(path)
        } else {
            unlink("\(path).\(files - 1)")
            if files > 2 {
                for k in stride(from: files - 2, through: 1, by: -1) { rename("\(path).\(k)", "\(path).\(k + 1)") }
            }
            rename(path, "\(path).1")
        }
        try? open(path)
    }
}

/// The node's swift-log handler: lines in `StreamLogHandler`'s format
/// (`<time> <level> <label>: <metadata> <message>`), written to a `LogOutput`. Every message and
/// metadata value passes through `LogText` once more (control characters escaped, values capped),
/// so a value someone forgot to escape still cannot start a line, and no line exceeds
/// `lineCap` characters (plus the truncation marker).
public struct NodeLogHandler: LogHandler {
    public static let lineCap = 8192
    public static let metadataValueCap = 1024

    public let label: String
    public let output: LogOutput
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info

    public init(label: String, output: LogOutput) {
        self.label = label
        self.output = output
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        output.write(Self.format(event: event, label: label, metadata: metadata, time: Self.timestamp()))
    }

    /// One line for `event` (no newline).
    public static func format(event: LogEvent, label: String, metadata base: Logger.Metadata, time: String) -> String {
        var all = base
        if let m = event.metadata { all.merge(m) { $1 } }
        if let error = event.error { all["error.message"] = "\(error)" }
        var line = "\(time) \(event.level) \(label):"
        for (k, v) in all.sorted(by: { $0.key < $1.key }) {
            line += " " + LogText.safe(k, cap: 64, escapeBackslash: false) + "="
                + LogText.safe("\(v)", cap: metadataValueCap, escapeBackslash: false)
        }
        line += " " + LogText.safe(event.message.description, cap: lineCap, escapeBackslash: false)
        return line
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [Int8](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
