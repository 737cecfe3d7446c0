import ArgumentParser
import RillClient

extension Topic {
    /// `rill topic trim-prefix T --offset N [--partitions 0,1]`: Kafka's DeleteRecords, as rpk's
    /// command of that name.
    struct TrimPrefix: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "trim-prefix",
            abstract: "Delete the records of a topic's partitions below an offset (the log start offset moves there; offsets never change).")
        @OptionGroup var client: ClientOptions
        @Argument(help: "Topic name.") var name: String
        @Option(name: [.customShort("o"), .long], help: "Records below this offset go; 'end' for every record up to the high watermark.")
        var offset: String
        @Option(name: [.customShort("p"), .long], parsing: .upToNextOption, help: "Partitions (default: every partition).")
        var partitions: [Int32] = []

        func validate() throws {
            guard offset == "end" || (Int64(offset).map { $0 >= 0 } ?? false) else {
                throw ValidationError("--offset must be a non-negative offset or 'end', not '\(offset)'")
            }
        }

        func run() async throws {
            let below = offset == "end" ? -1 : Int64(offset)!
            try await withAdmin(client) { admin in
                guard let topic = try await admin.describeTopics([name]).first else { throw CLIError("no topic \(name)") }
                let known = Set(topic.partitions.map(\.partition))
                let chosen = partitions.isEmpty ? topic.partitions.map(\.partition) : partitions
                if let unknown = chosen.first(where: { !known.contains($0) }) {
                    throw CLIError("topic \(name) has no partition \(unknown) (it has \(known.count))")
                }
                var rows = [["TOPIC", "PARTITION", "NEW-START-OFFSET", "ERROR"]]
                var failed = 0
                for p in chosen {
                    do {
                        let start = try await admin.deleteRecords(topic: name, partition: p, before: below)
                        rows.append([name, "\(p)", "\(start)", "-"])
                    } catch {
                        failed += 1
                        rows.append([name, "\(p)", "-", "\(error)"])
                    }
                }
                printTable(rows)
                if failed > 0 { throw CLIError("\(failed) of \(chosen.count) partitions were not trimmed") }
            }
        }
    }
}
