/// Kafka error codes this broker returns (the numbers are the protocol's).
public enum ErrorCode: Int16, Sendable, CustomStringConvertible {
    case none = 0
    case offsetOutOfRange = 1
    case corruptMessage = 2
    case unknownTopicOrPartition = 3
    case leaderNotAvailable = 5
    case notLeaderOrFollower = 6
    case requestTimedOut = 7
    case messageTooLarge = 10
    case coordinatorLoadInProgress = 14
    case coordinatorNotAvailable = 15
    case notCoordinator = 16
    case invalidTopic = 17
    case recordListTooLarge = 18
    case notEnoughReplicas = 19
    case notEnoughReplicasAfterAppend = 20
    case invalidRequiredAcks = 21
    case illegalGeneration = 22
    case invalidGroupID = 24
    case inconsistentGroupProtocol = 23
    case unknownMemberID = 25
    case invalidSessionTimeout = 26
    case rebalanceInProgress = 27
    case unsupportedVersion = 35
    case topicAlreadyExists = 36
    case invalidPartitions = 37
    case invalidReplicationFactor = 38
    case notController = 41
    case invalidRequest = 42
    case outOfOrderSequenceNumber = 45
    case duplicateSequenceNumber = 46
    case invalidProducerEpoch = 47
    /// A disk error on the broker (a damaged entry it will not serve); clients retry.
    case kafkaStorageError = 56
    case unknownProducerID = 59
    case fencedLeaderEpoch = 74
    case unknownLeaderEpoch = 75
    case memberIDRequired = 79
    case unknownServerError = -1

    public var description: String { "\(self.rawValue) (\(name))" }

    var name: String {
        switch self {
        case .none: return "NONE"
        case .offsetOutOfRange: return "OFFSET_OUT_OF_RANGE"
        case .kafkaStorageError: return "KAFKA_STORAGE_ERROR"
        case .corruptMessage: return "CORRUPT_MESSAGE"
        case .unknownTopicOrPartition: return "UNKNOWN_TOPIC_OR_PARTITION"
        case .leaderNotAvailable: return "LEADER_NOT_AVAILABLE"
        case .notLeaderOrFollower: return "NOT_LEADER_OR_FOLLOWER"
        case .requestTimedOut: return "REQUEST_TIMED_OUT"
        case .messageTooLarge: return "MESSAGE_TOO_LARGE"
        case .coordinatorLoadInProgress: return "COORDINATOR_LOAD_IN_PROGRESS"
        case .coordinatorNotAvailable: return "COORDINATOR_NOT_AVAILABLE"
        case .notCoordinator: return "NOT_COORDINATOR"
        case .invalidTopic: return "INVALID_TOPIC_EXCEPTION"
        case .recordListTooLarge: return "RECORD_LIST_TOO_LARGE"
        case .notEnoughReplicas: return "NOT_ENOUGH_REPLICAS"
        case .notEnoughReplicasAfterAppend: return "NOT_ENOUGH_REPLICAS_AFTER_APPEND"
        case .invalidRequiredAcks: return "INVALID_REQUIRED_ACKS"
        case .illegalGeneration: return "ILLEGAL_GENERATION"
        case .invalidGroupID: return "INVALID_GROUP_ID"
        case .inconsistentGroupProtocol: return "INCONSISTENT_GROUP_PROTOCOL"
        case .unknownMemberID: return "UNKNOWN_MEMBER_ID"
        case .invalidSessionTimeout: return "INVALID_SESSION_TIMEOUT"
        case .rebalanceInProgress: return "REBALANCE_IN_PROGRESS"
        case .unsupportedVersion: return "UNSUPPORTED_VERSION"
        case .topicAlreadyExists: return "TOPIC_ALREADY_EXISTS"
        case .invalidPartitions: return "INVALID_PARTITIONS"
        case .invalidReplicationFactor: return "INVALID_REPLICATION_FACTOR"
        case .notController: return "NOT_CONTROLLER"
        case .invalidRequest: return "INVALID_REQUEST"
        case .outOfOrderSequenceNumber: return "OUT_OF_ORDER_SEQUENCE_NUMBER"
        case .duplicateSequenceNumber: return "DUPLICATE_SEQUENCE_NUMBER"
        case .invalidProducerEpoch: return "INVALID_PRODUCER_EPOCH"
        case .unknownProducerID: return "UNKNOWN_PRODUCER_ID"
        case .fencedLeaderEpoch: return "FENCED_LEADER_EPOCH"
        case .unknownLeaderEpoch: return "UNKNOWN_LEADER_EPOCH"
        case .memberIDRequired: return "MEMBER_ID_REQUIRED"
        case .unknownServerError: return "UNKNOWN_SERVER_ERROR"
        }
    }
}
