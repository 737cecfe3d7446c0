import Primitives

extension RaftNode {
    /// Compact the log prefix through `index`, which the application has applied; `data` is its
    /// state there. Returns the snapshot, which the caller persists before dropping the prefix on
    /// disk. Followers behind the new first index receive it through MsgSnap.
    @discardableResult
    public mutating func compact(through index: LogIndex, data: [UInt8]) -> Snapshot {
        precondition(index <= log.applied, "compact through \(index) beyond applied \(log.applied)")
        let membershipThere = membership(at: index)
        log.compact(through: index, data: data, membership: membershipThere)
        log.checkInvariants()
        return log.snapshot
    }

    /// The membership in force at `index` (<= last index): the latest membership entry at or before
    /// it, else the snapshot's.
    func membership(at index: LogIndex) -> Membership {
        var i = index
        while i > log.snapshot.index {
            if let e = log.entry(i), e.kind == .membership, let decoded = try? MembershipEntry.decode(e.data) {
                return decoded.membership
            }
            i = i.previous
        }
        return log.snapshot.membership
    }

    /// The latest snapshot (index 0 when the log was never compacted).
    public var latestSnapshot: Snapshot { log.snapshot }

    mutating func handleSnapshot(_ m: Message) {
        guard let snap = m.snapshot else { return }
        // A snapshot whose membership does not include us is still installed (etcd ignores it): a
        // learner added after the leader's latest snapshot would otherwise wait for a newer
        // snapshot that an idle group never makes. The entries after it re-add us; until then we
        // are not a voter in our own view and never campaign.
        if snap.index <= log.committed {
            acknowledge(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        if log.matchTerm(snap.index, snap.term) {
            // We already hold the entry the snapshot ends at: just move the commit index.
            log.commit(to: snap.index)
            acknowledge(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.committed))
            return
        }
        log.restore(snap)
        membership = snap.membership
        membershipIndex = snap.index
        previousMembership = snap.membership
        acknowledge(Message(kind: .appendResponse, from: id, to: m.from, term: term, index: log.lastIndex))
    }
}
