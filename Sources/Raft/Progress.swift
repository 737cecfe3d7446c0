import Primitives

/// How a leader is replicating to one follower (etcd's tracker.StateType).
enum ReplicationState: String, Sendable {
    /// One MsgApp at a time while the leader looks for the match point.
    case probe = "StateProbe"
    /// Pipelined MsgApp, bounded by the in-flight window.
    case replicate = "StateReplicate"
    /// A snapshot is on its way; nothing else is sent until it lands (or times out).
    case snapshot = "StateSnapshot"
}

/// The window of MsgApp sent to a follower and not yet acknowledged, by count and bytes.
struct Inflights {
    let capacity: Int
    let bytesMax: Int
    private var lastIndexes: [LogIndex] = []
    private var sizes: [Int] = []
    private(set) var bytes = 0

    init(capacity: Int, bytesMax: Int) {
        self.capacity = capacity
        self.bytesMax = bytesMax
    }

    var count: Int { lastIndexes.count }
    var isFull: Bool { lastIndexes.count >= capacity || bytes >= bytesMax }

    mutating func add(_ last: LogIndex, bytes size: Int) {
        precondition(!isFull, "adding to a full in-flight window (\(count) msgs, \(bytes) bytes)")
        if let tail = lastIndexes.last { precondition(last > tail, "in-flight \(last) not after \(tail)") }
        lastIndexes.append(last)
        sizes.append(size)
        bytes += size
    }

    /// Release every message whose last index is <= `index` (acknowledged).
    mutating func free(through index: LogIndex) {
        var n = 0
        while n < lastIndexes.count && lastIndexes[n] <= index {
            bytes -= sizes[n]
            n += 1
        }
        lastIndexes.removeFirst(n)
        sizes.removeFirst(n)
    }

    mutating func freeFirst() {
        guard let first = lastIndexes.first else { return }
        free(through: first)
    }

    mutating func reset() {
        lastIndexes.removeAll()
        sizes.removeAll()
        bytes = 0
    }
}

/// A leader's view of one follower (etcd's tracker.Progress).
/// Invariant: match < next.
struct Progress {
    var match: LogIndex = .zero
    var next: LogIndex
    var state: ReplicationState = .probe
    /// Probe state: a MsgApp is out; wait for its answer or a heartbeat response before the next.
    var probeSent = false
    /// Snapshot state: the index of the snapshot being sent.
    var pendingSnapshot: LogIndex = .zero
    /// Ticks since the snapshot was sent; a lost snapshot is retried after an election timeout.
    var snapshotTicks = 0
    /// Entries from this index on are being read from the leader's storage for this follower
    /// (they left the in-memory log); nothing is sent until the read comes back or times out.
    var pendingRead: LogIndex?
    /// Ticks since that read was asked for.
    var readTicks = 0
    /// Reads for this follower in a row that met damage in the leader's storage
    /// (`RaftNode.logReadCompleted`): retried while the damage is mended, up to a bound.
    var damagedReads = 0
    /// Heard from within the current CheckQuorum period.
    var recentActive = false
    /// Heard from since the leader last woke from quiescence (or was elected): a woken leader
    /// quiesces again only on fresh answers (RaftNode+Quiescence). Unlike `recentActive`, not
    /// reset by CheckQuorum, whose period would otherwise cut every run of quiet ticks.
    var heardSinceWake = false
    /// The latest leadership round (`RaftNode+LeadershipCheck`) this voter answered in the
    /// leader's term.
    var confirmedRound: UInt64 = 0
    var inflights: Inflights

    init(next: LogIndex, inflightMessagesMax: Int, inflightBytesMax: Int) {
        self.next = next
        self.inflights = Inflights(capacity: inflightMessagesMax, bytesMax: inflightBytesMax)
    }

    var isPaused: Bool {
        if pendingRead != nil { return true }
        switch state {
        case .probe: return probeSent
        case .replicate: return inflights.isFull
        case .snapshot: return true
        }
    }

    /// Back to probing. After a snapshot that landed, resume right after it; after one that was
    /// lost (`snapshotLost`), from the match point, so the next send is the snapshot again.
    mutating func becomeProbe(snapshotLost: Bool = false) {
        pendingRead = nil
        if state == .snapshot && !snapshotLost {
            next = max(match.next, pendingSnapshot.next)
        } else {
            next = match.next
        }
        state = .probe
        probeSent = false
        pendingSnapshot = .zero
        inflights.reset()
    }

    mutating func becomeReplicate() {
        pendingRead = nil
        state = .replicate
        next = match.next
        probeSent = false
        pendingSnapshot = .zero
        inflights.reset()
    }

    mutating func becomeSnapshot(_ index: LogIndex) {
        pendingRead = nil
        state = .snapshot
        pendingSnapshot = index
        snapshotTicks = 0
        probeSent = false
        inflights.reset()
    }

    /// A successful MsgAppResp for `index`. Returns whether `match` moved.
    mutating func maybeUpdate(_ index: LogIndex) -> Bool {
        var updated = false
        if match < index {
            match = index
            probeSent = false
            updated = true
        }
        next = max(next, index.next)
        return updated
    }

    /// A rejected MsgApp for `rejected`, with the follower's hint at where logs may match.
    /// Returns false when the rejection is stale (an answer to an older probe).
    mutating func maybeDecrease(rejected: LogIndex, matchHint: LogIndex) -> Bool {
        if state == .replicate {
            if rejected <= match { return false }
            next = match.next
            return true
        }
        if next.previous != rejected { return false }
        if rejected == match && matchHint < match {
            // The follower no longer holds what it acknowledged: it lost data (a disk fault, or a
            // stale rejection overtaken by the ack). Lowering match is always safe (it only counts
            // the follower for less) and stops an endless probe at the old match point.
            match = matchHint
        }
        next = max(min(rejected, matchHint.next), max(match.next, LogIndex(1)))
        probeSent = false
        return true
    }

    /// Record a MsgApp just sent that ends at `last` and carries `bytes` of entries.
    mutating func sentEntries(last: LogIndex?, bytes: Int) {
        switch state {
        case .replicate:
            if let last {
                next = last.next
                inflights.add(last, bytes: bytes)
            }
        case .probe:
            probeSent = true
        case .snapshot:
            preconditionFailure("sending entries in snapshot state")
        }
    }
}

/// Progress of every other member, in id order (never a Dictionary: iteration order reaches output).
struct ProgressMap {
    private(set) var ids: [NodeID] = []
    private var values: [Progress] = []

    subscript(id: NodeID) -> Progress? {
        get { ids.firstIndex(of: id).map { values[$0] } }
        set {
            if let i = ids.firstIndex(of: id) {
                if let v = newValue { values[i] = v } else {
                    ids.remove(at: i)
                    values.remove(at: i)
                }
            } else if let v = newValue {
                let i = ids.firstIndex(where: { $0 > id }) ?? ids.count
                ids.insert(id, at: i)
                values.insert(v, at: i)
            }
        }
    }

    mutating func update(_ id: NodeID, _ body: (inout Progress) -> Void) {
        guard let i = ids.firstIndex(of: id) else { return }
        body(&values[i])
    }

    mutating func updateAll(_ body: (NodeID, inout Progress) -> Void) {
        for i in ids.indices { body(ids[i], &values[i]) }
    }
}
