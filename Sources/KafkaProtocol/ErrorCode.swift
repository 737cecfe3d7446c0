/// A Kafka error code. An open set: a peer may send a code this broker has no name for, and it
/// is kept as it came (`rawValue`), never refused.
public struct ErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int16

    public init(rawValue: Int16) { self.rawValue = rawValue }

    public static let none = ErrorCode(rawValue: 0)
    public static let offsetOutOfRange = ErrorCode(rawValue: 1)
    public static let corruptMessage = ErrorCode(rawValue: 2)
    public static let unknownTopicOrPartition = ErrorCode(rawValue: 3)
    public static let leaderNotAvailable = ErrorCode(rawValue: 5)
    public static let notLeaderOrFollower = ErrorCode(rawValue: 6)
    public static let requestTimedOut = ErrorCode(rawValue: 7)
    public static let messageTooLarge = ErrorCode(rawValue: 10)
    public static let coordinatorLoadInProgress = ErrorCode(rawValue: 14)
    public static let coordinatorNotAvailable = ErrorCode(rawValue: 15)
    public static let notCoordinator = ErrorCode(rawValue: 16)
    public static let invalidTopic = ErrorCode(rawValue: 17)
    public static let recordListTooLarge = ErrorCode(rawValue: 18)
    public static let notEnoughReplicas = ErrorCode(rawValue: 19)
    public static let notEnoughReplicasAfterAppend = ErrorCode(rawValue: 20)
    public static let invalidRequiredAcks = ErrorCode(rawValue: 21)
    public static let illegalGeneration = ErrorCode(rawValue: 22)
    public static let invalidGroupID = ErrorCode(rawValue: 24)
    public static let inconsistentGroupProtocol = ErrorCode(rawValue: 23)
    public static let unknownMemberID = ErrorCode(rawValue: 25)
    public static let invalidSessionTimeout = ErrorCode(rawValue: 26)
    public static let rebalanceInProgress = ErrorCode(rawValue: 27)
    public static let unsupportedVersion = ErrorCode(rawValue: 35)
    public static let topicAlreadyExists = ErrorCode(rawValue: 36)
    public static let invalidPartitions = ErrorCode(rawValue: 37)
    public static let invalidReplicationFactor = ErrorCode(rawValue: 38)
    public static let invalidReplicaAssignment = ErrorCode(rawValue: 39)
    public static let invalidConfig = ErrorCode(rawValue: 40)
    public static let notController = ErrorCode(rawValue: 41)
    public static let invalidRequest = ErrorCode(rawValue: 42)
    public static let outOfOrderSequenceNumber = ErrorCode(rawValue: 45)
    public static let duplicateSequenceNumber = ErrorCode(rawValue: 46)
    /// A request the topic's configs forbid (DeleteRecords on a compact-only topic).
    public static let policyViolation = ErrorCode(rawValue: 44)
    public static let invalidProducerEpoch = ErrorCode(rawValue: 47)
    /// Transactions: an EndTxn the transaction's state does not allow (the other direction, or none open).
    public static let invalidTxnState = ErrorCode(rawValue: 48)
    /// Transactions: the producer id is not the transactional id's.
    public static let invalidProducerIDMapping = ErrorCode(rawValue: 49)
    public static let invalidTransactionTimeout = ErrorCode(rawValue: 50)
    /// Transactions: the coordinator is finishing the previous transaction; retriable.
    public static let concurrentTransactions = ErrorCode(rawValue: 51)
    /// The request's other parts were not attempted because one part failed (AddPartitionsToTxn).
    public static let operationNotAttempted = ErrorCode(rawValue: 55)
    /// A disk error on the broker (a damaged entry it will not serve); clients retry.
    public static let kafkaStorageError = ErrorCode(rawValue: 56)
    public static let unknownProducerID = ErrorCode(rawValue: 59)
    public static let fencedLeaderEpoch = ErrorCode(rawValue: 74)
    public static let unknownLeaderEpoch = ErrorCode(rawValue: 75)
    public static let nonEmptyGroup = ErrorCode(rawValue: 68)
    /// OffsetFetch with RequireStable: a transaction holds an offset of the partition not yet
    /// decided; retriable.
    public static let unstableOffsetCommit = ErrorCode(rawValue: 88)
    public static let groupIDNotFound = ErrorCode(rawValue: 69)
    public static let memberIDRequired = ErrorCode(rawValue: 79)
    public static let preferredLeaderNotAvailable = ErrorCode(rawValue: 80)
    public static let eligibleLeadersNotAvailable = ErrorCode(rawValue: 83)
    public static let electionNotNeeded = ErrorCode(rawValue: 84)
    /// A cancel (AlterPartitionReassignments with null replicas) for a partition not moving.
    public static let noReassignmentInProgress = ErrorCode(rawValue: 85)
    public static let groupSubscribedToTopic = ErrorCode(rawValue: 86)
    public static let invalidRecord = ErrorCode(rawValue: 87)
    public static let producerFenced = ErrorCode(rawValue: 90)
    public static let unknownTopicID = ErrorCode(rawValue: 100)
    /// UnregisterBroker for a node that is not a member.
    public static let brokerIDNotRegistered = ErrorCode(rawValue: 102)
    public static let inconsistentTopicID = ErrorCode(rawValue: 103)
    /// DescribeTransactions for a transactional id its coordinator has no record of.
    public static let transactionalIDNotFound = ErrorCode(rawValue: 105)
    public static let unknownServerError = ErrorCode(rawValue: -1)

    public var description: String { "\(rawValue) (\(name))" }

    /// Kafka's name for the code.
    public var name: String { Self.names[rawValue] ?? "UNKNOWN_\(rawValue)" }

    private static let names: [Int16: String] = [
        0: "NONE",
        1: "OFFSET_OUT_OF_RANGE",
        2: "CORRUPT_MESSAGE",
        3: "UNKNOWN_TOPIC_OR_PARTITION",
        5: "LEADER_NOT_AVAILABLE",
        6: "NOT_LEADER_OR_FOLLOWER",
        7: "REQUEST_TIMED_OUT",
        10: "MESSAGE_TOO_LARGE",
        14: "COORDINATOR_LOAD_IN_PROGRESS",
        15: "COORDINATOR_NOT_AVAILABLE",
        16: "NOT_COORDINATOR",
        17: "INVALID_TOPIC_EXCEPTION",
        18: "RECORD_LIST_TOO_LARGE",
        19: "NOT_ENOUGH_REPLICAS",
        20: "NOT_ENOUGH_REPLICAS_AFTER_APPEND",
        21: "INVALID_REQUIRED_ACKS",
        22: "ILLEGAL_GENERATION",
        24: "INVALID_GROUP_ID",
        23: "INCONSISTENT_GROUP_PROTOCOL",
        25: "UNKNOWN_MEMBER_ID",
        26: "INVALID_SESSION_TIMEOUT",
        27: "REBALANCE_IN_PROGRESS",
        35: "UNSUPPORTED_VERSION",
        36: "TOPIC_ALREADY_EXISTS",
        37: "INVALID_PARTITIONS",
        38: "INVALID_REPLICATION_FACTOR",
        39: "INVALID_REPLICA_ASSIGNMENT",
        40: "INVALID_CONFIG",
        41: "NOT_CONTROLLER",
        42: "INVALID_REQUEST",
        44: "POLICY_VIOLATION",
        45: "OUT_OF_ORDER_SEQUENCE_NUMBER",
        46: "DUPLICATE_SEQUENCE_NUMBER",
        47: "INVALID_PRODUCER_EPOCH",
        48: "INVALID_TXN_STATE",
        49: "INVALID_PRODUCER_ID_MAPPING",
        50: "INVALID_TRANSACTION_TIMEOUT",
        51: "CONCURRENT_TRANSACTIONS",
        55: "OPERATION_NOT_ATTEMPTED",
        88: "UNSTABLE_OFFSET_COMMIT",
        56: "KAFKA_STORAGE_ERROR",
        59: "UNKNOWN_PRODUCER_ID",
        74: "FENCED_LEADER_EPOCH",
        75: "UNKNOWN_LEADER_EPOCH",
        68: "NON_EMPTY_GROUP",
        69: "GROUP_ID_NOT_FOUND",
        79: "MEMBER_ID_REQUIRED",
        80: "PREFERRED_LEADER_NOT_AVAILABLE",
        83: "ELIGIBLE_LEADERS_NOT_AVAILABLE",
        84: "ELECTION_NOT_NEEDED",
        85: "NO_REASSIGNMENT_IN_PROGRESS",
        86: "GROUP_SUBSCRIBED_TO_TOPIC",
        87: "INVALID_RECORD",
        90: "PRODUCER_FENCED",
        100: "UNKNOWN_TOPIC_ID",
        102: "BROKER_ID_NOT_REGISTERED",
        103: "INCONSISTENT_TOPIC_ID",
        105: "TRANSACTIONAL_ID_NOT_FOUND",
        -1: "UNKNOWN_SERVER_ERROR",
    ]
}
