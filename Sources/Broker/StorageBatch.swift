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
        /// A deleted topic's partition, or a replica moved off this node: its directory and
        /// everything in it go. For a moved replica, `departed` is what the copy was (its term and
        /// vote, and as `commit` the last index its log reached): the journal keeps it for good
        /// (`NodeStorage.departedCopies`, `NodeCore.departedCopies`).
        case removeGroup(GroupID, departed: HardState? = nil)
        /// A peer's copy of committed entries this node's storage holds damaged: mended in place
        /// where it fits (durable on return; see `PartitionLog.repair`).
        case repair(GroupID, [Entry])
        /// Report (`StorageCompletion.retention`) the last index of the old segments this policy
        /// would delete from the group's log; nothing is deleted here. The active segment is
        /// closed first if the policy's `segmentMs` says it is old.
        case measureRetention(GroupID, RetentionPolicy)
        /// Delete the segments before this index that the group's durable snapshot covers (what
        /// `measureRetention` reported, when the snapshot is already at the applied index).
        case dropSegments(GroupID, before: LogIndex)
        /// Compact the group's log as the policy says, if it is due (`LogCleaner`): up to its
        /// durable snapshot; `StorageCompletion.compacted` says what went, `wantsSnapshot` when
        /// closed segments lie beyond the snapshot.
        case clean(GroupID, CompactionPolicy)
        /// The group's segment size from now on (a topic's `segment.bytes`); nil: storage's own.
        case setSegmentBytes(GroupID, Int?)
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
            case .saveHardState, .compact, .removeGroup, .repair, .measureRetention, .dropSegments, .clean, .setSegmentBytes:
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
    /// Per group measured (`measureRetention`), the last index of the old segments retention would
    /// delete (if any).
    public var retention: [(GroupID, LogIndex)] = []
    /// Per group cleaned (`clean`), what the pass did.
    public var compacted: [(GroupID, CompactionPass)] = []
    /// Groups a `clean` could not reach all closed segments of because the durable snapshot lies
    /// before them, with the index the snapshot should reach: the node snapshots them.
    public var wantsSnapshot: [(GroupID, LogIndex)] = []
    /// Per group written or compacted, the first Kafka offset its log still holds.
    public var logStart: [(GroupID, UInt64)] = []
    /// Per group written, trimmed or measured (and every group, in the first completion after
    /// start-up), the bytes its log takes on disk (DescribeLogDirs).
    public var logBytes: [(GroupID, UInt64)] = []
    /// Every group whose log holds damaged entries a peer's copy can mend (sorted by group).
    public var damage: [(GroupID, [ClosedRange<LogIndex>])] = []
    /// Damage a read inside this batch met in entries recovery had verified (reported once).
    public var damageFound: [(GroupID, PartitionLog.DamageFound)] = []
    /// Groups whose damaged entries a `.repair` of this batch mended (sorted).
    public var repaired: [GroupID] = []
    /// Position of this batch among everything storage ran (batches and reads), so the owner
    /// can tell which of two completions saw storage later (the simulator completes reads at
    /// once and batches when their fsyncs finish).
    public var sequence: UInt64 = 0

    public init(token: UInt64, failure: StorageError?) {
        self.token = token
        self.failure = failure
    }
}

/// A read of a Kafka partition's committed batches, run where storage lives (the disk thread in
/// production, at once in the simulator). Reads and batches of one node run in order on one
/// owner, so they never touch storage at the same time.
public struct StorageRead: Sendable {
    /// Why the core asked. Storage hands it back in the completion, so the core routes the answer
    /// with a switch (`NodeCore.readCompleted`) instead of searching its waiting lists.
    public enum Purpose: Equatable, Sendable {
        /// Raft entries for a follower behind the leader's in-memory log (`RaftNode.takeLogReads`).
        case raftCatchUp(LogRead)
        /// Committed entries `range` that `peer` asked for to mend its damage (`RepairMessage`).
        case repair(peer: NodeID, range: ClosedRange<LogIndex>)
        /// Record batches for a Kafka Fetch; its partition waits under the read's token.
        case kafkaFetch
        /// The first batch with a record at or after a time, for ListOffsets; its partition waits
        /// under the read's token.
        case listOffsets
    }

    /// Unique among the node's reads (one counter for every purpose).
    public let token: UInt64
    public let purpose: Purpose
    public let group: GroupID
    /// The Kafka offset to start at: the batch holding it comes first.
    public let offset: UInt64
    /// At least one whole batch, then more while they fit.
    public let maxBytes: Int
    /// Only entries up to here (the applied index: committed data only).
    public let through: LogIndex
    /// Instead of an offset: find the first batch with a record at or after this time (ms);
    /// the completion then holds that one batch, if any.
    public var timestamp: Int64? = nil
    /// Instead of Kafka batches: Raft entries for a follower behind the leader's in-memory log —
    /// the entry before this index when storage has it (its term is the MsgApp's match point),
    /// then entries from this index on, up to `through` and `maxBytes` (at least one). The
    /// completion holds them in `entries`; nothing when storage no longer has the first of them.
    public var entriesFrom: LogIndex? = nil
}

public struct ReadCompletion: Sendable {
    /// The read's token, purpose and group, handed back.
    public let token: UInt64
    public let purpose: StorageRead.Purpose
    public let group: GroupID
    /// The batches' bytes, in offset order.
    public var batches: [[UInt8]]
    public var failure: StorageError?
    /// For a read with `entriesFrom`: the entries, in index order.
    public var entries: [Entry] = []
    /// Damage this read met in entries recovery had verified (bytes damaged while running),
    /// reported once: the entries are out of service from now on and need a peer's copy.
    public var damageFound: [(GroupID, PartitionLog.DamageFound)] = []
    /// For each group in `damageFound`: every damaged run its storage holds now (as
    /// `StorageCompletion.damage`).
    public var damage: [(GroupID, [ClosedRange<LogIndex>])] = []
    /// As `StorageCompletion.sequence`.
    public var sequence: UInt64 = 0
    /// The group's log start offset when the read ran: retention may have moved it since the
    /// node last heard (a Fetch that finds nothing then answers with the start as it is).
    public var logStart: UInt64?

    /// The answer to `read`.
    public init(for read: StorageRead, batches: [[UInt8]], failure: StorageError?) {
        self.token = read.token
        self.purpose = read.purpose
        self.group = read.group
        self.batches = batches
        self.failure = failure
    }
}
