/// Schema names to Swift names: `transactional_id` → `transactionalID`, `InitProducerId` →
/// `initProducerID` (the project's spelling of the initialisms ID and IDs).
enum SwiftNames {
    static let keywords: Set<String> = [
        "protocol", "default", "internal", "public", "private", "operator", "extension", "return", "class", "struct",
        "enum", "func", "var", "let", "in", "is", "as", "self", "Self", "type", "where", "repeat", "case", "switch",
    ]

    static func words(snake: String) -> [String] { snake.split(separator: "_").map(String.init) }

    /// Splits PascalCase at each capital: `InitProducerId` → [Init, Producer, Id].
    static func words(pascal: String) -> [String] {
        var out: [String] = []
        for ch in pascal {
            if ch.isUppercase || out.isEmpty { out.append(String(ch)) } else { out[out.count - 1].append(ch) }
        }
        return out
    }

    static func camel(_ words: [String]) -> String {
        var s = ""
        for (i, w) in words.enumerated() {
            let lower = w.lowercased()
            if i == 0 {
                s += lower
            } else if lower == "id" {
                s += "ID"
            } else if lower == "ids" {
                s += "IDs"
            } else {
                s += lower.prefix(1).uppercased() + lower.dropFirst()
            }
        }
        return s
    }

    static func property(_ snake: String) -> String {
        let n = camel(words(snake: snake))
        return keywords.contains(n) ? "`\(n)`" : n
    }

    /// For a property used in an argument label position, where backticks are not needed.
    static func label(_ snake: String) -> String { camel(words(snake: snake)) }

    static func apiCase(_ pascal: String) -> String { camel(words(pascal: pascal)) }
}
