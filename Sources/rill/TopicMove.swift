import ArgumentParser
import Foundation
import RillClient

extension Topic {
    /// `rill topic move T --to 4,1,2 [--partitions 0 1]` and `--cancel`: Kafka's
    /// AlterPartitionReassignments, as `kafka-reassign-partitions.sh --execute` / `--cancel`.
    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a topic's partitions to other nodes (the first listed becomes the preferred leader), or cancel their moves.",
            discussion: """
                Returns once the controller has recorded the move; each partition's leader then adds the new \
                replicas, catches them up, and removes the old ones, while producers and consumers go on. \
                `rill topic moves` lists the moves in progress, `rill cluster status` shows them too.
                """)
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Option(help: "The replicas, comma-separated node ids (e.g. 4,1,2).") var to: String?
        @Flag(help: "Cancel the moves in progress instead: back to the replicas they started from.") var cancel = false
        @Option(name: [.customShort("p"), .long], parsing: .upToNextOption, help: "Partitions (default: every partition).")
        var partitions: [Int32] = []

        func validate() throws {
            if cancel == (to != nil) { throw ValidationError("give either --to with the new replicas or --cancel") }
            if let to, replicas(to) == nil { throw ValidationError("--to must list node ids separated by commas, not '\(to)'") }
        }

        func replicas(_ list: String) -> [Int32]? {
            let ids = list.split(separator: ",").map { Int32($0.trimmingCharacters(in: .whitespaces)) }
            guard !ids.isEmpty, ids.allSatisfy({ ($0 ?? 0) > 0 }) else { return nil }
            return ids.map { $0! }
        }

        func run() async throws {
            try await withAdmin(client) { admin in
                guard let topic = try await admin.describeTopics([name]).first else { throw CLIError("no topic \(name)") }
                let known = Set(topic.partitions.map(\.partition))
                let chosen = partitions.isEmpty ? topic.partitions.map(\.partition) : partitions
                if let unknown = chosen.first(where: { !known.contains($0) }) {
                    throw CLIError("topic \(name) has no partition \(unknown) (it has \(topic.partitions.count))")
                }
                let target = to.flatMap(replicas)
                try await admin.movePartitions(chosen.map { (name, $0, target) })
                let what = target.map { "moving to \($0.map(String.init).joined(separator: ","))" } ?? "cancelled"
                print("\(name): \(chosen.count) partition(s) \(what)")
            }
        }
    }

    /// `rill topic moves`: Kafka's ListPartitionReassignments.
    struct Moves: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The partition moves in progress.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await withAdmin(client) { admin in
                let moves = try await admin.listPartitionMoves()
                if moves.isEmpty {
                    print("no partition is moving")
                    return
                }
                func list(_ ids: [Int32]) -> String { ids.isEmpty ? "-" : ids.map(String.init).joined(separator: ",") }
                printTable([["TOPIC", "PARTITION", "REPLICAS", "ADDING", "REMOVING"]]
                    + moves.map { [$0.topic, "\($0.partition)", list($0.replicas), list($0.adding), list($0.removing)] })
            }
        }
    }
}
