import Primitives
import Raft

/// The application state of one group on one node: a hash chain over every applied entry. Two
/// nodes with equal chains at an index applied identical histories up to it, so the checker can
/// compare whole prefixes by comparing one number.
struct GroupStateMachine {
    private(set) var appliedIndex: LogIndex = .zero
    private(set) var chain: UInt64 = GroupStateMachine.initialChain

    static let initialChain: UInt64 = 0x5151_5151_5151_5151

    static func entryHash(_ e: Entry) -> UInt64 {
        var h = FNV64()
        h.add(e.term.value)
        h.add(e.index.value)
        h.add(e.kind.rawValue)
        h.add(bytes: e.data)
        return h.value
    }

    static func chained(_ previous: UInt64, _ entryHash: UInt64) -> UInt64 {
        var h = FNV64()
        h.add(previous)
        h.add(entryHash)
        return h.value
    }

    mutating func apply(_ e: Entry) {
        precondition(e.index == appliedIndex.next, "applying \(e.index) after \(appliedIndex)")
        chain = Self.chained(chain, Self.entryHash(e))
        appliedIndex = e.index
    }

    /// Snapshot payload: applied index and chain.
    var snapshotData: [UInt8] {
        var w = ByteWriter()
        w.u64(appliedIndex.value)
        w.u64(chain)
        return w.bytes
    }

    mutating func restore(_ snap: Snapshot) {
        if snap.data.isEmpty {
            // The initial (index 0) snapshot carries no application state.
            precondition(snap.index == .zero, "snapshot \(snap.index) without data")
            appliedIndex = .zero
            chain = Self.initialChain
            return
        }
        var r = ByteReader(snap.data)
        let index = LogIndex((try? r.u64()) ?? 0)
        let chain = (try? r.u64()) ?? 0
        precondition(index == snap.index, "snapshot data for \(index) in snapshot \(snap.index)")
        self.appliedIndex = index
        self.chain = chain
    }
}
