/// A configuration file in the small subset of TOML that node.toml uses: `[table]` headers,
/// `key = value` with strings ("..."), integers and booleans, and `#` comments. Anything else is
/// an error that names the line: a config that is only half understood must not start a node.
public struct ConfigFile: Sendable {
    public enum Value: Equatable, Sendable, CustomStringConvertible {
        case string(String)
        case integer(Int)
        case bool(Bool)

        public var description: String {
            switch self {
            case .string(let s): return "\"\(s)\""
            case .integer(let i): return String(i)
            case .bool(let b): return String(b)
            }
        }
    }

    public struct Error: Swift.Error, Equatable, CustomStringConvertible {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Keys with their table (`listeners.peer`), in file order, each with its line number.
    public private(set) var entries: [(key: String, value: Value, line: Int)] = []
    public let name: String

    public init(text: String, name: String) throws(Error) {
        self.name = name
        var table = ""
        for (k, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = k + 1
            let line = Self.stripComment(String(raw)).trimmingSpaces
            if line.isEmpty { continue }
            if line.hasPrefix("[") {
                guard line.hasSuffix("]"), !line.hasPrefix("[[") else {
                    throw Error("\(name):\(lineNumber): only [table] headers are supported, not '\(line)'")
                }
                table = String(line.dropFirst().dropLast()).trimmingSpaces
                guard !table.isEmpty, table.allSatisfy(Self.isKeyCharacter) else {
                    throw Error("\(name):\(lineNumber): bad table name '\(table)'")
                }
                continue
            }
            guard let eq = line.firstIndex(of: "=") else {
                throw Error("\(name):\(lineNumber): expected 'key = value', found '\(line)'")
            }
            let key = String(line[..<eq]).trimmingSpaces
            let valueText = String(line[line.index(after: eq)...]).trimmingSpaces
            guard !key.isEmpty, key.allSatisfy(Self.isKeyCharacter) else {
                throw Error("\(name):\(lineNumber): bad key '\(key)'")
            }
            let full = table.isEmpty ? key : table + "." + key
            if entries.contains(where: { $0.key == full }) {
                throw Error("\(name):\(lineNumber): '\(full)' is set twice")
            }
            entries.append((full, try Self.parseValue(valueText, key: full, at: "\(name):\(lineNumber)"), lineNumber))
        }
    }

    public func value(_ key: String) -> Value? { entries.first { $0.key == key }?.value }

    /// Keys of a table (`peers` → its keys), in file order.
    public func keys(in table: String) -> [String] {
        entries.compactMap { e in
            e.key.hasPrefix(table + ".") ? String(e.key.dropFirst(table.count + 1)) : nil
        }
    }

    static func isKeyCharacter(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-" || c == ".")
    }

    static func stripComment(_ line: String) -> String {
        var inString = false
        var previous: Character = " "
        for (i, c) in zip(line.indices, line) {
            if c == "\"" && previous != "\\" { inString.toggle() }
            if c == "#" && !inString { return String(line[..<i]) }
            previous = c
        }
        return line
    }

    static func parseValue(_ text: String, key: String, at place: String) throws(Error) -> Value {
        if text.hasPrefix("\"") {
            guard text.count >= 2, text.hasSuffix("\"") else { throw Error("\(place): \(key): unterminated string") }
            var out = ""
            var escaped = false
            for c in text.dropFirst().dropLast() {
                if escaped {
                    switch c {
                    case "n": out.append("\n")
                    case "t": out.append("\t")
                    case "\\", "\"": out.append(c)
                    default: throw Error("\(place): \(key): unknown escape '\\\(c)'")
                    }
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else {
                    out.append(c)
                }
            }
            return .string(out)
        }
        if text == "true" { return .bool(true) }
        if text == "false" { return .bool(false) }
        if let i = Int(text.replacingUnderscores) { return .integer(i) }
        throw Error("\(place): \(key): '\(text)' is not a string (in quotes), an integer or a boolean")
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }

    var replacingUnderscores: String { String(filter { $0 != "_" }) }
}
