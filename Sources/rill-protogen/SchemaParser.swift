/// Reads one schema file. The format, line by line (`#` starts a comment):
///
///     api <key> <Name>
///     request <MessageName> versions=<a-b> flexible=<n+|none>
///       <field_name> <type> [v=<range>] [null=<range>] [tag=<n>] [default=<value>]
///         <child fields of a struct or struct-array field, two spaces deeper>
///     response <MessageName> versions=<a-b> flexible=<n+|none>
///       ...
///
/// Types: int8 int16 int32 int64 uint16 float64 bool string bytes records uuid, `error` (an int16
/// error code, typed `ErrorCode` in Swift), `[]T` (an
/// array of a type or of a struct), or a struct name (a struct-valued field). Ranges: `3`, `3-7`,
/// `3+`. A field's versions default to its parent's; `null=` gives the versions in which it may
/// be null; `tag=` makes it a tagged field (KIP-482) in those versions.
struct SchemaParser {
    let file: String

    func parse(_ text: String) throws -> ApiSchema {
        var key: Int?
        var name: String?
        var messages: [(kind: String, message: Message)] = []
        // Stack of (indent, parent field path) while reading fields.
        var current: Message?
        var currentKind = ""
        var stack: [(indent: Int, field: Field)] = []

        func fail(_ line: Int, _ m: String) -> SchemaError { SchemaError(file: file, line: line, message: m) }

        func closeFields(downTo indent: Int) {
            while let top = stack.last, top.indent >= indent {
                stack.removeLast()
                if let parent = stack.last {
                    stack[stack.count - 1].field.fields.append(top.field)
                    _ = parent
                } else {
                    current!.fields.append(top.field)
                }
            }
        }

        func finishMessage() {
            guard current != nil else { return }
            closeFields(downTo: 0)
            messages.append((currentKind, current!))
            current = nil
        }

        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (i, raw) in lines.enumerated() {
            let lineNo = i + 1
            var line = String(raw)
            if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]) }
            while line.last == " " { line.removeLast() }
            if line.isEmpty { continue }
            let indent = line.prefix(while: { $0 == " " }).count
            let words = line.split(separator: " ").map(String.init)
            if indent == 0 {
                switch words[0] {
                case "api":
                    guard words.count == 3, let k = Int(words[1]) else { throw fail(lineNo, "expected `api <key> <Name>`") }
                    key = k
                    name = words[2]
                case "request", "response":
                    finishMessage()
                    guard words.count == 4 else { throw fail(lineNo, "expected `\(words[0]) <Name> versions=a-b flexible=n+`") }
                    let attrs = try attributes(Array(words[2...]), lineNo)
                    guard let v = attrs["versions"], let range = parseRange(v), let hi = range.upper else {
                        throw fail(lineNo, "versions must be a closed range")
                    }
                    guard let f = attrs["flexible"] else { throw fail(lineNo, "missing flexible=") }
                    var flexibleFrom: Int? = nil
                    if f != "none" {
                        guard let fr = parseRange(f), fr.upper == nil else { throw fail(lineNo, "flexible must be `n+` or `none`") }
                        flexibleFrom = fr.lower
                    }
                    current = Message(name: words[1], versions: range.lower...hi, flexibleFrom: flexibleFrom, fields: [])
                    currentKind = words[0]
                default:
                    throw fail(lineNo, "unknown directive \(words[0])")
                }
                continue
            }
            guard current != nil else { throw fail(lineNo, "field outside a request or response") }
            guard indent % 2 == 0 else { throw fail(lineNo, "indent by two spaces") }
            closeFields(downTo: indent)
            let parentVersions = stack.last?.field.versions ?? current!.versions
            if let parent = stack.last {
                guard parent.indent == indent - 2, parent.field.type.structName != nil else {
                    throw fail(lineNo, "children only under a struct field, two spaces deeper")
                }
            } else if indent != 2 {
                throw fail(lineNo, "top-level fields are indented two spaces")
            }
            guard words.count >= 2 else { throw fail(lineNo, "expected `<name> <type> ...`") }
            let attrs = try attributes(Array(words[2...]), lineNo)
            var versions = parentVersions
            if let v = attrs["v"] {
                guard let r = parseRange(v), let c = r.clipped(to: parentVersions) else { throw fail(lineNo, "bad versions \(v)") }
                versions = c
            }
            var nullable: ClosedRange<Int>? = nil
            if let n = attrs["null"] {
                guard let r = parseRange(n), let c = r.clipped(to: versions) else { throw fail(lineNo, "bad null range \(n)") }
                nullable = c
            }
            var tag: Int? = nil
            if let t = attrs["tag"] {
                guard let n = Int(t), n >= 0 else { throw fail(lineNo, "bad tag \(t)") }
                guard let flex = current!.flexibleFrom, versions.lowerBound >= flex else {
                    throw fail(lineNo, "a tagged field exists only in flexible versions")
                }
                tag = n
            }
            let type = try parseType(words[1], lineNo)
            let field = Field(name: words[0], type: type, versions: versions, nullable: nullable, tag: tag,
                              defaultValue: attrs["default"], fields: [], line: lineNo)
            stack.append((indent, field))
        }
        finishMessage()
        guard let key, let name else { throw fail(1, "missing `api` line") }
        guard messages.count == 2, messages[0].kind == "request", messages[1].kind == "response" else {
            throw fail(1, "expected one request then one response")
        }
        return ApiSchema(key: key, name: name, request: messages[0].message, response: messages[1].message, file: file)
    }

    private func attributes(_ words: [String], _ line: Int) throws -> [String: String] {
        var out: [String: String] = [:]
        for w in words {
            guard let eq = w.firstIndex(of: "=") else { throw SchemaError(file: file, line: line, message: "expected key=value, got \(w)") }
            out[String(w[..<eq])] = String(w[w.index(after: eq)...])
        }
        return out
    }

    private func parseType(_ s: String, _ line: Int) throws -> FieldType {
        if s.hasPrefix("[]") { return .array(try parseType(String(s.dropFirst(2)), line)) }
        switch s {
        case "int8": return .int8
        case "int16": return .int16
        case "int32": return .int32
        case "int64": return .int64
        case "uint16": return .uint16
        case "float64": return .float64
        case "bool": return .bool
        case "string": return .string
        case "bytes": return .bytes
        case "records": return .records
        case "uuid": return .uuid
        case "error": return .errorCode
        default:
            guard let first = s.first, first.isUppercase, s.allSatisfy({ $0.isLetter || $0.isNumber }) else {
                throw SchemaError(file: file, line: line, message: "unknown type \(s)")
            }
            return .structure(s)
        }
    }
}

func parseRange(_ s: String) -> VersionRange? {
    if s.hasSuffix("+") { return Int(s.dropLast()).map { VersionRange(lower: $0, upper: nil) } }
    let parts = s.split(separator: "-")
    if parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a <= b { return VersionRange(lower: a, upper: b) }
    if parts.count == 1, let a = Int(parts[0]) { return VersionRange(lower: a, upper: a) }
    return nil
}
