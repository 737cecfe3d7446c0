import Primitives
import Raft
import Storage

/// One simulated node: the real `RaftNode` for each group it hosts, its application state machines,
/// and its disk. Crash throws the memory away; restart rebuilds it from the disk alone.
struct SimNode {
    /// A class so the hot loops mutate the Raft node in place instead of copying it out of arrays.
    final class Group {
        let id: GroupID
        var raft: RaftNode
        var stateMachine = GroupStateMachine()
        /// The Ready whose write is in flight.
        var outstanding: Ready?
        /// Whether the node was leader at the last observation (for leader-completeness checks).
        var wasLeader = false
        /// The hard state of the last write, to spot writes that persist a new term or vote.
        var lastHardState = HardState()
        /// The group's files: the real storage engine over the node's simulated file system.
        let storage: GroupStorage
        /// A hard state with a new term or vote, saved when the pending write completes.
        var pendingHardState: HardState?

        init(id: GroupID, raft: RaftNode, storage: GroupStorage) {
            self.id = id
            self.raft = raft
            self.storage = storage
        }

        /// Read the Raft node in place: a plain read of a class's struct property copies the whole
        /// struct (every array retained), which dominated the simulator's profile.
        @inline(__always) func withRaft<R>(_ body: (inout RaftNode) -> R) -> R { body(&raft) }
    }

    let id: NodeID
    let index: Int
    var disk: SimDisk
    /// The node's files; they survive crashes as a real disk would (unsynced writes may not).
    let fs: SimFileSystem
    /// Groups sorted by id: iteration order is part of the run.
    var groups: [Group] = []
    var up = true
    var paused = false
    /// Bumped on every crash; events of an older incarnation are ignored.
    var incarnation = 0
    /// A bit of its durable log was flipped while down; cleared once every group has repaired.
    var damaged = false
    /// Bumped whenever the tick chain restarts (restart, resume), so exactly one chain runs.
    var tickEpoch = 0
    /// Events that reached the node while it was paused, replayed in order when it resumes.
    var deferred: [SimEvent] = []
    /// Readies per in-flight disk token.
    var inflightWrites: [(token: Int, groups: [Int], syncRequest: Int)] = []
    /// Tick interval after clock skew.
    let tickInterval: SimTime

    var alive: Bool { up && !paused }

    func groupIndex(_ g: GroupID) -> Int? {
        var lo = 0
        var hi = groups.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if groups[mid].id == g { return mid }
            if groups[mid].id < g { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }
}

/// Everything that can happen in a simulated run.
enum SimEvent {
    case tick(node: Int, epoch: Int)
    case deliver(to: Int, bytes: [UInt8])
    case diskDone(node: Int, incarnation: Int, token: Int)
    case propose
    case faultCheck
    case restart(node: Int)
    case unpause(node: Int)
    case heal(serial: Int)
    case livenessCheck
    case crash(node: Int, incarnation: Int)

    var code: UInt8 {
        switch self {
        case .tick: return 1
        case .deliver: return 2
        case .diskDone: return 3
        case .propose: return 4
        case .faultCheck: return 5
        case .restart: return 6
        case .unpause: return 7
        case .heal: return 8
        case .livenessCheck: return 9
        case .crash: return 10
        }
    }
}
