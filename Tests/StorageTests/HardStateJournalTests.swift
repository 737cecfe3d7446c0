import Primitives
import Raft
import SimulationKit
import Storage
import Testing

/// The node-wide journal of hard states (`HardStateJournal`): later records win, a torn tail is
/// dropped, damage before intact records is refused, compaction keeps every state.
struct HardStateJournalTests {
    static func hs(_ term: UInt64, _ vote: UInt32, _ commit: UInt64 = 0) -> HardState {
        HardState(term: Term(term), vote: NodeID(vote), commit: LogIndex(commit))
    }

    /// A journal in `/d` holding two saves, `first` then `second`; returns the file system and the path.
    static func twoSaves(_ first: (GroupID, HardState), _ second: (GroupID, HardState)) throws -> (SimFileSystem, String) {
        let fs = SimFileSystem()
        try fs.makeDirectory("/d")
        let j = try HardStateJournal(fs: fs, directory: "/d")
        try j.save([first])
        try j.save([second])
        return (fs, "/d/" + HardStateJournal.fileName)
    }

    @Test("states saved in batches come back after a reopen, the latest of each group; removed groups are forgotten")
    func roundTrip() throws {
        let fs = SimFileSystem()
        try fs.makeDirectory("/d")
        do {
            let j = try HardStateJournal(fs: fs, directory: "/d")
            try j.save([(GroupID(1), Self.hs(1, 1)), (GroupID(2), Self.hs(1, 2))])
            try j.save([(GroupID(1), Self.hs(2, 3, 5))])
            try j.save([(GroupID(3), Self.hs(7, 1))], removed: [GroupID(2)])
        }
        fs.crash()
        let j = try HardStateJournal(fs: fs, directory: "/d")
        #expect(j.states == [GroupID(1): Self.hs(2, 3, 5), GroupID(3): Self.hs(7, 1)])
    }

    @Test("a departed copy (a replica moved off the node) is removed and remembered for good: across reopens and a compaction rewrite")
    func departedCopies() throws {
        let fs = SimFileSystem()
        try fs.makeDirectory("/d")
        do {
            let j = try HardStateJournal(fs: fs, directory: "/d", compactBytes: 500)
            try j.save([(GroupID(1), Self.hs(3, 2, 9)), (GroupID(2), Self.hs(1, 1))])
            // Group 1's copy leaves at term 4, having voted for 2, its log through 12.
            try j.save([], removed: [GroupID(1)], departed: [(GroupID(1), Self.hs(4, 2, 12))])
            #expect(j.states[GroupID(1)] == nil && j.departed == [GroupID(1): Self.hs(4, 2, 12)])
        }
        fs.crash()
        var j = try HardStateJournal(fs: fs, directory: "/d", compactBytes: 500)
        #expect(j.states == [GroupID(2): Self.hs(1, 1)])
        #expect(j.departed == [GroupID(1): Self.hs(4, 2, 12)])
        // The copy comes back (a state again) and the file is rewritten: the departure stays.
        for term in 5...40 as ClosedRange<UInt64> { try j.save([(GroupID(1), Self.hs(term, 3, term))]) }
        j = try HardStateJournal(fs: fs, directory: "/d", compactBytes: 500)
        #expect(j.states[GroupID(1)] == Self.hs(40, 3, 40))
        #expect(j.departed == [GroupID(1): Self.hs(4, 2, 12)])
    }

    @Test("one save of a thousand groups' states is one write and one sync")
    func oneSyncPerSave() throws {
        let fs = SimFileSystem()
        try fs.makeDirectory("/d")
        let j = try HardStateJournal(fs: fs, directory: "/d")
        let before = fs.syncCount
        try j.save((1...1000 as ClosedRange<UInt32>).map { (GroupID($0), Self.hs(1, $0 % 3 + 1)) })
        #expect(fs.syncCount - before == 1)
    }

    @Test("power failing at every point of a save leaves the previous states or the new ones, never less")
    func crashAtEveryPoint() throws {
        for point in 0..<8 {
            for seed in 1...5 as ClosedRange<UInt64> {
                let fs = SimFileSystem(random: SeededRandom(seed: seed), tornWritePPM: 500_000)
                try fs.makeDirectory("/d")
                let j = try HardStateJournal(fs: fs, directory: "/d", compactBytes: 200)
                let first: [(GroupID, HardState)] = (1...5 as ClosedRange<UInt32>).map { (GroupID($0), Self.hs(1, 1)) }
                try j.save(first)
                let old = j.states
                fs.powerFailsAfter = fs.mutatingOperations + point
                var acknowledged = false
                do {
                    // Past 200 bytes the second save compacts: the atomic rewrite is crashed too.
                    try j.save((1...5 as ClosedRange<UInt32>).map { (GroupID($0), Self.hs(2, 2)) })
                    try j.save([(GroupID(9), Self.hs(3, 3))])
                    acknowledged = true
                } catch {}
                fs.crash()
                let back = try HardStateJournal(fs: fs, directory: "/d", compactBytes: 200).states
                var new = old
                for g in 1...5 as ClosedRange<UInt32> { new[GroupID(g)] = Self.hs(2, 2) }
                var newer = new
                newer[GroupID(9)] = Self.hs(3, 3)
                if acknowledged {
                    #expect(back == newer, "point \(point) seed \(seed)")
                } else {
                    #expect(back == old || back == new || back == newer, "point \(point) seed \(seed): \(back)")
                }
            }
        }
    }

    @Test("a torn last record is dropped and the file cut there; the next save follows the intact ones")
    func tornTail() throws {
        let (fs, path) = try Self.twoSaves((GroupID(1), Self.hs(1, 1)), (GroupID(1), Self.hs(2, 2)))
        let f = try fs.open(path, create: false)
        let size = try fs.size(f)
        try fs.truncate(f, to: size - 3)
        fs.close(f)
        do {
            let j = try HardStateJournal(fs: fs, directory: "/d")
            #expect(j.states == [GroupID(1): Self.hs(1, 1)])
            try j.save([(GroupID(4), Self.hs(5, 1))])
        }
        let j = try HardStateJournal(fs: fs, directory: "/d")
        #expect(j.states == [GroupID(1): Self.hs(1, 1), GroupID(4): Self.hs(5, 1)])
    }

    @Test("a damaged record before intact ones is an error (a vote could be forgotten), not a truncation")
    func damageInTheMiddle() throws {
        let (fs, path) = try Self.twoSaves((GroupID(1), Self.hs(1, 1)), (GroupID(2), Self.hs(2, 2)))
        #expect(fs.flipBit(path, at: 20, bit: 3))
        #expect(throws: StorageError.corrupt(path: path, detail: "damaged record at byte 0 before intact ones")) {
            try HardStateJournal(fs: fs, directory: "/d")
        }
    }

    @Test("past its size limit the journal is rewritten with the latest states only, which survive a reopen")
    func compaction() throws {
        let fs = SimFileSystem()
        try fs.makeDirectory("/d")
        let path = "/d/" + HardStateJournal.fileName
        do {
            let j = try HardStateJournal(fs: fs, directory: "/d", compactBytes: 1000)
            for term in 1...200 as ClosedRange<UInt64> {
                try j.save([(GroupID(UInt32(term % 4) + 1), Self.hs(term, 1, term))])
            }
        }
        let f = try fs.open(path, create: false)
        #expect(try fs.size(f) < 1000 + 64)
        fs.close(f)
        let j = try HardStateJournal(fs: fs, directory: "/d")
        #expect(j.states == [
            GroupID(1): Self.hs(200, 1, 200), GroupID(2): Self.hs(197, 1, 197),
            GroupID(3): Self.hs(198, 1, 198), GroupID(4): Self.hs(199, 1, 199),
        ])
    }

    @Test("a group's raft.state and the journal: the later hard state wins either way")
    func laterWins() throws {
        #expect(HardState.later(Self.hs(3, 2), Self.hs(5, 0)) == Self.hs(5, 0))
        #expect(HardState.later(Self.hs(5, 1, 9), Self.hs(4, 2, 20)) == Self.hs(5, 1, 9))
        #expect(HardState.later(Self.hs(5, 0, 9), Self.hs(5, 3, 2)) == Self.hs(5, 3, 2))
        let fs = SimFileSystem()
        try fs.makeDirectory("/g")
        let store = RaftStateStore(fs: fs, directory: "/g")
        try store.save(RaftStateStore.State(hardState: Self.hs(4, 2, 10)))
        let (_, newer) = try GroupStorage.open(fs: fs, directory: "/g", journaled: Self.hs(6, 3, 1))
        #expect(newer.hardState == Self.hs(6, 3, 1))
        let (_, older) = try GroupStorage.open(fs: fs, directory: "/g", journaled: Self.hs(3, 1, 40))
        #expect(older.hardState == Self.hs(4, 2, 10))
    }
}
