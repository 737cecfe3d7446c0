import KafkaProtocol
import Primitives
import Raft

/// A broker as the controller knows it: where Kafka clients reach it.
public struct BrokerRegistration: Equatable, Sendable {
    public var node: NodeID
    public var host: String
    public var kafkaPort: UInt16

    public init(node: NodeID, host: String, kafkaPort: UInt16) {
        self.node = node
        self.host = host
        self.kafkaPort = kafkaPort
    }
}

/// Producer ids `start ..< start + count`, handed to one node for one run of its process.
public struct ProducerIDBlock: Equatable, Sendable {
    public var node: NodeID
    public var nonce: UInt64
    public var start: Int64
    public var count: Int64
}

/// One partition: its Raft group and the nodes that replicate it.
public struct PartitionAssignment: Equatable, Sendable {
    public var partition: Int32
    public var group: GroupID
    /// Every node that holds a replica, or is to: while a move is in progress, the replicas it
    /// started from and those it goes to (each such node hosts the group). The first is the
    /// preferred leader when no move is in progress.
    public var replicas: [NodeID]
    /// A move in progress (`ControllerState+Moves`): the replicas the partition is to end with,
    /// the first its preferred leader. Nil when none is.
    public var target: [NodeID]? = nil
    /// The replicas before the move in progress began: a cancelled move goes back to them.
    public var origin: [NodeID]? = nil
    /// Moves begun on this partition, ever (a changed or cancelled move counts again). While 0
    /// the group's membership is the one it was created with, on every node.
    public var moves: UInt32 = 0
    /// The replicas the partition was created with (nil: `replicas`, it never moved): the
    /// membership at index 0 of every replica's log.
    public var founders: [NodeID]? = nil
    /// The group's log index of the membership entry that finished the last move (zero: none
    /// did): a node not among the replicas whose own copy of the group has seen no membership
    /// change past it has nothing anyone needs (`NodeCore+Moves`).
    public var settledAt: LogIndex = .zero
    /// Nodes a finished move took this partition off, ever (sorted): one of them that comes back
    /// has no right to the founders' membership (`initialMembership`).
    public var departed: [NodeID] = []

    public init(partition: Int32, group: GroupID, replicas: [NodeID]) {
        self.partition = partition
        self.group = group
        self.replicas = replicas
    }

    /// The replicas the partition has, or will have once its move is done: its replication
    /// factor, and the first is its preferred leader.
    public var settledReplicas: [NodeID] { target ?? replicas }

    /// Replicas a move adds, and those it removes (ListPartitionReassignments).
    public var adding: [NodeID] { target.map { t in t.filter { !(origin ?? []).contains($0) } } ?? [] }
    public var removing: [NodeID] { target.map { t in (origin ?? []).filter { !t.contains($0) } } ?? [] }
}

public struct TopicState: Equatable, Sendable {
    public let name: String
    public internal(set) var partitions: [PartitionAssignment]
    /// The topic's Kafka id (`TopicID.swift`): computed once, when the topic is created or
    /// restored, since Fetch v13+ and Metadata look topics up by it on every request.
    public let id: KafkaUUID
    /// Configs set on the topic (`TopicConfigs` names them; the rest take the cluster's value).
    public internal(set) var configs: ConfigOverrides

    init(name: String, partitions: [PartitionAssignment], configs: ConfigOverrides = ConfigOverrides()) {
        self.name = name
        self.partitions = partitions
        self.id = Self.id(name: name, firstGroup: partitions.first?.group)
        self.configs = configs
    }
}

/// A change to cluster metadata, proposed to the controller group (Raft group 0) and applied in
/// log order on every node, like KRaft's metadata records.
public enum ControllerCommand: Equatable, Sendable {
    /// A node announces where its Kafka listener is (on every start; the latest wins).
    case registerBroker(BrokerRegistration)
    /// Create a topic; replicas are placed at apply time, so every node places them the same way.
    case createTopic(name: String, partitions: Int32, replicationFactor: Int, configs: ConfigOverrides = ConfigOverrides())
    /// Delete a topic; every replica removes its partitions' groups and data.
    case deleteTopic(name: String)
    /// A block of producer ids for one node in one run of its process (`nonce`): ids never repeat
    /// across nodes, and a restarted node asks for a new block instead of reusing its old one.
    case allocateProducerIDs(node: NodeID, nonce: UInt64)
    /// Change configs of a topic or the cluster-wide defaults (`replacing`: AlterConfigs, every
    /// override not named goes). Validated again when applied: the state may have moved.
    case alterConfigs(ConfigResource, [ConfigChange], replacing: Bool)
    /// Grow a topic to `total` partitions; the new ones are placed at apply time like a create's.
    case createPartitions(name: String, total: Int32)
    /// Hand these partitions' leadership to their preferred replica (the first listed; Kafka's
    /// preferred leader election). Changes no state: each node that leads one of them starts a
    /// Raft leadership transfer when it applies this, unless its clock is past `notAfterMs` (an
    /// old request met again when a restarted node replays its log).
    case electPreferredLeaders(groups: [GroupID], notAfterMs: Int64)
    /// Move partitions to new replicas (Kafka's AlterPartitionReassignments): per group, the
    /// replicas it is to end with, or nil to cancel its move (back to where it started). The
    /// partitions' leaders carry the moves out as Raft membership changes (`NodeCore+Moves`).
    case reassignPartitions([PartitionMove])
    /// A partition leader's report that its group's voters are the move's target and nothing
    /// else, by the membership entry at `at` (committed): the move is done, the other nodes drop
    /// their replicas. Ignored unless the move is still the one numbered `moves`, to this target.
    case completeMove(group: GroupID, moves: UInt32, replicas: [NodeID], at: LogIndex)
    /// A node announces where peers reach it (on every start until the controller holds it); a
    /// node not yet a member joins the cluster (`ControllerState+Membership`).
    case announceNode(PeerRegistration)
    /// A node leaves the cluster (Kafka's UnregisterBroker): refused while it holds a replica.
    case removeNode(NodeID)

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        switch self {
        case .registerBroker(let b):
            w.u8(1)
            w.u32(b.node.value)
            w.blob(Array(b.host.utf8))
            w.u32(UInt32(b.kafkaPort))
        case .createTopic(let name, let partitions, let rf, let configs):
            w.u8(2)
            w.blob(Array(name.utf8))
            w.u32(UInt32(bitPattern: partitions))
            w.u32(UInt32(rf))
            // Entries written before topics had configs end here.
            if !configs.isEmpty { configs.encode(&w) }
        case .deleteTopic(let name):
            w.u8(3)
            w.blob(Array(name.utf8))
        case .allocateProducerIDs(let node, let nonce):
            w.u8(4)
            w.u32(node.value)
            w.u64(nonce)
        case .alterConfigs(let resource, let changes, let replacing):
            w.u8(5)
            switch resource {
            case .cluster: w.u8(0)
            case .topic(let name):
                w.u8(1)
                w.blob(Array(name.utf8))
            }
            w.bool(replacing)
            w.u32(UInt32(changes.count))
            for c in changes {
                w.blob(Array(c.name.utf8))
                w.u8(UInt8(bitPattern: c.operation.rawValue))
                w.bool(c.value != nil)
                if let v = c.value { w.blob(Array(v.utf8)) }
            }
        case .createPartitions(let name, let total):
            w.u8(6)
            w.blob(Array(name.utf8))
            w.u32(UInt32(bitPattern: total))
        case .electPreferredLeaders(let groups, let notAfterMs):
            w.u8(7)
            w.u64(UInt64(bitPattern: notAfterMs))
            w.u32(UInt32(groups.count))
            for g in groups { w.u32(g.value) }
        case .reassignPartitions(let moves):
            w.u8(8)
            w.u32(UInt32(moves.count))
            for m in moves {
                w.u32(m.group.value)
                w.bool(m.replicas != nil)
                if let r = m.replicas { w.nodes(r) }
            }
        case .completeMove(let group, let moves, let replicas, let at):
            w.u8(9)
            w.u32(group.value)
            w.u32(moves)
            w.nodes(replicas)
            w.u64(at.value)
        case .announceNode(let r):
            w.u8(10)
            w.u32(r.node.value)
            w.blob(Array(r.host.utf8))
            w.u32(UInt32(r.port))
        case .removeNode(let node):
            w.u8(11)
            w.u32(node.value)
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> ControllerCommand {
        var r = ByteReader(bytes)
        let kind = try r.u8()
        let command: ControllerCommand
        switch kind {
        case 1:
            let node = NodeID(try r.u32())
            let host = String(decoding: try r.blob(), as: UTF8.self)
            let port = try r.u32()
            guard port <= UInt32(UInt16.max) else { throw WireError.invalid("port \(port)") }
            command = .registerBroker(BrokerRegistration(node: node, host: host, kafkaPort: UInt16(port)))
        case 2:
            let name = String(decoding: try r.blob(), as: UTF8.self)
            let partitions = Int32(bitPattern: try r.u32())
            let rf = Int(try r.u32())
            let configs = r.remaining > 0 ? try ConfigOverrides.decode(&r) : ConfigOverrides()
            command = .createTopic(name: name, partitions: partitions, replicationFactor: rf, configs: configs)
        case 3:
            command = .deleteTopic(name: String(decoding: try r.blob(), as: UTF8.self))
        case 4:
            command = .allocateProducerIDs(node: NodeID(try r.u32()), nonce: try r.u64())
        case 5:
            let resource: ConfigResource
            switch try r.u8() {
            case 0: resource = .cluster
            case 1: resource = .topic(String(decoding: try r.blob(), as: UTF8.self))
            case let k: throw WireError.invalid("config resource kind \(k)")
            }
            let replacing = try r.bool()
            var changes: [ConfigChange] = []
            for _ in 0..<(try r.count(minItemBytes: 6)) {
                let name = String(decoding: try r.blob(), as: UTF8.self)
                let raw = Int8(bitPattern: try r.u8())
                guard let op = ConfigChange.Operation(rawValue: raw) else { throw WireError.invalid("config operation \(raw)") }
                let value = try r.bool() ? String(decoding: try r.blob(), as: UTF8.self) : nil
                changes.append(ConfigChange(name: name, operation: op, value: value))
            }
            command = .alterConfigs(resource, changes, replacing: replacing)
        case 6:
            command = .createPartitions(name: String(decoding: try r.blob(), as: UTF8.self), total: Int32(bitPattern: try r.u32()))
        case 7:
            let notAfterMs = Int64(bitPattern: try r.u64())
            var groups: [GroupID] = []
            for _ in 0..<(try r.count(minItemBytes: 4)) { groups.append(GroupID(try r.u32())) }
            command = .electPreferredLeaders(groups: groups, notAfterMs: notAfterMs)
        case 8:
            var moves: [PartitionMove] = []
            for _ in 0..<(try r.count(minItemBytes: 5)) {
                let group = GroupID(try r.u32())
                moves.append(PartitionMove(group: group, replicas: try r.bool() ? try r.nodes() : nil))
            }
            command = .reassignPartitions(moves)
        case 9:
            command = .completeMove(group: GroupID(try r.u32()), moves: try r.u32(), replicas: try r.nodes(), at: LogIndex(try r.u64()))
        case 10:
            let node = NodeID(try r.u32())
            let host = String(decoding: try r.blob(), as: UTF8.self)
            let port = try r.u32()
            guard port <= UInt32(UInt16.max) else { throw WireError.invalid("port \(port)") }
            command = .announceNode(PeerRegistration(node: node, host: host, port: UInt16(port)))
        case 11:
            command = .removeNode(NodeID(try r.u32()))
        default:
            throw WireError.invalid("controller command kind \(kind)")
        }
        try r.expectEnd()
        return command
    }
}

/// Cluster metadata: the controller group's state machine. Deterministic: sorted arrays, no
/// dictionaries whose order could reach the output.
public struct ControllerState: Equatable, Sendable {
    /// Registered brokers, sorted by node id.
    public private(set) var brokers: [BrokerRegistration] = []
    /// Topics, sorted by name.
    public internal(set) var topics: [TopicState] = []
    /// The next Raft group id for a partition (group 0 is the controller).
    public private(set) var nextGroup: UInt32 = 1
    /// The first producer id not handed out yet, and each node's latest block.
    public private(set) var nextProducerID: Int64 = 0
    public private(set) var producerIDBlocks: [ProducerIDBlock] = []
    /// Cluster-wide config defaults set at runtime, by broker-level key (`log.retention.ms`).
    public private(set) var clusterConfigs = ConfigOverrides()
    public private(set) var appliedIndex: LogIndex = .zero
    /// Where each partition is in `topics`, by its group, rebuilt whenever partitions change
    /// (`reindex`): the per-group questions (`assignment(of:)`, `isDeleted`) are asked for every
    /// group a node has, and a scan of all partitions each made them quadratic with thousands of
    /// partitions.
    private var positionByGroup: [GroupID: (topic: Int, partition: Int)] = [:]

    /// The cluster's members, sorted: the founders, then those that joined, less those removed
    /// (`ControllerState+Membership`). Replicas are placed on them.
    public internal(set) var members: [NodeID]
    /// Nodes removed from the cluster, sorted: their ids are never members again.
    public internal(set) var removedNodes: [NodeID] = []
    /// Where peers reach each member that announced itself, sorted by node.
    public internal(set) var peerAddresses: [PeerRegistration] = []

    /// The first id `nextGroup` starts at (groups below it are not the controller's).
    public let firstGroup: UInt32

    /// Drop a removed node's Kafka listener (Metadata stops naming it).
    mutating func removeBroker(_ node: NodeID) { brokers.removeAll { $0.node == node } }

    /// The founding members (node.toml's `[peers]`): the members of the initial state.
    public let founders: [NodeID]

    public init(members: [NodeID], firstGroup: UInt32 = 1) {
        self.members = members.sorted()
        self.founders = members.sorted()
        self.firstGroup = firstGroup
        self.nextGroup = firstGroup
    }

    public static func == (a: ControllerState, b: ControllerState) -> Bool {
        a.brokers == b.brokers && a.topics == b.topics && a.nextGroup == b.nextGroup && a.appliedIndex == b.appliedIndex
            && a.nextProducerID == b.nextProducerID && a.producerIDBlocks == b.producerIDBlocks && a.clusterConfigs == b.clusterConfigs
            && a.members == b.members && a.removedNodes == b.removedNodes && a.peerAddresses == b.peerAddresses
    }

    public func topic(_ name: String) -> TopicState? { topics.first { $0.name == name } }

    /// Whether `group` was a partition of a topic since deleted (ids are allocated in order and
    /// never reused).
    public func isDeleted(_ group: GroupID) -> Bool {
        group.value >= firstGroup && group.value < nextGroup && positionByGroup[group] == nil
    }

    /// The partition whose Raft group is `group`, and where it is in `topics`.
    func position(of group: GroupID) -> (topic: Int, partition: Int)? { positionByGroup[group] }

    /// The partition whose Raft group is `group`; nil for no partition's group.
    public func assignment(of group: GroupID) -> PartitionAssignment? {
        positionByGroup[group].map { topics[$0.topic].partitions[$0.partition] }
    }

    /// A partition's replicas once any move in progress is done (the first is its preferred
    /// leader); nil for no partition's group.
    public func replicas(of group: GroupID) -> [NodeID]? { assignment(of: group)?.settledReplicas }

    mutating func reindex() {
        positionByGroup = [:]
        positionByGroup.reserveCapacity(topics.reduce(0) { $0 + $1.partitions.count })
        for (i, t) in topics.enumerated() { for (k, p) in t.partitions.enumerated() { positionByGroup[p.group] = (i, k) } }
    }

    /// Every partition this node replicates.
    public func assignments(of node: NodeID) -> [PartitionAssignment] {
        topics.flatMap { $0.partitions }.filter { $0.replicas.contains(node) }
    }

    /// Apply a committed entry of the controller group. Returns why the command did nothing, if
    /// it did nothing (every node computes the same answer; the proposer reports it).
    @discardableResult
    public mutating func apply(_ entry: Entry) -> String? {
        precondition(entry.index == appliedIndex.next, "controller applies \(entry.index) after \(appliedIndex)")
        appliedIndex = entry.index
        guard let command = Self.command(in: entry) else { return nil }
        switch command {
        case .registerBroker(let b):
            if removedNodes.contains(b.node) { return "node \(b.node.value) was removed from the cluster" }
            brokers.removeAll { $0.node == b.node }
            brokers.append(b)
            brokers.sort { $0.node < $1.node }
        case .createTopic(let name, let partitions, let rf, let configs):
            if let reason = Self.validateTopic(name: name, partitions: partitions, replicationFactor: rf, members: members.count) {
                return reason
            }
            if topic(name) != nil { return "topic '\(name)' already exists" }
            if case .failure(let e) = ConfigOverrides().applying(
                configs.entries.map { ConfigChange(name: $0.name, operation: .set, value: $0.value) }, replacing: true, key: { TopicConfigs.definition(named: $0) }) {
                return e.message
            }
            let assignments = (0..<partitions).map { place(partition: $0, replicationFactor: rf) }
            topics.append(TopicState(name: name, partitions: assignments, configs: configs))
            topics.sort { $0.name < $1.name }
            reindex()
        case .allocateProducerIDs(let node, let nonce):
            producerIDBlocks.removeAll { $0.node == node }
            producerIDBlocks.append(ProducerIDBlock(node: node, nonce: nonce, start: nextProducerID, count: BrokerLimits.producerIDBlockSize))
            producerIDBlocks.sort { $0.node < $1.node }
            nextProducerID += BrokerLimits.producerIDBlockSize
        case .deleteTopic(let name):
            guard topic(name) != nil else { return "topic '\(name)' does not exist" }
            // Group ids are never reused: a group below `nextGroup` that no topic names is deleted.
            topics.removeAll { $0.name == name }
            reindex()
        case .electPreferredLeaders:
            break  // no state: the nodes leading the groups act on it (`NodeCore+ElectLeaders`)
        case .reassignPartitions(let moves):
            return reassign(moves)
        case .completeMove(let group, let moves, let replicas, let at):
            return completeMove(group: group, moves: moves, replicas: replicas, at: at)
        case .announceNode(let r):
            return announce(r)
        case .removeNode(let node):
            return remove(node)
        case .createPartitions(let name, let total):
            guard let k = topics.firstIndex(where: { $0.name == name }) else { return "topic '\(name)' does not exist" }
            if let reason = Self.validatePartitionIncrease(topics[k], to: total) { return reason }
            let t = topics[k]
            let rf = t.partitions.first?.settledReplicas.count ?? 1
            let added = (Int32(t.partitions.count)..<total).map { place(partition: $0, replicationFactor: rf) }
            topics[k] = TopicState(name: name, partitions: t.partitions + added, configs: t.configs)
            reindex()
        case .alterConfigs(let resource, let changes, let replacing):
            switch resource {
            case .cluster:
                switch clusterConfigs.applying(changes, replacing: replacing, key: { TopicConfigs.definition(forBrokerKey: $0) }) {
                case .success(let updated): clusterConfigs = updated
                case .failure(let e): return e.message
                }
            case .topic(let name):
                guard let k = topics.firstIndex(where: { $0.name == name }) else { return "topic '\(name)' does not exist" }
                switch topics[k].configs.applying(changes, replacing: replacing, key: { TopicConfigs.definition(named: $0) }) {
                case .success(let updated): topics[k].configs = updated
                case .failure(let e): return e.message
                }
            }
        }
        return nil
    }

    /// The command a committed entry of the controller group holds; nil for a no-op or membership
    /// entry. Only this code proposes to the controller (a peer's forwarded command is decoded,
    /// checked and encoded again first), so a normal entry that does not decode is a bug or
    /// damage: it traps, naming the entry.
    public static func command(in entry: Entry) -> ControllerCommand? {
        guard entry.kind == .normal else { return nil }
        do {
            return try ControllerCommand.decode(entry.data)
        } catch {
            committedStateUndecodable("controller command", group: controllerGroup, index: entry.index, data: entry.data, error)
        }
    }

    /// A new partition on a new Raft group. Spread leaders and replicas: partition p starts at
    /// member (group id) mod n.
    private mutating func place(partition p: Int32, replicationFactor rf: Int) -> PartitionAssignment {
        let group = GroupID(nextGroup)
        nextGroup += 1
        let start = Int(group.value) % members.count
        let replicas = (0..<rf).map { members[(start + $0) % members.count] }
        return PartitionAssignment(partition: p, group: group, replicas: replicas)
    }

    /// Nil when `topic` may grow to `total` partitions, else why not (Kafka's messages).
    public static func validatePartitionIncrease(_ topic: TopicState, to total: Int32) -> String? {
        let count = topic.partitions.count
        if let special = InternalTopic(name: topic.name) {
            return "partitions of \(special.name) cannot be added: every key's place is its hash over the partition count"
        }
        if total == count { return "topic '\(topic.name)' already has \(count) partition(s)" }
        if total < count { return "topic '\(topic.name)' has \(count) partitions: \(total) would not be an increase" }
        if total > BrokerLimits.topicPartitionsMax { return "partitions must be at most \(BrokerLimits.topicPartitionsMax), not \(total)" }
        return nil
    }

    /// Nil when a topic may be created, else why not (Kafka's rules for names).
    public static func validateTopic(name: String, partitions: Int32, replicationFactor: Int, members: Int) -> String? {
        if name.isEmpty || name.utf8.count > BrokerLimits.topicNameBytesMax {
            return "topic name must be 1 to \(BrokerLimits.topicNameBytesMax) characters"
        }
        if name == "." || name == ".." { return "topic name cannot be '.' or '..'" }
        let allowed = name.utf8.allSatisfy { c in
            (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 46 || c == 95 || c == 45
        }
        if !allowed { return "topic name '\(name)' may hold only ASCII letters, digits, '.', '_' and '-'" }
        if partitions < 1 || partitions > BrokerLimits.topicPartitionsMax {
            return "partitions must be 1 to \(BrokerLimits.topicPartitionsMax), not \(partitions)"
        }
        if replicationFactor < 1 || replicationFactor > members {
            return "replication factor must be 1 to \(members) (the cluster's size), not \(replicationFactor)"
        }
        return nil
    }

    // MARK: - Snapshots

    public func encode() -> [UInt8] {
        var w = ByteWriter()
        w.u64(appliedIndex.value)
        w.u32(nextGroup)
        w.u32(UInt32(brokers.count))
        for b in brokers { w.raw(ControllerCommand.registerBroker(b).encode().dropFirst().map { $0 }) }
        w.u32(UInt32(topics.count))
        for t in topics {
            w.blob(Array(t.name.utf8))
            w.u32(UInt32(t.partitions.count))
            for p in t.partitions {
                w.u32(UInt32(bitPattern: p.partition))
                w.u32(p.group.value)
                w.nodes(p.replicas)
            }
        }
        w.u64(UInt64(bitPattern: nextProducerID))
        w.u32(UInt32(producerIDBlocks.count))
        for b in producerIDBlocks {
            w.u32(b.node.value)
            w.u64(b.nonce)
            w.u64(UInt64(bitPattern: b.start))
            w.u64(UInt64(bitPattern: b.count))
        }
        // Configs last: a snapshot written before they existed ends above.
        clusterConfigs.encode(&w)
        for t in topics { t.configs.encode(&w) }
        // Moves last: a snapshot written before partitions moved ends above.
        encodeMoves(&w)
        // Membership last: a snapshot written before nodes joined or left ends above.
        encodeMembership(&w)
        return w.bytes
    }

    /// Restore from a controller snapshot whose data holds this state after `skipping` bytes (the
    /// replica state comes first).
    public mutating func restore(_ snapshot: Snapshot, skipping: Int = 0) throws(WireError) {
        var r = ByteReader(snapshot.data, offset: min(skipping, snapshot.data.count))
        var s = ControllerState(members: founders, firstGroup: firstGroup)
        if snapshot.data.count <= skipping {
            s.appliedIndex = snapshot.index
            self = s
            return
        }
        s.appliedIndex = LogIndex(try r.u64())
        s.nextGroup = try r.u32()
        let brokerCount = try r.count(minItemBytes: 12)
        for _ in 0..<brokerCount {
            let node = NodeID(try r.u32())
            let host = String(decoding: try r.blob(), as: UTF8.self)
            let port = try r.u32()
            s.brokers.append(BrokerRegistration(node: node, host: host, kafkaPort: UInt16(truncatingIfNeeded: port)))
        }
        let topicCount = try r.count(minItemBytes: 8)
        for _ in 0..<topicCount {
            let name = String(decoding: try r.blob(), as: UTF8.self)
            let n = try r.count(minItemBytes: 12)
            var parts: [PartitionAssignment] = []
            for _ in 0..<n {
                let p = Int32(bitPattern: try r.u32())
                let g = GroupID(try r.u32())
                parts.append(PartitionAssignment(partition: p, group: g, replicas: try r.nodes()))
            }
            s.topics.append(TopicState(name: name, partitions: parts))
        }
        s.nextProducerID = Int64(bitPattern: try r.u64())
        let blocks = try r.count(minItemBytes: 28)
        for _ in 0..<blocks {
            s.producerIDBlocks.append(ProducerIDBlock(
                node: NodeID(try r.u32()), nonce: try r.u64(), start: Int64(bitPattern: try r.u64()), count: Int64(bitPattern: try r.u64())))
        }
        if r.remaining > 0 {
            s.clusterConfigs = try ConfigOverrides.decode(&r)
            for k in s.topics.indices { s.topics[k].configs = try ConfigOverrides.decode(&r) }
        }
        if r.remaining > 0 { try s.decodeMoves(&r) }
        if r.remaining > 0 { try s.decodeMembership(&r) }
        try r.expectEnd()
        guard s.appliedIndex == snapshot.index else {
            throw WireError.invalid("controller snapshot at \(snapshot.index.value) holds state at \(s.appliedIndex.value)")
        }
        s.reindex()
        self = s
    }
}
