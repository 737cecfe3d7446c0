import Primitives

/// A read of log entries that left the in-memory log, for a follower behind it. The caller runs it
/// against this node's storage and hands the result to `logReadCompleted`.
///
/// Why: a Kafka partition's memory log is compacted (snapshotted) long before its storage drops
/// anything, because the storage *is* the data. A snapshot would replace the follower's whole log
/// with the state machine's state and leave it without the records before the snapshot point;
/// reading those entries from the leader's disk keeps every replica a full copy (etcd-raft reads
/// from its `Storage` the same way, there synchronously).
public struct LogRead: Sendable, Equatable {
    public let peer: NodeID
    /// The first entry the follower needs. The read starts one entry earlier (`from - 1`, unless
    /// that is index 0): its term goes into the MsgApp as the point the logs must agree on.
    public let from: LogIndex
    /// Payload bytes to read (at least one entry after `from - 1`).
    public let maxBytes: Int
    /// The leader's term when asked: an answer for an older term is dropped.
    public let term: Term

    public init(peer: NodeID, from: LogIndex, maxBytes: Int, term: Term) {
        self.peer = peer
        self.from = from
        self.maxBytes = maxBytes
        self.term = term
    }
}

extension RaftNode {
    /// Reads to run against storage, in the order asked.
    public mutating func takeLogReads() -> [LogRead] {
        guard !logReads.isEmpty else { return [] }
        defer { logReads = [] }
        return logReads
    }

    /// Whether the leader still waits for this read (not answered, not given up on after its
    /// timeout, not from an older term): a read held back by the caller that no longer is need
    /// not run.
    public func isAwaiting(_ read: LogRead) -> Bool {
        role == .leader && term == read.term && progress[read.peer]?.pendingRead == read.from
    }

    mutating func requestLogRead(for peer: NodeID, from: LogIndex) {
        precondition(from <= log.snapshot.index, "reading \(from) from storage, but memory holds it (snapshot \(log.snapshot.index))")
        // Enough for the in-flight window at once; one MsgApp's worth while probing.
        let bytes = progress[peer]?.state == .replicate ? config.inflightBytesMax : config.appendBytesMax
        logReads.append(LogRead(peer: peer, from: from, maxBytes: bytes, term: term))
        progress.update(peer) {
            $0.pendingRead = from
            $0.readTicks = 0
        }
    }

    /// Reads that meet damage in a row before the follower gets the snapshot after all.
    static let damagedReadsMax = 5

    /// Storage answered `read` with entries from `read.from - 1` on (from `read.from` when that is
    /// 1), or nil when it no longer holds them (retention): then the follower gets the snapshot
    /// after all.
    ///
    /// `damaged`: storage holds the entries but could not read them intact (a bit flipped on this
    /// node's disk). A snapshot would throw away the follower's whole log for one bad sector of
    /// the leader's, so the read is held for the read timeout (two election timeouts) and tried
    /// again, while the node mends the damage from a peer's copy; only after
    /// `damagedReadsMax` damaged reads in a row (nobody holds an intact copy) does the follower
    /// get the snapshot.
    public mutating func logReadCompleted(_ read: LogRead, entries stored: [Entry]?, damaged: Bool = false) {
        wake()
        guard role == .leader, term == read.term, var pr = progress[read.peer], pr.pendingRead == read.from else { return }
        if damaged && pr.damagedReads < Self.damagedReadsMax {
            pr.damagedReads += 1
            pr.readTicks = 0  // stays paused; the read timeout (tickLeader) lets it go again
            progress[read.peer] = pr
            return
        }
        pr.damagedReads = 0
        pr.pendingRead = nil
        progress[read.peer] = pr
        guard pr.next == read.from, !pr.isPaused else {
            // The follower moved on (or the window filled) meanwhile: start over from its state.
            sendAppend(to: read.peer)
            return
        }
        guard let (prevTerm, entries) = usable(read, stored) else {
            if log.term(pr.next.previous) == nil { _ = sendSnapshot(to: read.peer) } else { sendAppend(to: read.peer) }
            return
        }
        let prevIndex = read.from.previous
        var k = 0
        var prev = (index: prevIndex, term: prevTerm)
        // Cut into MsgApps of at most appendBytesMax, as many as the follower's window takes.
        while k < entries.count, let p = progress[read.peer], !p.isPaused {
            var bytes = 0
            var end = k
            while end < entries.count && (end == k || bytes + entries[end].sizeBytes <= config.appendBytesMax) {
                bytes += entries[end].sizeBytes
                end += 1
            }
            let chunk = Array(entries[k..<end])
            sendNow(
                Message(
                    kind: .append, from: id, to: read.peer, term: term, logTerm: prev.term, index: prev.index,
                    entries: chunk, commit: log.committed))
            progress.update(read.peer) { $0.sentEntries(last: chunk.last?.index, bytes: bytes) }
            prev = (chunk.last!.index, chunk.last!.term)
            k = end
        }
    }

    /// The term at `read.from - 1` and the entries after it, when storage's answer is what was
    /// asked for. Only entries up to the snapshot point are used: those are committed, applied and
    /// durable here, so what storage holds for them is what every replica holds; entries after
    /// it come from memory (a write still in flight may not be on disk yet).
    private func usable(_ read: LogRead, _ stored: [Entry]?) -> (Term, [Entry])? {
        guard var entries = stored, !entries.isEmpty else { return nil }
        var prevTerm = Term.zero
        if read.from.previous > .zero {
            guard entries[0].index == read.from.previous else { return nil }
            prevTerm = entries.removeFirst().term
        }
        guard let first = entries.first, first.index == read.from else { return nil }
        let cutoff = log.snapshot.index
        var out: [Entry] = []
        out.reserveCapacity(entries.count)
        for (i, e) in entries.enumerated() {
            guard e.index <= cutoff else { break }
            guard e.index == read.from + i else { return nil }
            out.append(e)
        }
        // The entry at the snapshot point is the snapshot's: storage must agree on its term.
        if let last = out.last, last.index == cutoff, last.term != log.snapshot.term { return nil }
        return out.isEmpty ? nil : (prevTerm, out)
    }
}
