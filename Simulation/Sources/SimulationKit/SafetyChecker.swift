import Broker
import Primitives
import Raft

/// A global observer that sees every node's Raft state after every event and checks the Raft
/// safety properties (Raft paper Fig. 3) plus "no committed entry lost" and identical applied
/// prefixes. It holds the ground truth no single node has.
struct SafetyChecker {
    struct EntryKey: Hashable {
        var group: GroupID
        var index: LogIndex
        var term: Term
    }

    struct LeaderKey: Hashable {
        var group: GroupID
        var term: Term
    }

    /// Election safety: (group, term) → the one leader.
    private var leaders: [LeaderKey: NodeID] = [:]
    /// Log matching: (group, index, term) → (entry hash, term of the entry before it).
    private var entries: [EntryKey: (hash: UInt64, previousTerm: Term?)] = [:]
    /// Committed entries per group, by index (index 0 unused): hash of the entry committed there.
    private(set) var committed: [GroupID: [UInt64]] = [:]
    /// Per group and index, the term of the node that first saw the entry committed: an upper bound
    /// of the term in which it was committed (leader completeness is only owed to later terms).
    private var committedByTerm: [GroupID: [Term]] = [:]
    /// Applied chain per group, by index (index 0 = initial chain).
    private var chains: [GroupID: [UInt64]] = [:]
    /// Leader append-only: per (node, group), the leader's term and last entry when last seen.
    private var leaderTails: [(term: Term, index: LogIndex, entryTerm: Term)?]
    private let groupCount: Int

    init(nodes: Int, groups: Int) {
        groupCount = groups
        leaderTails = Array(repeating: nil, count: nodes * groups)
        commitSeen = Array(repeating: .zero, count: nodes * groups)
    }

    /// Slot of (node, group) in the per-pair arrays (node ids are 1-based, group ids 0-based, both
    /// dense in the simulator).
    private func slot(_ node: NodeID, _ group: GroupID) -> Int {
        Int(node.value - 1) * groupCount + Int(group.value)
    }

    /// Per (node, group), the commit index already compared, so each entry is checked once.
    private var commitSeen: [LogIndex]

    private(set) var failure: SimFailure?

    /// A node restarted: compare its recovered committed prefix again.
    mutating func forget(node: NodeID, group: GroupID) {
        commitSeen[slot(node, group)] = .zero
        leaderTails[slot(node, group)] = nil
    }

    mutating func fail(_ property: String, _ detail: @autoclosure () -> String) {
        if failure == nil { failure = .safety(property: property, detail: detail()) }
    }

    func committedIndex(_ group: GroupID) -> LogIndex { LogIndex(UInt64(max((committed[group]?.count ?? 1) - 1, 0))) }

    /// Entries a node is about to persist (a Ready): log matching.
    mutating func observeAppended(_ es: [Entry], node: NodeID, group: GroupID, raft: borrowing RaftNode) {
        for e in es {
            let hash = ReplicaState.entryHash(e)
            let previousTerm = e.index > .zero ? raft.term(at: e.index.previous) : nil
            let key = EntryKey(group: group, index: e.index, term: e.term)
            if let known = entries[key] {
                if known.hash != hash {
                    fail("log-matching", "g\(group) entry \(e.term)/\(e.index) on n\(node) differs from another node's")
                }
                if let p = previousTerm, let q = known.previousTerm, p != q {
                    fail("log-matching",
                        "g\(group) entry \(e.term)/\(e.index) on n\(node) follows term \(p), elsewhere term \(q)")
                }
            } else {
                entries[key] = (hash, previousTerm)
            }
        }
    }

    /// After every event: election safety, leader append-only, commit agreement, leader completeness.
    mutating func observeState(node: NodeID, group: GroupID, raft: borrowing RaftNode, wasLeader: Bool) {
        let ng = slot(node, group)
        if raft.role == .leader {
            if !wasLeader {
                // A leader keeps its term until it steps down: checking at the transition suffices.
                let key = LeaderKey(group: group, term: raft.term)
                if let other = leaders[key], other != node {
                    fail("election-safety", "g\(group) term \(raft.term) has two leaders: n\(other) and n\(node)")
                }
                leaders[key] = node
                checkLeaderCompleteness(node: node, group: group, raft: raft)
            }
            if let tail = leaderTails[ng], tail.term == raft.term {
                if raft.lastIndex < tail.index {
                    fail("leader-append-only", "g\(group) leader n\(node) log shrank from \(tail.index) to \(raft.lastIndex)")
                } else if let t = raft.term(at: tail.index), t != tail.entryTerm {
                    fail("leader-append-only", "g\(group) leader n\(node) overwrote entry \(tail.index)")
                }
            }
            leaderTails[ng] = (raft.term, raft.lastIndex, raft.lastTerm)
        } else if leaderTails[ng] != nil {
            leaderTails[ng] = nil
        }
        observeCommit(node: node, group: group, raft: raft)
    }

    /// Every node's committed prefix must agree with every other's, entry by entry.
    mutating func observeCommit(node: NodeID, group: GroupID, raft: borrowing RaftNode) {
        let ng = slot(node, group)
        let commit = raft.commitIndex
        let seen = commitSeen[ng]
        guard commit > seen else { return }
        commitSeen[ng] = commit
        var known = committed[group] ?? [0]
        var terms = committedByTerm[group] ?? [.zero]
        var i = max(raft.firstIndex, seen.next)
        // Compare or extend only beyond what this node compacted; entries it still holds.
        let start = Int(i.value)
        if start <= Int(commit.value) {
            for k in start...Int(commit.value) {
                i = LogIndex(UInt64(k))
                guard let e = raft.entry(at: i) else { break }
                let h = ReplicaState.entryHash(e)
                if k < known.count {
                    if known[k] != h {
                        fail("committed-entry-lost",
                            "g\(group) n\(node) has a different committed entry at \(k) (term \(e.term))")
                        break
                    }
                } else if k == known.count {
                    known.append(h)
                    terms.append(raft.term)
                } else {
                    break  // a gap in what we know: others will fill it
                }
            }
        }
        committed[group] = known
        committedByTerm[group] = terms
    }

    /// Leader completeness: a new leader of term L holds every entry committed in a term before L.
    /// (A leader of an old term can still appear late — votes delayed by a pause — and owes nothing
    /// committed after its term.)
    mutating func checkLeaderCompleteness(node: NodeID, group: GroupID, raft: borrowing RaftNode) {
        guard let known = committed[group], known.count > 1, let terms = committedByTerm[group] else { return }
        var last = known.count - 1
        while last > 0 && terms[last] >= raft.term { last -= 1 }
        guard last > 0 else { return }
        let lastCommitted = LogIndex(UInt64(last))
        if raft.lastIndex < lastCommitted {
            fail("leader-completeness",
                "g\(group) n\(node) became leader in term \(raft.term) with last index \(raft.lastIndex) < committed \(lastCommitted)")
            return
        }
        var i = max(raft.firstIndex, LogIndex(1))
        while i <= lastCommitted {
            if let e = raft.entry(at: i), ReplicaState.entryHash(e) != known[Int(i.value)] {
                fail("leader-completeness",
                    "g\(group) n\(node) became leader in term \(raft.term) without committed entry \(i)")
                return
            }
            i = i.next
        }
    }

    /// State machine safety: every node applies the same entry at each index (same chain).
    mutating func observeApplied(node: NodeID, group: GroupID, index: LogIndex, chain: UInt64) {
        var c = chains[group] ?? [ReplicaState.initialChain]
        let k = Int(index.value)
        if k < c.count {
            if c[k] != chain { fail("state-machine-safety", "g\(group) n\(node) applied a different entry at \(k)") }
        } else if k == c.count {
            c.append(chain)
        } else {
            fail("state-machine-safety", "g\(group) n\(node) applied \(k) before anyone applied \(c.count)")
        }
        chains[group] = c
    }

    func appliedCount(_ group: GroupID) -> Int { (chains[group]?.count ?? 1) - 1 }
}
