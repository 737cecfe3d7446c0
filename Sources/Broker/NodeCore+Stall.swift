import Raft

/// A node that stood still (SIGSTOP, a VM paused, a machine suspended, an event loop blocked)
/// comes back believing it still leads the groups it led. Its ticks stopped with it, so CheckQuorum
/// has not noticed that the others may have elected new leaders meanwhile, and the first thing
/// it handles may be a Fetch that it would answer from a stale log: records deleted since, a high
/// watermark gone back. (SwiftNIO serves ready sockets before overdue timers, so after a stop a
/// request comes before the tick that would catch up.)
///
/// Before any tick, peer message or Kafka request, the node compares the monotonic clock with
/// its last tick: stood still long enough that followers may have stopped hearing from it and
/// voted, it steps down from every group it leads that has other voters. A new election (its own
/// PreVote and vote round trips, paired with its new term) decides who leads; stale answers still
/// in its sockets cannot count for it.
///
/// How long is long enough: a follower campaigns no sooner than an election timeout after the
/// last heartbeat it heard, which left at most a heartbeat interval before the stall began; with
/// clocks up to 5 % apart, no other leader can exist before `(0.95 × election − heartbeat)` ticks
/// of stall. The threshold is 90 % of that: 765 ms with the defaults (ticks of 100 ms, election 10,
/// heartbeat 1). A loop busy that long is as stale as a stopped one.
extension NodeCore {
    /// Standing still longer than this may have cost this node its leaderships.
    var stallThresholdMs: Int64 {
        let raft = config.raftTemplate
        let bound = Int64(raft.electionTicks * 95 - raft.heartbeatTicks * 100) * Int64(config.tickMilliseconds)  // in ms × 100
        return max(Int64(config.tickMilliseconds), bound * 9 / 1000)
    }

    /// Step down from every group led here if the node stood still since its last tick; returns
    /// the line to log when it did.
    func stepDownIfStalled() -> String? {
        let now = monotonicMs()
        guard let last = lastTickMs, now - last > stallThresholdMs else { return nil }
        lastTickMs = now  // one stall, stepped down once
        var led = 0
        // A group whose only voter is this node has no one else to lead it.
        for k in groups.indices where groups[k].withRaft({ $0.role == .leader && $0.membership.voters.count > 1 }) {
            groups[k].raft.stepDown()
            touch(k)
            led += 1
        }
        stallsFound += 1
        guard led > 0 else { return nil }
        return "stood still for \(now - last) ms (over \(stallThresholdMs) ms, within which no other node can be elected): "
            + "stepped down from the \(led) group(s) led here, which others may lead now; elections decide"
    }
}
