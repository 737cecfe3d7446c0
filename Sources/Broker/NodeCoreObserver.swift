import Primitives
import Raft

/// Hooks for a global observer (the simulator's safety checker). Production passes none.
public protocol NodeCoreObserver: AnyObject {
    /// Entries a group is about to persist (taken from a Ready), with the Raft node as it is then.
    func appended(_ entries: [Entry], node: NodeID, group: GroupID, raft: borrowing RaftNode)
    /// The replica applied entries (or installed a snapshot) up to `state.appliedIndex`.
    func applied(node: NodeID, group: GroupID, index: LogIndex, chain: UInt64)
    /// A snapshot from the leader replaced the group's state.
    func installedSnapshot(node: NodeID, group: GroupID, index: LogIndex)
    /// The node started a partition's group it did not have (a move brought it here, or back)
    /// (`hosted`) or dropped one (moved off, or its topic deleted): what was known of its copy
    /// is gone.
    func groupChanged(node: NodeID, group: GroupID, hosted: Bool)
}

extension NodeCoreObserver {
    public func groupChanged(node: NodeID, group: GroupID, hosted: Bool) {}
}
