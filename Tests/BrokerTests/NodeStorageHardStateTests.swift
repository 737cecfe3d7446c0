@testable import Broker
import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// Terms and votes of many groups in one batch: one sync for all of them (the node's
/// `HardStateJournal`), and each group recovers its own after a crash.
struct NodeStorageHardStateTests {
    @Test("a batch saving 500 groups' votes syncs once for them, and every group gets its vote back after a crash")
    func manyVotesOneSync() throws {
        let fs = SimFileSystem()
        let groups = (1...500 as ClosedRange<UInt32>).map { GroupID($0) }
        do {
            let storage = try NodeStorage(fs: fs, path: "/data", cluster: "t", node: 1)
            #expect(storage.execute(StorageBatch(token: 1, operations: groups.map { .createGroup($0) })).failure == nil)
            let before = fs.syncCount
            let votes = StorageBatch(token: 2, operations: groups.map { .saveHardState($0, HardState(term: 3, vote: NodeID($0.value % 3 + 1), commit: .zero)) })
            #expect(storage.execute(votes).failure == nil)
            // One group's raft.state each took two syncs (file and directory): 1,000 here.
            #expect(fs.syncCount - before == 1)
            // A removed group is forgotten by the journal with its directory.
            #expect(storage.execute(StorageBatch(token: 3, operations: [.removeGroup(GroupID(500))])).failure == nil)
        }
        fs.crash()
        let storage = try NodeStorage(fs: fs, path: "/data", cluster: "t", node: 1)
        #expect(try storage.existingGroups() == Array(groups.dropLast()))
        for g in groups.dropLast() {
            let (state, _) = try storage.open(g)
            #expect(state.hardState == HardState(term: 3, vote: NodeID(g.value % 3 + 1), commit: .zero))
        }
        #expect(storage.hardStates.states[GroupID(500)] == nil)
    }
}
