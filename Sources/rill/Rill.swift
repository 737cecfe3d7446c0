import ArgumentParser

@main
struct Rill: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rill",
        abstract: "A replicated log cluster that speaks the Kafka protocol.",
        subcommands: [Serve.self, Dev.self, Cluster.self, Topic.self, Node.self, Produce.self, Consume.self, Group.self]
    )
}
