import Primitives
@testable import Raft

/// Drives a handful of real `RaftNode`s by hand for the golden transcripts, in the style of
/// etcd-raft's rafttest.InteractionEnv: nodes in id order, FIFO message delivery, synchronous
/// "storage" that makes each Ready durable before its after-persist work.
struct InteractionEnv {
    struct Storage {
        var hardState = HardState()
        var snapshot: Snapshot? = nil
        var entries: [Entry] = []

        mutating func persist(_ r: Ready) {
            if let s = r.snapshot {
                snapshot = s
                entries = []
            }
            if let first = r.entries.first {
                let base = snapshot?.index ?? .zero
                entries.removeSubrange(Int(first.index.value - base.value - 1)...)
                entries.append(contentsOf: r.entries)
            }
            if let hs = r.hardState { hardState = hs }
        }

        var recovered: RecoveredState { RecoveredState(hardState: hardState, snapshot: snapshot, entries: entries) }
    }

    struct Node {
        var raft: RaftNode
        var config: RaftConfig
        var storage = Storage()
        /// Entries "storage" holds but cannot read intact (`damage-storage`).
        var damaged: Set<UInt64> = []
        var applied: [Entry] = []
        var up = true
    }

    var nodes: [Node] = []
    /// Plant a bug in every node the transcript adds (to show a transcript catches it).
    var plantedBug: PlantedBug? = nil
    var queue: [Message] = []
    var isolated: Set<NodeID> = []

    func index(_ id: UInt32) -> Int { Int(id) - 1 }

    mutating func handle(_ c: DataDrivenCommand) -> String {
        switch c.name {
        case "add-nodes": return addNodes(c)
        case "campaign": return each(c) { $0.raft.campaign() }
        case "wake": return each(c) { $0.raft.wake() }
        case "propose":
            let id = UInt32(c.positional[0])!
            do {
                try nodes[index(id)].raft.propose(Array(c.positional[1].utf8))
                return "ok"
            } catch { return "error: \(error)" }
        case "propose-membership":
            let id = UInt32(c.positional[0])!
            let target = NodeID(UInt32(c.positional[2])!)
            let change: MembershipChange
            switch c.positional[1] {
            case "add-learner": change = .addLearner(target)
            case "promote": change = .promote(target)
            default: change = .remove(target)
            }
            do {
                let at = try nodes[index(id)].raft.proposeMembershipChange(change)
                return "ok: \(change) at \(at)"
            } catch { return "error: \(error)" }
        case "tick":
            let n = c.int("count") ?? 1
            return each(c) { node in for _ in 0..<n { node.raft.tick() } }
        case "tick-heartbeat":
            return each(c) { node in for _ in 0..<node.config.heartbeatTicks { node.raft.tick() } }
        case "tick-election":
            // The randomized timeout lies in [election, 2*election): this many ticks always fire it.
            return each(c) { node in for _ in 0..<(2 * node.config.electionTicks) { node.raft.tick() } }
        case "process-ready":
            var out: [String] = []
            for id in ids(c) { out.append(contentsOf: processReady(id)) }
            return out.joined(separator: "\n")
        case "deliver-msgs":
            var out: [String] = []
            for id in ids(c) { out.append(contentsOf: deliver(to: id, drop: c.bool("drop") ?? false)) }
            return out.joined(separator: "\n")
        case "stabilize": return stabilize(ids(c))
        case "send-msgs":
            // Only the messages that may leave before any write is durable; no Ready is processed.
            var out: [String] = []
            for id in ids(c) where nodes[index(id)].up {
                let ms = nodes[index(id)].raft.takeMessages()
                queue.append(contentsOf: ms)
                out.append(contentsOf: ms.map { "  \($0)" })
            }
            return out.isEmpty ? "(nothing may leave yet)" : out.joined(separator: "\n")
        case "raft-state": return raftState()
        case "raft-log": return raftLog(UInt32(c.positional[0])!)
        case "status":
            let n = nodes[index(UInt32(c.positional[0])!)].raft
            return n.progressDescription.isEmpty ? "(not leader)" : n.progressDescription.joined(separator: "\n")
        case "isolate":
            for id in ids(c) { isolated.insert(NodeID(id)) }
            return "ok"
        case "heal":
            isolated.removeAll()
            return "ok"
        case "heal-node":
            for id in ids(c) { isolated.remove(NodeID(id)) }
            return "ok"
        case "compact":
            let id = UInt32(c.positional[0])!
            let at = LogIndex(UInt64(c.positional[1])!)
            let snap = nodes[index(id)].raft.compact(through: at, data: Array("snap@\(at)".utf8))
            nodes[index(id)].storage.snapshot = snap
            nodes[index(id)].storage.entries.removeAll { $0.index <= at }
            return "snapshot \(snap)"
        case "compact-memory":
            // A Kafka partition's memory snapshot: the log on "disk" stays (it is the data).
            let id = UInt32(c.positional[0])!
            let at = LogIndex(UInt64(c.positional[1])!)
            let snap = nodes[index(id)].raft.compact(through: at, data: Array("snap@\(at)".utf8))
            return "snapshot \(snap) (storage keeps \(nodes[index(id)].storage.entries.count) entries)"
        case "damage-storage":
            // A bit flip on the node's disk: the entry stays in storage, unreadable until mended.
            nodes[index(UInt32(c.positional[0])!)].damaged.insert(UInt64(c.positional[1])!)
            return "ok"
        case "mend-storage":
            nodes[index(UInt32(c.positional[0])!)].damaged = []
            return "ok"
        case "transfer-leadership":
            let from = UInt32(c.int("from")!)
            do {
                try nodes[index(from)].raft.transferLeadership(to: NodeID(UInt32(c.int("to")!)))
                return "ok"
            } catch { return "error: \(error)" }
        case "crash":
            return each(c) { node in node.up = false }
        case "restart":
            var out: [String] = []
            for id in ids(c) {
                var n = nodes[index(id)]
                n.raft = try! RaftNode(config: n.config, recovered: n.storage.recovered)
                n.applied = []
                n.up = true
                nodes[index(id)] = n
                out.append("\(id) restarted: \(n.raft.hardState) last \(n.raft.lastIndex)")
            }
            let restarted = ids(c)
            queue.removeAll { m in restarted.contains(m.to.value) }
            return out.joined(separator: "\n")
        default:
            return "unknown command \(c.name)"
        }
    }

    func ids(_ c: DataDrivenCommand) -> [UInt32] {
        let listed = c.positional.compactMap { UInt32($0) }
        return listed.isEmpty ? nodes.map(\.config.id.value) : listed
    }

    /// Apply `body` to each named node; its messages wait in its outbox for `process-ready`.
    mutating func each(_ c: DataDrivenCommand, _ body: (inout Node) -> Void) -> String {
        for id in ids(c) { body(&nodes[index(id)]) }
        return ""
    }

    mutating func addNodes(_ c: DataDrivenCommand) -> String {
        let count = Int(c.positional[0])!
        let first = nodes.count + 1
        let newIDs = (first..<(first + count)).map { NodeID(UInt32($0)) }
        let voters = c.ids("voters").map { $0.map { NodeID($0) } } ?? newIDs
        let learners = c.ids("learners").map { $0.map { NodeID($0) } } ?? []
        var out: [String] = []
        for id in newIDs {
            var config = RaftConfig(id: id, initialMembership: Membership(voters: voters, learners: learners))
            config.electionTicks = c.int("election") ?? 10
            config.heartbeatTicks = c.int("heartbeat") ?? 1
            config.preVote = c.bool("prevote") ?? false
            config.checkQuorum = c.bool("checkquorum") ?? false
            config.appendBytesMax = c.int("max-msg-bytes") ?? 64 * 1024
            config.inflightMessagesMax = c.int("inflight") ?? 64
            config.randomSeed = 42
            config.catchUpFromStorage = c.bool("catchup") ?? false
            config.quiesceAfterTicks = c.int("quiesce") ?? 0
            if let bug = c.arguments["bug"]?.first { config.plantedBug = PlantedBug(rawValue: bug) }
            if let bug = plantedBug { config.plantedBug = bug }
            let raft = try! RaftNode(config: config)
            nodes.append(Node(raft: raft, config: config))
            out.append("\(id): \(raft.role.rawValue) Term:\(raft.term) \(raft.membership)")
        }
        return out.joined(separator: "\n")
    }

    /// Hand the node's output to "storage" and "network": messages that may leave now, then the
    /// Ready (persisted at once), its after-persist messages and committed entries, then advance.
    mutating func processReady(_ id: UInt32) -> [String] {
        guard nodes[index(id)].up else { return [] }
        var messages = nodes[index(id)].raft.takeMessages()
        var out: [String] = []
        if nodes[index(id)].raft.hasReady {
            let r = nodes[index(id)].raft.ready()
            out.append("  State:\(r.role.rawValue) Lead:\(r.leader)")
            if let hs = r.hardState { out.append("  HardState \(hs)") }
            if let s = r.snapshot { out.append("  Snapshot \(s)") }
            if !r.entries.isEmpty {
                out.append("  Entries:")
                out.append(contentsOf: r.entries.map { "  \($0)" })
            }
            nodes[index(id)].storage.persist(r)
            if !r.committedEntries.isEmpty {
                out.append("  CommittedEntries:")
                out.append(contentsOf: r.committedEntries.map { "  \($0)" })
            }
            messages.append(contentsOf: r.messagesAfterPersist)
            nodes[index(id)].applied.append(contentsOf: r.committedEntries)
            nodes[index(id)].raft.advance(r)
            messages.append(contentsOf: nodes[index(id)].raft.takeMessages())
        }
        for read in nodes[index(id)].raft.takeLogReads() {
            // "Storage" answers at once: from the entry before the first needed, up to the bytes asked.
            let start = read.from.previous > .zero ? read.from.previous : read.from
            var found: [Entry] = []
            var bytes = 0
            for e in nodes[index(id)].storage.entries where e.index >= start {
                if found.count > 1 && bytes + e.sizeBytes > read.maxBytes { break }
                bytes += e.sizeBytes
                found.append(e)
            }
            let damaged = found.contains { nodes[index(id)].damaged.contains($0.index.value) }
            let answer = found.first?.index == start && !damaged ? found : nil
            out.append("  LogRead for \(read.peer) from \(read.from): \(damaged ? "damaged" : answer.map { "\($0.count) entries" } ?? "not in storage")")
            nodes[index(id)].raft.logReadCompleted(read, entries: answer, damaged: damaged)
            messages.append(contentsOf: nodes[index(id)].raft.takeMessages())
        }
        if !messages.isEmpty {
            out.append("  Messages:")
            out.append(contentsOf: messages.map { "  \($0)" })
        }
        queue.append(contentsOf: messages)
        if out.isEmpty { return [] }
        return ["> \(id) handling Ready"] + out
    }

    mutating func deliver(to id: UInt32, drop: Bool) -> [String] {
        var out: [String] = []
        var rest: [Message] = []
        let mine = queue.filter { $0.to.value == id }
        rest = queue.filter { $0.to.value != id }
        queue = rest
        for m in mine {
            if drop || isolated.contains(m.to) || isolated.contains(m.from) || !nodes[index(id)].up {
                out.append("  dropped: \(m)")
                continue
            }
            out.append("  \(m)")
            nodes[index(id)].raft.step(m)
        }
        if !out.isEmpty { out.insert("> \(id) receiving messages", at: 0) }
        return out
    }

    /// Process every node's Ready and deliver every message, in id order, until nothing moves.
    mutating func stabilize(_ ids: [UInt32]) -> String {
        var out: [String] = []
        for _ in 0..<100 {
            var moved = false
            for id in ids {
                let r = processReady(id)
                if !r.isEmpty { moved = true }
                out.append(contentsOf: r)
            }
            for id in ids {
                let d = deliver(to: id, drop: false)
                if !d.isEmpty { moved = true }
                out.append(contentsOf: d)
            }
            if !moved { break }
        }
        return out.joined(separator: "\n")
    }

    func raftState() -> String {
        nodes.map { n in
            let r = n.raft
            let kind = r.membership.isVoter(r.id) ? "Voter" : (r.membership.isLearner(r.id) ? "Learner" : "None")
            let quiet = r.isQuiesced ? " quiesced" : ""
            return "\(r.id): \(n.up ? r.role.rawValue : "down") (\(kind)) Term:\(r.term) Lead:\(r.leader) Commit:\(r.commitIndex) Last:\(r.lastIndex)\(quiet)"
        }.joined(separator: "\n")
    }

    func raftLog(_ id: UInt32) -> String {
        let r = nodes[index(id)].raft
        var out: [String] = []
        if r.snapshotIndex > .zero { out.append("snapshot \(r.latestSnapshot)") }
        var i = r.firstIndex
        while i <= r.lastIndex {
            out.append(r.entry(at: i)!.description)
            i = i.next
        }
        return out.isEmpty ? "log is empty" : out.joined(separator: "\n")
    }
}
