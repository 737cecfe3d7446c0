import Primitives
import Raft
import SimulationKit
import Storage
import Testing

struct RaftStateStoreTests {
    @Test("hard state and snapshot round-trip; a crash leaves the old or the new state")
    func atomic() throws {
        let fs = SimFileSystem(random: SeededRandom(seed: 9), tornWritePPM: 1_000_000)
        try fs.makeDirectory("/g")
        let store = RaftStateStore(fs: fs, directory: "/g")
        #expect(try store.load() == RaftStateStore.State())
        let old = RaftStateStore.State(hardState: HardState(term: 3, vote: 2, commit: 7))
        try store.save(old)
        #expect(try store.load() == old)
        let snap = Snapshot(index: 40, term: 3, membership: Membership(voters: [1, 2, 3]), data: [1, 2, 3])
        let new = RaftStateStore.State(hardState: HardState(term: 4, vote: 1, commit: 41), snapshot: snap,
                                       snapshotNextOffset: KafkaOffset(77))
        try store.save(new)
        #expect(try store.load() == new)
        fs.crash()
        #expect(try store.load() == new)
    }

    @Test("a damaged state file is an error, not an empty state")
    func corrupt() throws {
        let fs = SimFileSystem()
        try fs.makeDirectory("/g")
        let store = RaftStateStore(fs: fs, directory: "/g")
        try store.save(RaftStateStore.State(hardState: HardState(term: 3, vote: 2, commit: 7)))
        fs.flipBit(store.path, at: 12, bit: 0)
        #expect(throws: StorageError.corrupt(path: "/g/raft.state", detail: "invalid: checksum mismatch")) {
            try store.load()
        }
    }

    @Test("a data directory of another node or cluster is refused with both identities")
    func identity() throws {
        let fs = SimFileSystem()
        _ = try DataDirectory(fs: fs, path: "/data", cluster: "dev", node: 1)
        _ = try DataDirectory(fs: fs, path: "/data", cluster: "dev", node: 1)  // reopening is fine
        #expect(throws: StorageError.identityMismatch(
            "/data/rill.id says 'cluster=dev, node=1', this node is cluster=dev, node=2")) {
            try DataDirectory(fs: fs, path: "/data", cluster: "dev", node: 2)
        }
        #expect(throws: StorageError.identityMismatch(
            "/data/rill.id says 'cluster=dev, node=1', this node is cluster=prod, node=1")) {
            try DataDirectory(fs: fs, path: "/data", cluster: "prod", node: 1)
        }
        try fs.makeDirectory("/other")
        fs.close(try fs.open("/other/something", create: true))
        #expect(throws: StorageError.foreignFile(path: "/other/something")) {
            try DataDirectory(fs: fs, path: "/other", cluster: "dev", node: 1)
        }
    }

    @Test("a missing or unusable data directory gets a clear error on the real file system")
    func posixErrors() throws {
        let fs = PosixFileSystem()
        #expect(throws: StorageError.io(operation: "use as data directory", path: "/etc/hostname", errno: 20)) {
            try DataDirectory(fs: fs, path: "/etc/hostname", cluster: "dev", node: 1)
        }
        #expect(throws: StorageError.notFound(path: "/nonexistent-rill/x")) {
            try fs.open("/nonexistent-rill/x", create: false)
        }
    }
}
