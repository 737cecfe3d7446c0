import Raft

/// A node that stood still (SIGSTOP, a VM paused, a machine suspended, an event loop blocked)
/// comes back believing it still leads the groups it led. Its ticks stopped with it, so CheckQuorum
/// has not noticed that the others may have elected new leaders meanwhile, and the first thing
/// it handles may be a Fetch that it would answer from a stale log: records deleted since, a high
/// watermark gone back. (SwiftNIO serves ready sockets before overdue timers, so after a stop a
/// request comes before the tick that would catch up.)
///
/// Before any tick, peer message or Kafka request, the node compares the monotonic clock with
/// its last tick: stood still for more than half an election timeout — long enough that followers
/// may have stopped hearing from it and voted — it steps down from every group it leads. A new
/// election (its own PreVote and vote round trips, paired with its new term) decides who leads;
/// stale answers still in its sockets cannot count for it. Shorter stalls are safe: followers
/// keep a leader lease of a whole election timeout since they last heard from it.
extension NodeCore {
    /// Standing still longer than this may have cost this node its leaderships.
    var stallThresholdMs: Int64 { Int64(config.raftTemplate.electionTicks * config.tickMilliseconds / 2) }

    /// Step down from every group led here if the node stood still since its last tick; returns
    /// the line to log when it did.
    func stepDownIfStalled() -> String? {
        let now = monotonicMs()
        guard let last = lastTickMs, now - last > stallThresholdMs else { return nil }
        lastTickMs = now  // one stall, stepped down once
        var led = 0
        for k in groups.indices where groups[k].withRaft({ $0.role == .leader }) {
            groups[k].raft.stepDown()
            touch(k)
            led += 1
        }
        stallsFound += 1
        guard led > 0 else { return nil }
        return "stood still for \(now - last) ms (over half an election timeout, \(stallThresholdMs) ms): "
            + "stepped down from the \(led) group(s) led here, which others may lead now; elections decide"
    }
}
