import ArgumentParser
import Foundation
import RillClient

/// `rill node drain N`, `rill node decommission N` and `rill cluster balance`: partition moves
/// planned by `ReplicaPlanner` over the cluster's current placement, carried out by the
/// partitions' leaders; `rill node add` is in NodeAdd.swift.
struct Node: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Operate on one node.", subcommands: [Add.self, Drain.self, Decommission.self])

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every partition replica off a node (to the nodes holding the fewest), keeping each partition's replication factor.",
            discussion: """
                Refused, naming the partition, when a partition could not keep its replication factor without the \
                node. The node stays a member of the cluster (`rill node decommission` also removes it). With \
                --wait, returns once no partition is moving.
                """)
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var node: Int32
        @Flag(help: "Wait until the moves are done.") var wait = false
        @Flag(help: "Print the moves without making them.") var dryRun = false

        func run() async throws {
            try await withAdmin(client) { admin in
                let moves = try await drainMoves(node, admin, what: "drain")
                try await carryOut(moves, admin, dryRun: dryRun, wait: wait, what: "off node \(node)")
            }
        }
    }
}

extension Node {
    struct Decommission: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every replica and leadership off a node, then remove it from the cluster.",
            discussion: """
                Drains the node (as `rill node drain`), waits for the moves, then removes the node from the \
                controller (Kafka's UnregisterBroker): it leaves the controller's group and its id is never a \
                member again. Refused, naming the partition, when a partition could not keep its replication \
                factor without the node. Stop the node's process afterwards.
                """)
        @OptionGroup var client: ClientOptions
        @Argument(help: "The node's id.") var node: Int32

        func run() async throws {
            try await withAdmin(client) { admin in
                let began = Date()
                let moves = try await drainMoves(node, admin, what: "decommission")
                try await carryOut(moves, admin, dryRun: false, wait: true, what: "off node \(node)")
                try await admin.removeNode(node)
                print("node \(node) removed from the cluster in \(Int(Date().timeIntervalSince(began))) s; stop its process (its id is never a member again)")
            }
        }
    }
}

extension Cluster {
    struct Balance: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Spread partition replicas and preferred leaders evenly over the nodes (to within one).",
            discussion: "Leaders follow the preferred replicas (leader balance hands each partition to its first replica).")
        @OptionGroup var client: ClientOptions
        @Flag(help: "Wait until the moves are done.") var wait = false
        @Flag(help: "Print the moves without making them.") var dryRun = false

        func run() async throws {
            try await withAdmin(client) { admin in
                let (partitions, nodes) = try await placement(admin)
                try await carryOut(ReplicaPlanner.balance(partitions: partitions, nodes: nodes), admin, dryRun: dryRun, wait: wait, what: "to balance the cluster")
            }
        }
    }
}

/// The moves that take every replica off `node` (`ReplicaPlanner.drain`); refused, naming the
/// partition, when one could not keep its replication factor, and for a node that is no member.
private func drainMoves(_ node: Int32, _ admin: Admin, what: String) async throws -> [ReplicaPlanner.Move] {
    let (partitions, nodes) = try await placement(admin)
    guard nodes.contains(node) else {
        throw CLIError("cannot \(what) node \(node): it is not a member of the cluster (members: \(nodes.map(String.init).joined(separator: ",")))")
    }
    let moves: [ReplicaPlanner.Move]
    do {
        moves = try ReplicaPlanner.drain(node: node, partitions: partitions, nodes: nodes)
    } catch {
        throw CLIError("cannot \(what) node \(node): \(error.description)")
    }
    return moves
}

/// Every partition's replicas and the cluster's nodes.
private func placement(_ admin: Admin) async throws -> ([ReplicaPlanner.Partition], [Int32]) {
    let nodes = try await admin.describeCluster().brokers.map(\.node).sorted()
    let topics = try await admin.describeTopics(try await admin.listTopics())
    let partitions = topics.flatMap { t in t.partitions.map { ReplicaPlanner.Partition(topic: t.name, partition: $0.partition, replicas: $0.replicas) } }
    return (partitions, nodes)
}

private func carryOut(_ moves: [ReplicaPlanner.Move], _ admin: Admin, dryRun: Bool, wait: Bool, what: String) async throws {
    if moves.isEmpty {
        print("nothing to move \(what)")
        return
    }
    if dryRun {
        printTable([["TOPIC", "PARTITION", "NEW REPLICAS"]] + moves.map { [$0.topic, "\($0.partition)", $0.replicas.map(String.init).joined(separator: ",")] })
        print("\(moves.count) partition(s) would move \(what) (--dry-run: nothing done)")
        return
    }
    // A bounded request size; the controller records each batch as one command.
    var start = 0
    while start < moves.count {
        let batch = moves[start..<min(start + 500, moves.count)]
        try await admin.movePartitions(batch.map { ($0.topic, $0.partition, $0.replicas) })
        start += batch.count
    }
    print("\(moves.count) partition(s) moving \(what)")
    guard wait else { return }
    let began = Date()
    while true {
        let moving = try await admin.listPartitionMoves()
        if moving.isEmpty { break }
        print("\(moving.count) partition(s) still moving (\(Int(Date().timeIntervalSince(began))) s)")
        try await Task.sleep(for: .seconds(2))
    }
    print("done in \(Int(Date().timeIntervalSince(began))) s")
}
