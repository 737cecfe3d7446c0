import Primitives
import Raft

/// What became of an entry a leader proposed, as the subsystems that answer once it is applied
/// (offset commits, transaction records, begins and markers) see it.
enum ProposalOutcome {
    /// Applied on this node: its effect is visible here.
    case applied
    /// Gone, or no longer this node's to answer: another leader's entry took its index, the
    /// node stopped leading before it applied, or the group is no longer here.
    case lost
}

extension PartitionContext {
    /// The outcome of the entry proposed at `index` in `term` to group `gid`; nil while it is
    /// still on its way (this node leads, and it is not applied yet).
    func proposalOutcome(group gid: GroupID, index: LogIndex, term: Term) -> ProposalOutcome? {
        guard let g = group(gid) else { return .lost }
        let (role, termAt) = g.withRaft { ($0.role, $0.term(at: index)) }
        if let termAt, termAt != term { return .lost }
        if g.state.appliedIndex >= index { return .applied }
        return role == .leader ? nil : .lost
    }
}
