import Broker
import Primitives
import Raft

/// The direct durability check: an entry a node told a leader it holds (a successful
/// appendResponse) must still be in its log after a crash and restart — unless a leader truncated
/// it before the crash (then the node's log no longer held it with that term), the node installed
/// a snapshot past it, or the fault model damaged that node's disk (recovery then drops entries on
/// purpose and repairs them from peers). Checked on its own, not only through what elections and
/// commits later reveal: a node that acknowledged before its write was durable is caught at its
/// first crash, whatever happens to the cluster afterwards.
extension Simulator {
    /// Note what node `node` acknowledges in `envelopes` (called as they leave it).
    func noteAcknowledged(_ envelopes: [PeerEnvelope], from node: Int) {
        guard let core = nodes[node].core else { return }
        for e in envelopes where e.message.kind == .appendResponse && !e.message.reject {
            let index = e.message.index
            guard index > .zero, index > (nodes[node].acknowledged[e.group]?.index ?? .zero),
                let term = core.raftOf(e.group)?.term(at: index)
            else { continue }
            nodes[node].acknowledged[e.group] = (index, term)
        }
    }

    /// At a crash: keep what the node's log still held as it went down (a truncation by a leader
    /// or a snapshot past it ends the promise).
    func keepAcknowledgedForRecovery(_ node: Int) {
        guard let core = nodes[node].core else { return }
        var kept: [GroupID: (index: LogIndex, term: Term)] = [:]
        for (g, ack) in nodes[node].acknowledged {
            if let raft = core.raftOf(g), ack.index > raft.snapshotIndex, raft.term(at: ack.index) == ack.term { kept[g] = ack }
        }
        nodes[node].acknowledgedAtCrash = kept
        nodes[node].acknowledged = [:]
    }

    /// At a restart, over what storage recovered.
    func checkDurability(_ node: Int, recovered: [(GroupID, RecoveredState)]) {
        let promised = nodes[node].acknowledgedAtCrash
        nodes[node].acknowledgedAtCrash = [:]
        guard !nodes[node].damaged else { return }
        for (g, state) in recovered {
            guard let ack = promised[g] else { continue }
            stats.durabilityChecks += 1
            if let snap = state.snapshot, snap.index >= ack.index { continue }
            if state.repairThrough >= ack.index { continue }
            let held = state.entries.first.map { first -> Term? in
                let offset = Int(ack.index.value) - Int(first.index.value)
                return offset >= 0 && offset < state.entries.count ? state.entries[offset].term : nil
            } ?? nil
            if held != ack.term {
                let last = state.entries.last?.index ?? state.snapshot?.index ?? .zero
                checker.fail("durability",
                             "n\(node + 1) g\(g) acknowledged index \(ack.index) (term \(ack.term)) as durable, but after its restart "
                             + (held.map { "that index holds term \($0)" } ?? "its log ends at \(last)"))
            }
        }
    }
}
