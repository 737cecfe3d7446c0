/// The Kafka APIs this broker knows, with the versions it advertises: only non-flexible
/// (pre-KIP-482) versions, so compact encodings and tagged fields never appear in what it parses.
/// The ranges are the ones verified against librdkafka, kcat and kafka-python (see
/// ../shared/notes/kafka-protocol.md (beside the repository), §1); advertise nothing that is not implemented.
public enum ApiKey: Int16, CaseIterable, Sendable {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case initProducerID = 22
    case offsetForLeaderEpoch = 23

    /// The non-flexible versions this codec reads and writes.
    public var supported: ClosedRange<Int16> {
        switch self {
        case .produce: return 3...8
        case .fetch: return 4...11
        case .listOffsets: return 1...5
        case .metadata: return 0...8
        case .offsetCommit: return 2...7
        case .offsetFetch: return 1...5
        case .findCoordinator: return 0...2
        case .joinGroup: return 0...5
        case .heartbeat: return 0...3
        case .leaveGroup: return 0...3
        case .syncGroup: return 0...3
        case .describeGroups: return 0...4
        case .listGroups: return 0...2
        case .apiVersions: return 0...2
        case .createTopics: return 2...4
        case .deleteTopics: return 1...3
        case .initProducerID: return 0...1
        case .offsetForLeaderEpoch: return 2...3
        }
    }
}
