import ArgumentParser
import CMalloc
import Foundation
import Logging
import ServiceLifecycle
import Transport

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run one node from its configuration file.")

    @Option(name: .long, help: "The node's configuration (TOML): node id, data directory, listeners, TLS files, peers.")
    var config: String

    func run() async throws {
        let settings: NodeSettings
        do {
            settings = try loadSettings(config)
        } catch {
            // Nothing has started: a bad configuration stops here, naming the key.
            throw CLIError("\(error)")
        }
        // Keep freed memory for reuse (TLS records and batches are large and short-lived).
        _ = rill_keep_freed_memory()
        // Standard error, or a size-rotated file (`[log]` in node.toml); every line escaped and capped.
        let output: LogOutput
        do {
            output = try LogOutput(settings.log)
        } catch {
            throw CLIError("\(error)")
        }
        let label = "rill.node-\(settings.nodeID)"
        var configured = Logger(label: label) { _ in NodeLogHandler(label: label, output: output) }
        configured.logLevel = .info
        let logger = configured
        let runtime: NodeRuntime
        do {
            runtime = try NodeRuntime.start(settings: settings, logger: logger)
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode(1)
        }
        // swift-service-lifecycle: SIGTERM and SIGINT start a graceful shutdown.
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: NodeService(runtime: runtime, logger: logger))],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
            await runtime.shutdownThreads()
        } catch {
            await runtime.shutdownThreads()
            throw ExitCode(1)
        }
    }
}

/// The node as a service: runs until the node stops; a graceful shutdown hands its leaderships to
/// other nodes, lets the storage write in flight finish and closes its connections.
struct NodeService: Service {
    let runtime: NodeRuntime
    let logger: Logger

    func run() async throws {
        try await withGracefulShutdownHandler {
            try await runtime.onStopped.get()
        } onGracefulShutdown: {
            logger.info("stopping: handing leaderships to other nodes first")
            _ = runtime.stop()
        }
    }
}

/// Read and validate node.toml; errors name the file, line or key.
func loadSettings(_ path: String) throws -> NodeSettings {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ConfigFile.Error("cannot read configuration file \(path)")
    }
    let text = String(decoding: data, as: UTF8.self)
    let file = try ConfigFile(text: text, name: path)
    let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
    return try NodeSettings.parse(file, baseDirectory: base)
}
