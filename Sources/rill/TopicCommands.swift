import ArgumentParser
import Foundation
import RillClient

/// `rill topic list | describe T | delete T | alter-config T | add-partitions T`, through the Kafka API
/// (`trim-prefix`: TopicTrimPrefix.swift).
extension Topic {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every topic, with its partitions and replication factor.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            try await withAdmin(client) { admin in
                let names = try await admin.listTopics()
                let described = try await admin.describeTopics(names)
                printTable([["NAME", "PARTITIONS", "REPLICAS"]] + described.map { [$0.name, "\($0.partitions.count)", "\($0.partitions.first?.replicas.count ?? 0)"] })
            }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A topic's partitions (leader, replicas, in sync) and its configs (those not at their default; --all for every one).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Flag(help: "Every config, defaults included.") var all = false

        func run() async throws {
            try await withAdmin(client) { admin in
                guard let topic = try await admin.describeTopics([name]).first else { throw CLIError("no topic \(name)") }
                let configs = try await admin.describeConfigs(topic: name)
                print("topic \(name): \(topic.partitions.count) partitions, replication \(topic.partitions.first?.replicas.count ?? 0)")
                print("")
                printTable([["PARTITION", "LEADER", "REPLICAS", "IN-SYNC"]] + topic.partitions.map {
                    ["\($0.partition)", $0.leader.map(String.init) ?? "-", $0.replicas.map(String.init).joined(separator: ","),
                     $0.inSync.map(String.init).joined(separator: ",")]
                })
                let shown = all ? configs : configs.filter { $0.source != 5 }
                print("")
                if shown.isEmpty {
                    print("every config at its default (--all lists them)")
                } else {
                    printTable([["CONFIG", "VALUE", "SOURCE"]] + shown.map { [$0.name, $0.value ?? "(null)", $0.sourceName] })
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic and its data on every replica.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String

        func run() async throws {
            try await withAdmin(client) { admin in
                try await admin.deleteTopic(name)
                print("deleted \(name)")
            }
        }
    }

    struct AddPartitions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add-partitions", abstract: "Grow a topic to a new partition count (keyed records may then land in other partitions).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Option(help: "The new total number of partitions.") var count: Int32

        func run() async throws {
            try await withAdmin(client) { admin in
                try await admin.createPartitions(name, count: count)
                print("\(name) now has \(count) partitions")
            }
        }
    }

    struct AlterConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alter-config", abstract: "Set configs of a topic (--set k=v) or put them back to the cluster's value (--delete k).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Option(help: "name=value (repeatable).") var set: [String] = []
        @Option(help: "A config name to remove from the topic (repeatable).") var delete: [String] = []

        func run() async throws {
            let changes = try parseChanges(set: set, delete: delete)
            try await withAdmin(client) { admin in
                try await admin.alterConfigs(topic: name, changes)
                print("altered \(name): " + (changes.set.map { "\($0.0)=\($0.1)" } + changes.delete.map { "-\($0)" }).joined(separator: " "))
            }
        }
    }
}

extension Cluster {
    /// `rill cluster config get | set`: the cluster-wide defaults of topic configs, by their
    /// broker-level keys (Kafka's broker resource with an empty name).
    struct Config: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cluster-wide config defaults (log.cleanup.policy, message.max.bytes, ...).", subcommands: [Get.self, SetDefaults.self])

        struct Get: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The cluster-wide defaults set at runtime.")
            @OptionGroup var client: ClientOptions

            func run() async throws {
                try await withAdmin(client) { admin in
                    let configs = try await admin.describeClusterConfigs()
                    if configs.isEmpty {
                        print("no cluster-wide config set: every topic config has its default")
                    } else {
                        printTable([["CONFIG", "VALUE"]] + configs.map { [$0.name, $0.value ?? "(null)"] })
                    }
                }
            }
        }

        struct SetDefaults: AsyncParsableCommand {
            static let configuration = CommandConfiguration(commandName: "set", abstract: "Set (--set k=v) or remove (--delete k) cluster-wide defaults.")
            @OptionGroup var client: ClientOptions
            @Option(help: "name=value (repeatable).") var set: [String] = []
            @Option(help: "A config name to remove (repeatable).") var delete: [String] = []

            func run() async throws {
                let changes = try parseChanges(set: set, delete: delete)
                try await withAdmin(client) { admin in
                    try await admin.alterClusterConfigs(changes)
                    print("cluster configs altered")
                }
            }
        }
    }
}

func parseChanges(set: [String], delete: [String]) throws -> ConfigChanges {
    var pairs: [(String, String)] = []
    for s in set {
        guard let eq = s.firstIndex(of: "="), eq != s.startIndex else { throw ValidationError("--set \(s): expected name=value") }
        pairs.append((String(s[..<eq]), String(s[s.index(after: eq)...])))
    }
    guard !pairs.isEmpty || !delete.isEmpty else { throw ValidationError("nothing to change: give --set name=value or --delete name") }
    return ConfigChanges(set: pairs, delete: delete)
}

/// Run `body` with an admin client, shut down however it ends; Kafka errors become CLI errors.
func withAdmin(_ options: ClientOptions, _ body: (Admin) async throws -> Void) async throws {
    let kafka = try options.makeClient()
    do {
        try await body(Admin(client: kafka))
    } catch let e as ValidationError {
        await kafka.shutdown()
        throw e
    } catch {
        await kafka.shutdown()
        throw CLIError("\(error)")
    }
    await kafka.shutdown()
}
