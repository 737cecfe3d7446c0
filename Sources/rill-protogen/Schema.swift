/// The model of a schema file (`Sources/KafkaProtocol/Schema/*.kafka`): one Kafka API, its
/// request and response, each a list of fields with the versions they exist in.
struct VersionRange: Equatable {
    var lower: Int
    /// nil: open-ended ("3+").
    var upper: Int?

    func contains(_ v: Int) -> Bool { v >= lower && (upper.map { v <= $0 } ?? true) }

    /// Clipped to a message's versions; nil when they do not meet.
    func clipped(to m: ClosedRange<Int>) -> ClosedRange<Int>? {
        let lo = max(lower, m.lowerBound)
        let hi = min(upper ?? m.upperBound, m.upperBound)
        return lo <= hi ? lo...hi : nil
    }
}

enum FieldType: Equatable {
    case int8, int16, int32, int64, uint16, float64, bool, string, bytes, records, uuid
    /// An int16 on the wire, a Kafka error code (`ErrorCode`) in Swift.
    case errorCode
    case structure(String)
    indirect case array(FieldType)

    var isStruct: Bool {
        if case .structure = self { return true }
        return false
    }

    var structName: String? {
        switch self {
        case .structure(let n): return n
        case .array(let e): return e.structName
        default: return nil
        }
    }
}

struct Field {
    var name: String
    var type: FieldType
    /// Within the message's versions.
    var versions: ClosedRange<Int>
    var nullable: ClosedRange<Int>?
    var tag: Int?
    var defaultValue: String?
    var fields: [Field]
    var line: Int
}

struct Message {
    var name: String
    var versions: ClosedRange<Int>
    /// First flexible version, if any version is flexible.
    var flexibleFrom: Int?
    var fields: [Field]
}

struct ApiSchema {
    var key: Int
    var name: String
    var request: Message
    var response: Message
    var file: String
}

struct SchemaError: Error, CustomStringConvertible {
    var file: String
    var line: Int
    var message: String
    var description: String { "\(file):\(line): \(message)" }
}
