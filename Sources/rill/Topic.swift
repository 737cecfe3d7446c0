import ArgumentParser
import Foundation
import Transport

struct Topic: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage topics.", subcommands: [Create.self, List.self, Describe.self, Delete.self, AlterConfig.self, AddPartitions.self, TrimPrefix.self, Move.self, Moves.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic through the controller.")

        @Argument(help: "Topic name.") var name: String
        @Option(help: "Partitions.") var partitions: Int32 = 1
        @Option(help: "Replication factor (default: every node).") var replicationFactor: Int?
        @Option(help: "A `rill dev` directory.") var dir: String?
        @Option(name: .customLong("node"), help: "A node's status listener, host:port.") var nodes: [String] = []

        func run() throws {
            var problems: [String] = []
            for t in try statusTargets(dir: dir, nodes: nodes) {
                var path = "/v1/topics?name=\(name)&partitions=\(partitions)"
                if let rf = replicationFactor { path += "&replication_factor=\(rf)" }
                do {
                    let (code, body) = try httpRequest("POST", host: t.host, port: t.port, path: path)
                    if code == 202 {
                        print(body.trimmingCharacters(in: .whitespacesAndNewlines))
                        return
                    }
                    if code == 400 { throw ValidationError(body.trimmingCharacters(in: .whitespacesAndNewlines)) }
                    problems.append("\(t): \(body.trimmingCharacters(in: .whitespacesAndNewlines))")
                } catch let e as ValidationError {
                    throw e
                } catch {
                    problems.append("\(t): \(error)")
                }
            }
            throw CLIError("no node could take the request:\n  " + problems.joined(separator: "\n  "))
        }
    }
}
