import Primitives
import Raft
import Storage

/// Storage work of one group commit, as values: the node core decides it on its event loop, the
/// node's storage runs it (on the disk thread in production, at once in the simulator) and
/// reports back with a `StorageCompletion`. Operations run in order; then one sync makes them
/// durable together.
public struct StorageBatch: Sendable {
    public enum Operation: Sendable {
        /// A group the node starts to replicate: its (empty) storage is created.
        case createGroup(GroupID)
        /// A snapshot from the leader: durable first, then the log restarts after it.
        case installSnapshot(GroupID, Snapshot, nextOffset: KafkaOffset)
        case append(GroupID, [Entry])
        /// A new term or vote, saved after the log's sync (the commit index needs no durability).
        case saveHardState(GroupID, HardState)
        /// A local snapshot; log segments before `keepFrom` may go.
        case compact(GroupID, Snapshot, keepFrom: LogIndex?)
    }

    public let token: UInt64
    public var operations: [Operation]

    public init(token: UInt64, operations: [Operation]) {
        self.token = token
        self.operations = operations
    }

    /// Groups whose log this batch writes (sorted), so only their logs are synced.
    public var writtenGroups: [GroupID] {
        var out: [GroupID] = []
        for op in operations {
            switch op {
            case .append(let g, _), .installSnapshot(let g, _, _), .createGroup(let g):
                if !out.contains(g) { out.append(g) }
            case .saveHardState, .compact:
                break
            }
        }
        return out.sorted()
    }
}

/// A batch is durable (or failed: the node must stop, since after a failed fsync the page cache
/// cannot be trusted).
public struct StorageCompletion: Sendable {
    public let token: UInt64
    public let failure: StorageError?
    /// Per group written, the last index of the old segments retention would delete (if any).
    public var retention: [(GroupID, LogIndex)] = []

    public init(token: UInt64, failure: StorageError?) {
        self.token = token
        self.failure = failure
    }
}
