/// Plans partition moves: draining a node (every replica off it) and balancing replicas and
/// preferred leaders over the cluster's nodes. Pure: it sees the partitions' replicas and the
/// nodes, and returns the moves (`Admin.movePartitions` carries them out). Deterministic: ties go
/// to the lowest node id, partitions are taken in topic and partition order.
public enum ReplicaPlanner {
    public struct Partition: Equatable, Sendable {
        public var topic: String
        public var partition: Int32
        /// The first is the preferred leader.
        public var replicas: [Int32]

        public init(topic: String, partition: Int32, replicas: [Int32]) {
            self.topic = topic
            self.partition = partition
            self.replicas = replicas
        }
    }

    public struct Move: Equatable, Sendable {
        public var topic: String
        public var partition: Int32
        public var replicas: [Int32]
    }

    public struct Refusal: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Moves that take every replica off `node`: each goes to the other node holding the fewest
    /// replicas that does not hold one of that partition already, in the leaving node's place (so
    /// a partition it led prefers its replacement, keeping preferred leaders spread). Refused when
    /// a partition could not keep its replication factor without `node`.
    public static func drain(node: Int32, partitions: [Partition], nodes: [Int32]) throws(Refusal) -> [Move] {
        guard nodes.contains(node) else { throw Refusal(description: "node \(node) is not in the cluster (nodes: \(nodes.sorted()))") }
        let others = nodes.filter { $0 != node }.sorted()
        var load = replicaCounts(partitions, nodes: nodes)
        var moves: [Move] = []
        for p in sorted(partitions) where p.replicas.contains(node) {
            let candidates = others.filter { !p.replicas.contains($0) }
            guard let replacement = candidates.min(by: { (load[$0]!, $0) < (load[$1]!, $1) }) else {
                throw Refusal(description: "\(p.topic)[\(p.partition)] has \(p.replicas.count) replicas and only \(others.count) other node(s) exist: "
                    + "draining node \(node) would leave it below its replication factor (lower it first with rill topic move)")
            }
            load[replacement]! += 1
            load[node]! -= 1
            moves.append(Move(topic: p.topic, partition: p.partition, replicas: p.replicas.map { $0 == node ? replacement : $0 }))
        }
        return moves
    }

    /// Moves that spread replicas over `nodes` until the most and the least loaded differ by at
    /// most one (a replica goes from the most loaded node to the least loaded one that does not
    /// hold that partition), then preferred leaders likewise (a reorder within a partition's
    /// replicas: no data moves). At most one move per partition; run it again after the moves
    /// finish if it reports more to do.
    public static func balance(partitions: [Partition], nodes: [Int32]) -> [Move] {
        var current = sorted(partitions)
        var load = replicaCounts(current, nodes: nodes)
        var touched = Set<Int>()
        while true {
            let most = nodes.sorted().max { (load[$0]!, -$0) < (load[$1]!, -$1) }!
            let least = nodes.sorted().min { (load[$0]!, $0) < (load[$1]!, $1) }!
            guard load[most]! - load[least]! > 1,
                  let k = current.indices.first(where: { !touched.contains($0) && current[$0].replicas.contains(most) && !current[$0].replicas.contains(least) })
            else { break }
            current[k].replicas = current[k].replicas.map { $0 == most ? least : $0 }
            load[most]! -= 1
            load[least]! += 1
            touched.insert(k)
        }
        var leaders: [Int32: Int] = Dictionary(uniqueKeysWithValues: nodes.map { ($0, 0) })
        for p in current { if let first = p.replicas.first, leaders[first] != nil { leaders[first]! += 1 } }
        while true {
            let most = nodes.sorted().max { (leaders[$0]!, -$0) < (leaders[$1]!, -$1) }!
            let least = nodes.sorted().min { (leaders[$0]!, $0) < (leaders[$1]!, $1) }!
            guard leaders[most]! - leaders[least]! > 1,
                  let k = current.indices.first(where: { current[$0].replicas.first == most && current[$0].replicas.contains(least) })
            else { break }
            current[k].replicas = [least] + current[k].replicas.filter { $0 != least }
            leaders[most]! -= 1
            leaders[least]! += 1
            touched.insert(k)
        }
        let before = sorted(partitions)
        return touched.sorted().compactMap { k in
            current[k].replicas == before[k].replicas ? nil : Move(topic: current[k].topic, partition: current[k].partition, replicas: current[k].replicas)
        }
    }

    static func sorted(_ partitions: [Partition]) -> [Partition] {
        partitions.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    static func replicaCounts(_ partitions: [Partition], nodes: [Int32]) -> [Int32: Int] {
        var load: [Int32: Int] = Dictionary(uniqueKeysWithValues: nodes.map { ($0, 0) })
        for p in partitions { for r in p.replicas where load[r] != nil { load[r]! += 1 } }
        return load
    }
}
