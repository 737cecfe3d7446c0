import ArgumentParser
import Foundation
import RillClient

/// `rill group list | describe G | reset-offsets G`.
struct Group: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect consumer groups and reset their offsets.", subcommands: [List.self, Describe.self, ResetOffsets.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every consumer group of the cluster.")
        @OptionGroup var client: ClientOptions

        func run() async throws {
            let kafka = try client.makeClient()
            let groups = try await Admin(client: kafka).listGroups()
            await kafka.shutdown()
            for g in groups { print(g.group) }
            if groups.isEmpty { FileHandle.standardError.write(Data("no consumer groups\n".utf8)) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "A group's state and members, and per partition its committed offset, the log end and the lag.")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Group id.") var group: String

        func run() async throws {
            let kafka = try client.makeClient()
            let d = try await Admin(client: kafka).describeGroup(group)
            await kafka.shutdown()
            print("group \(d.group): \(d.state), coordinator node \(d.coordinator)" + (d.protocolName.isEmpty ? "" : ", assignor \(d.protocolName)"))
            var owner: [TopicPartition: String] = [:]
            for m in d.members { for tp in m.assignment { owner[tp] = m.memberID } }
            let rows = [["TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "MEMBER"]]
                + d.offsets.map { o in
                    [o.partition.topic, "\(o.partition.partition)", o.committed.map(String.init) ?? "-", o.end.map(String.init) ?? "-",
                     o.lag.map(String.init) ?? "-", owner[o.partition] ?? "-"]
                }
            printTable(rows)
            if !d.members.isEmpty {
                print("")
                printTable([["MEMBER", "CLIENT", "HOST", "PARTITIONS"]] + d.members.map { [$0.memberID, $0.clientID, $0.host, "\($0.assignment.count)"] })
            }
        }
    }

    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Set a group's committed offsets for a topic (the group must have no members).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Group id.") var group: String
        @Option(help: "Topic.") var topic: String
        @Option(help: "Only this partition (repeatable); default every partition.") var partition: [Int32] = []
        @Option(help: "earliest, latest, an offset, or @milliseconds (the first record at or after that time).") var to: String

        func run() async throws {
            let position: Consumer.Position
            switch to {
            case "earliest": position = .earliest
            case "latest": position = .latest
            case let s where s.hasPrefix("@"):
                guard let t = Int64(s.dropFirst()) else { throw ValidationError("--to @T needs milliseconds since 1970") }
                position = .timestamp(t)
            default:
                guard let o = Int64(to), o >= 0 else { throw ValidationError("--to must be earliest, latest, an offset or @milliseconds") }
                position = .offset(o)
            }
            let kafka = try client.makeClient()
            let set: [TopicPartition: Int64]
            do {
                set = try await Admin(client: kafka).resetOffsets(group: group, topic: topic, partitions: partition.isEmpty ? nil : partition, to: position)
            } catch {
                await kafka.shutdown()
                throw CLIError("\(error)")
            }
            await kafka.shutdown()
            for tp in set.keys.sorted(by: { $0.partition < $1.partition }) { print("\(tp): \(set[tp]!)") }
        }
    }
}

/// Columns padded to their widest cell.
func printTable(_ rows: [[String]]) {
    guard let first = rows.first else { return }
    let widths = first.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
    for row in rows {
        print(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces))
    }
}
