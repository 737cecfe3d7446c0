/// Text that came from outside the node — a Kafka client id, a group or member id, a topic name,
/// a peer's cluster name or certificate name — made safe to put into one log line.
///
/// - Control characters, line and paragraph separators and invisible format characters (bidi
///   overrides, zero-width spaces) are escaped: `\n`, `\r`, `\t`, other ones as `\u{1b}`. A value
///   therefore never starts a new line nor rewrites what a terminal shows.
/// - A backslash becomes `\\`, so an escape in the output always means an escaped character and a
///   client cannot write text that reads like one.
/// - At most `cap` characters (Unicode scalars, after escaping) are kept; the rest is replaced by
///   `…(+N bytes)`, N counting the UTF-8 bytes left out. A 32 KiB client id costs a line ~200
///   characters, not 32 KiB.
public enum LogText {
    /// The default cap on what one input value may put into a log line.
    public static let defaultCap = 200

    /// `value` escaped and capped (see the type's description). `escapeBackslash: false` is for
    /// the log sink's last pass over a whole line whose values were already escaped.
    public static func safe(_ value: some StringProtocol, cap: Int = defaultCap, escapeBackslash: Bool = true) -> String {
        var out = String.UnicodeScalarView()
        var kept = 0
        var consumedBytes = 0
        var truncated = false
        for scalar in value.unicodeScalars {
            let piece = escaped(scalar, backslash: escapeBackslash)
            let count = piece?.count ?? 1
            if kept + count > cap {
                truncated = true
                break
            }
            if let piece { out.append(contentsOf: piece.unicodeScalars) } else { out.append(scalar) }
            kept += count
            consumedBytes += UTF8.width(scalar)
        }
        var s = String(out)
        if truncated { s += "…(+\(value.utf8.count - consumedBytes) bytes)" }
        return s
    }

    /// The escape for `scalar`, or nil when it is printed as it is.
    private static func escaped(_ scalar: Unicode.Scalar, backslash: Bool) -> String? {
        switch scalar {
        case "\n": return "\\n"
        case "\r": return "\\r"
        case "\t": return "\\t"
        case "\\": return backslash ? "\\\\" : nil
        default: break
        }
        if scalar.isASCII {
            // Fast path: printable ASCII passes; C0 controls and DEL are escaped.
            return scalar.value < 0x20 || scalar.value == 0x7F ? hex(scalar) : nil
        }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .surrogate:
            return hex(scalar)
        default:
            return nil
        }
    }

    private static func hex(_ scalar: Unicode.Scalar) -> String {
        "\\u{" + String(scalar.value, radix: 16) + "}"
    }
}
