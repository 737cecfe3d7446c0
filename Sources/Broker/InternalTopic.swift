/// The topics Rill writes for itself, whose records are a coordinator's state: clients read their
/// metadata but never produce to them, delete their records, add partitions (a key's place is its
/// hash over the partition count) or delete them, and retention never trims them (their
/// snapshots hold each key's newest record instead).
public enum InternalTopic: Sendable, CaseIterable {
    /// `__consumer_offsets`: committed offsets and group membership (`GroupOffsetStore`).
    case consumerOffsets
    /// `__transaction_state`: the transaction coordinators' records (`TransactionStateStore`).
    case transactionState

    public init?(name: String) {
        switch name {
        case offsetsTopic: self = .consumerOffsets
        case transactionStateTopic: self = .transactionState
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .consumerOffsets: offsetsTopic
        case .transactionState: transactionStateTopic
        }
    }

    /// What its records hold, for error messages.
    public var holds: String {
        switch self {
        case .consumerOffsets: "the consumer groups' offsets"
        case .transactionState: "the transaction coordinators' state"
        }
    }

    public static func isInternal(_ name: String) -> Bool { InternalTopic(name: name) != nil }
}
