import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A small port of cockroachdb/datadriven, the format etcd-raft's interaction tests use.
///
/// A file is a list of stanzas:
///
///     # comments start with '#'
///     command arg key=value key=(a,b)
///     ----
///     expected output (no blank lines)
///
/// `GOLDEN_REWRITE=1 swift test` rewrites the expected blocks with what the code now prints; review
/// the diff like code before committing it: a changed transcript means the protocol behaves
/// differently.
struct DataDrivenCommand {
    var name: String
    var positional: [String]
    var arguments: [String: [String]]
    var line: Int
    var text: String

    func int(_ key: String) -> Int? { arguments[key]?.first.flatMap { Int($0) } }
    func bool(_ key: String) -> Bool? { arguments[key]?.first.map { $0 == "true" } }
    func ids(_ key: String) -> [UInt32]? { arguments[key]?.compactMap { UInt32($0) } }
}

enum DataDriven {
    struct Stanza {
        var command: DataDrivenCommand
        var expected: String
    }

    static func parse(_ text: String, file: String) -> (stanzas: [Stanza], prefix: [[String]]) {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var stanzas: [Stanza] = []
        var leading: [[String]] = []  // comment/blank lines before each stanza, kept on rewrite
        var pending: [String] = []
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if line.trimmingCharacters(in: " \t").isEmpty || line.hasPrefix("#") {
                pending.append(line)
                i += 1
                continue
            }
            let commandLine = i + 1
            let commandText = line
            i += 1
            precondition(i < lines.count && lines[i] == "----", "\(file):\(commandLine): expected ---- after command")
            i += 1
            var out: [String] = []
            while i < lines.count && !lines[i].isEmpty {
                out.append(lines[i])
                i += 1
            }
            leading.append(pending)
            pending = []
            stanzas.append(Stanza(command: parseCommand(commandText, line: commandLine), expected: out.joined(separator: "\n")))
        }
        leading.append(pending)
        return (stanzas, leading)
    }

    static func parseCommand(_ text: String, line: Int) -> DataDrivenCommand {
        let words = text.split(separator: " ").map(String.init)
        var positional: [String] = []
        var arguments: [String: [String]] = [:]
        for w in words.dropFirst() {
            if let eq = w.firstIndex(of: "=") {
                let key = String(w[..<eq])
                var value = String(w[w.index(after: eq)...])
                if value.hasPrefix("(") && value.hasSuffix(")") {
                    value = String(value.dropFirst().dropLast())
                    arguments[key] = value.split(separator: ",").map(String.init)
                } else {
                    arguments[key] = [value]
                }
            } else {
                positional.append(w)
            }
        }
        return DataDrivenCommand(name: words.first ?? "", positional: positional, arguments: arguments, line: line, text: text)
    }

    /// Whether every stanza of `path` still produces its expected output (no issue recorded).
    static func matches(path: String, handler: (DataDrivenCommand) -> String) -> Bool {
        guard let text = readFile(path) else { return false }
        for stanza in parse(text, file: path).stanzas {
            let actual = handler(stanza.command).split(separator: "\n", omittingEmptySubsequences: true)
                .joined(separator: "\n")
            if actual != stanza.expected { return false }
        }
        return true
    }

    /// Run every stanza of `path` through `handler`; compare or (GOLDEN_REWRITE=1) rewrite.
    static func run(path: String, handler: (DataDrivenCommand) -> String) {
        guard let text = readFile(path) else {
            Issue.record("cannot read \(path)")
            return
        }
        let (stanzas, leading) = parse(text, file: path)
        let rewrite = getenv("GOLDEN_REWRITE").map { String(cString: $0) == "1" } ?? false
        var rewritten: [String] = []
        for (k, stanza) in stanzas.enumerated() {
            let actual = handler(stanza.command).split(separator: "\n", omittingEmptySubsequences: true)
                .joined(separator: "\n")
            rewritten.append(contentsOf: leading[k])
            rewritten.append(stanza.command.text)
            rewritten.append("----")
            if !actual.isEmpty { rewritten.append(actual) }
            rewritten.append("")
            if !rewrite && actual != stanza.expected {
                Issue.record(
                    """
                    \(path):\(stanza.command.line): \(stanza.command.text)
                    --- expected
                    \(stanza.expected)
                    --- actual
                    \(actual)
                    """)
                return
            }
        }
        if rewrite {
            var out: [String] = []
            for line in rewritten + (leading.last ?? []) where !(line.isEmpty && (out.last ?? "").isEmpty) {
                out.append(line)  // at most one blank line in a row
            }
            while out.last == "" { out.removeLast() }
            writeFile(path, out.joined(separator: "\n") + "\n")
        }
    }

    static func readFile(_ path: String) -> String? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: buffer[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func writeFile(_ path: String, _ text: String) {
        guard let f = fopen(path, "wb") else { return }
        defer { fclose(f) }
        let bytes = Array(text.utf8)
        _ = fwrite(bytes, 1, bytes.count, f)
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}
