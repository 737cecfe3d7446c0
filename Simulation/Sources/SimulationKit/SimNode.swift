import Broker
import KafkaProtocol
import Primitives
import Raft
import Storage

/// One simulated node: the real `NodeCore` (every Raft group it hosts, the controller among
/// them, group commit) over the real `NodeStorage` on a simulated disk. Crash throws the memory
/// away; restart rebuilds it from the disk alone.
struct SimNode {
    let id: NodeID
    let index: Int
    var disk: SimDisk
    /// The node's files; they survive crashes as a real disk would (unsynced writes may not).
    let fs: SimFileSystem
    /// The node's logic and storage while it is up.
    var core: NodeCore?
    var storage: NodeStorage?
    /// Per group (same order as `groups`): whether it was leader at the last observation.
    var wasLeader: [Bool] = []
    /// Per group position: quiesced at the last observation.
    var wasQuiesced: [Bool] = []
    /// When this node last stopped leading each group (stepped down, or crashed leading it):
    /// whatever a leader kept only in memory for the group was gone from then on.
    var leadershipLostAt: [GroupID: SimTime] = [:]
    var up = true
    var paused = false
    /// Bumped on every crash; events of an older incarnation are ignored.
    var incarnation = 0
    /// A bit of its durable log was flipped while down; cleared once every group has repaired.
    var damaged = false
    /// A bit of its log was flipped while it ran (found by a read, or at its next restart). Held
    /// until the next crash (which turns it into `damaged`) or the liveness phase, so other nodes'
    /// disks stay intact meanwhile.
    var damagedWhileRunning = false
    /// Bumped whenever the tick chain restarts (restart, resume), so exactly one chain runs.
    var tickEpoch = 0
    /// Events that reached the node while it was paused, replayed in order when it resumes.
    var deferred: [SimEvent] = []
    /// The storage batch in flight: its disk token, its (already computed) completion, and the
    /// file system's sync request that makes it durable.
    var inflightWrites: [(token: Int, completion: StorageCompletion, syncRequest: Int)] = []
    /// Tick interval after clock skew.
    let tickInterval: SimTime
    /// Per group, the last entry this node told a leader it holds (Simulator+Durability), and what
    /// of that its log still held when it last crashed.
    var acknowledged: [GroupID: (index: LogIndex, term: Term)] = [:]
    var acknowledgedAtCrash: [GroupID: (index: LogIndex, term: Term)] = [:]

    init(id: NodeID, index: Int, disk: SimDisk, fs: SimFileSystem, up: Bool, tickInterval: SimTime) {
        self.id = id
        self.index = index
        self.disk = disk
        self.fs = fs
        self.up = up
        self.tickInterval = tickInterval
    }

    var alive: Bool { up && !paused }

    /// The core's groups, sorted by id. Empty while the node is down.
    var groups: [NodeCore.Group] { core?.groups ?? [] }

    /// Group `g` (0 the controller, then the static groups, then Kafka partitions), if this node
    /// hosts it: a partition moved off a node is not there, so positions in `groups` are not ids.
    func group(_ g: Int) -> NodeCore.Group? { core?.group(GroupID(UInt32(g))) }
}

/// Everything that can happen in a simulated run.
enum SimEvent {
    case tick(node: Int, epoch: Int)
    case deliver(to: Int, from: Int, bytes: [UInt8])
    case diskDone(node: Int, incarnation: Int, token: Int)
    case propose
    case faultCheck
    case restart(node: Int)
    case unpause(node: Int)
    case heal(serial: Int)
    case livenessCheck
    case crash(node: Int, incarnation: Int)
    case kafkaClientStep(client: Int)
    case kafkaRequest(node: Int, client: Int, header: RequestHeader, body: [UInt8])
    case kafkaReply(client: Int, correlation: Int32, bytes: [UInt8])

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
        case .kafkaClientStep: return 11
        case .kafkaRequest: return 12
        case .kafkaReply: return 13
        }
    }
}
