/// How a simulated run failed. Exit codes follow TigerBeetle's VOPR: 127 crash (a precondition
/// trapped; reported by the signal handler), 128 liveness, 129 safety.
public enum SimFailure: Error, Sendable, CustomStringConvertible {
    case safety(property: String, detail: String)
    case liveness(detail: String)

    public var exitCode: Int32 {
        switch self {
        case .safety: return 129
        case .liveness: return 128
        }
    }

    public var description: String {
        switch self {
        case .safety(let property, let detail): return "SAFETY VIOLATION [\(property)]: \(detail)"
        case .liveness(let detail): return "LIVENESS FAILURE: \(detail)"
        }
    }
}
