import KafkaProtocol
import Primitives
import Raft

/// Config values set on a topic or cluster-wide, by name, sorted (a dictionary's order must not
/// reach the controller's snapshot).
public struct ConfigOverrides: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var name: String
        public var value: String
    }

    public private(set) var entries: [Entry] = []

    public init(_ pairs: [(String, String)] = []) {
        for (n, v) in pairs { self[n] = v }
    }

    public var isEmpty: Bool { entries.isEmpty }

    public subscript(name: String) -> String? {
        get { entries.first { $0.name == name }?.value }
        set {
            entries.removeAll { $0.name == name }
            if let newValue {
                entries.append(Entry(name: name, value: newValue))
                entries.sort { $0.name < $1.name }
            }
        }
    }

    func encode(_ w: inout ByteWriter) {
        w.u32(UInt32(entries.count))
        for e in entries {
            w.blob(Array(e.name.utf8))
            w.blob(Array(e.value.utf8))
        }
    }

    static func decode(_ r: inout ByteReader) throws(WireError) -> ConfigOverrides {
        var o = ConfigOverrides()
        let n = try r.count(minItemBytes: 8)
        for _ in 0..<n {
            let name = String(decoding: try r.blob(), as: UTF8.self)
            o[name] = String(decoding: try r.blob(), as: UTF8.self)
        }
        return o
    }
}

/// What a config change is about: one topic, or the cluster-wide defaults (Kafka's broker
/// resource with an empty name).
public enum ConfigResource: Equatable, Sendable {
    case topic(String)
    case cluster
}

/// One change to a config, as IncrementalAlterConfigs names them (AlterConfigs becomes a delete
/// of everything not named and a set of everything named).
public struct ConfigChange: Equatable, Sendable {
    public enum Operation: Int8, Sendable {
        case set = 0, delete = 1, append = 2, subtract = 3
    }

    public var name: String
    public var operation: Operation
    public var value: String?

    public init(name: String, operation: Operation, value: String?) {
        self.name = name
        self.operation = operation
        self.value = value
    }
}

extension ConfigOverrides {
    /// `changes` applied to these overrides (`replacing`: every override not set by them goes),
    /// or the INVALID_CONFIG message of the first bad one. `key` maps a change's name to the
    /// topic config it concerns (a broker-level key for the cluster resource).
    func applying(_ changes: [ConfigChange], replacing: Bool, key: (String) -> TopicConfigDefinition?) -> Result<ConfigOverrides, ConfigError> {
        var out = replacing ? ConfigOverrides() : self
        for c in changes {
            guard let def = key(c.name) else { return .failure(.invalidConfig("unknown config '\(c.name)'")) }
            switch c.operation {
            case .set:
                guard let v = c.value else { return .failure(.invalidRequest("null value for \(c.name)")) }
                if let problem = def.problem(with: v) { return .failure(.invalidConfig(problem)) }
                out[c.name] = v
            case .delete:
                out[c.name] = nil
            case .append, .subtract:
                guard def.type == .list else { return .failure(.invalidConfig("\(c.name) is not a list: APPEND and SUBTRACT need one")) }
                guard let v = c.value else { return .failure(.invalidRequest("null value for \(c.name)")) }
                var items = (out[c.name] ?? def.defaultValue).split(separator: ",").map { $0.trimmingSpaces }.filter { !$0.isEmpty }
                for item in v.split(separator: ",").map({ $0.trimmingSpaces }) where !item.isEmpty {
                    if c.operation == .append {
                        if !items.contains(item) { items.append(item) }
                    } else {
                        items.removeAll { $0 == item }
                    }
                }
                let joined = items.joined(separator: ",")
                if let problem = def.problem(with: joined) { return .failure(.invalidConfig(problem)) }
                out[c.name] = joined
            }
        }
        return .success(out)
    }
}

/// Why a config change was refused, with Kafka's error for it.
public enum ConfigError: Error, Equatable, Sendable {
    case invalidConfig(String)
    case invalidRequest(String)

    /// Kafka's error for it.
    public var code: ErrorCode {
        switch self {
        case .invalidConfig: return .invalidConfig
        case .invalidRequest: return .invalidRequest
        }
    }

    public var message: String {
        switch self {
        case .invalidConfig(let m), .invalidRequest(let m): return m
        }
    }
}
