import ArgumentParser
import Foundation
import RillTLS
import Transport

#if canImport(Glibc)
    import Glibc
#endif

/// `rill dev`: a whole cluster on this machine, one process per node, with its own CA.
struct Dev: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a local cluster: a CA, node certificates and one `rill serve` process per node.",
        discussion: """
            Kafka listeners are 127.0.0.1:<kafka-port>, +1, +2 ...; peer ports are 100 above them and \
            status (/health, /status) ports 200 above. Data, certificates, configs and logs stay in \
            --dir for the next start. Ctrl-C stops every node (each hands its leaderships away first).
            """)

    @Option(help: "Number of nodes: 1, 3 or 5.") var nodes = 3
    @Option(help: "Directory for certificates, configuration, data and logs.") var dir = ".rill/dev"
    @Option(help: "Kafka port of node 1 (node N gets this + N - 1).") var kafkaPort = 9092
    @Option(help: "Cluster name (written into every data directory).") var cluster = "dev"
    @Flag(help: "Write the CA, certificates and configurations, print where, and exit without starting nodes.")
    var initOnly = false

    func validate() throws {
        guard [1, 3, 5].contains(nodes) else { throw ValidationError("--nodes must be 1, 3 or 5, not \(nodes)") }
        guard (1...65000).contains(kafkaPort) else { throw ValidationError("--kafka-port must be 1...65000") }
    }

    func run() throws {
        let root = URL(fileURLWithPath: dir).standardizedFileURL.path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let layout = DevLayout(root: root, nodes: nodes, kafkaPort: kafkaPort, cluster: cluster)
        try layout.prepare()
        if initOnly {
            for n in 1...nodes { print(layout.configPath(n)) }
            return
        }
        let executable = try selfExecutable()
        var children: [(Int, Process)] = []
        for n in 1...nodes {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = ["serve", "--config", layout.configPath(n)]
            // The node writes its log itself (node-N.log, rotated: see `[log]` in its node.toml);
            // standard output and error only catch what a crash prints, started afresh each time.
            let crash = layout.stderrPath(n)
            // Emptied (truncation needs no space), or made when missing.
            if truncate(crash, 0) != 0 { _ = FileManager.default.createFile(atPath: crash, contents: nil) }
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: crash))
            p.standardOutput = handle
            p.standardError = handle
            try p.run()
            children.append((n, p))
        }
        let bootstrap = (1...nodes).map { "127.0.0.1:\(layout.kafka($0))" }.joined(separator: ",")
        print("rill dev: \(nodes) node(s) of cluster '\(cluster)' starting")
        print("  bootstrap servers: \(bootstrap)")
        print("  status:            " + (1...nodes).map { "http://127.0.0.1:\(layout.status($0))/status" }.joined(separator: " "))
        print("  logs:              \(root)/node-N.log    data: \(root)/node-N/data")
        print("  cluster status:    rill cluster status --dir \(dir)")
        print("  Ctrl-C stops every node; data is kept for the next start.")
        fflush(nil)

        let stop = DispatchSemaphore(value: 0)
        let signals = SignalWatcher([SIGINT, SIGTERM]) { _ in stop.signal() }
        defer { signals.cancel() }
        for (n, p) in children {
            p.terminationHandler = { proc in
                if proc.terminationReason == .uncaughtSignal || proc.terminationStatus != 0 {
                    print("rill dev: node \(n) exited (status \(proc.terminationStatus)); see \(layout.logPath(n)) and \(layout.stderrPath(n))")
                    fflush(nil)
                }
            }
        }
        stop.wait()
        print("rill dev: stopping \(children.count) node(s)")
        for (_, p) in children where p.isRunning { p.terminate() }  // SIGTERM: graceful
        let deadline = Date().addingTimeInterval(15)
        for (n, p) in children {
            while p.isRunning && Date() < deadline { usleep(50_000) }
            if p.isRunning {
                print("rill dev: node \(n) did not stop in time; killing it")
                kill(p.processIdentifier, SIGKILL)
                p.waitUntilExit()
            }
        }
        print("rill dev: stopped")
    }
}

/// Where `rill dev` keeps each node's files, and the ports it gives them.
struct DevLayout {
    let root: String
    let nodes: Int
    let kafkaPort: Int
    let cluster: String

    func kafka(_ n: Int) -> Int { kafkaPort + n - 1 }
    func peer(_ n: Int) -> Int { kafkaPort + 100 + n - 1 }
    func status(_ n: Int) -> Int { kafkaPort + 200 + n - 1 }
    func nodeDir(_ n: Int) -> String { root + "/node-\(n)" }
    func configPath(_ n: Int) -> String { nodeDir(n) + "/node.toml" }
    func logPath(_ n: Int) -> String { root + "/node-\(n).log" }
    func stderrPath(_ n: Int) -> String { root + "/node-\(n).stderr" }

    /// The CA and node certificates (made once, kept), and each node's configuration (rewritten).
    func prepare() throws {
        let fm = FileManager.default
        let caCert = root + "/ca.pem"
        let caKey = root + "/ca.key"
        let ca: CertificateAuthority
        if fm.fileExists(atPath: caCert) && fm.fileExists(atPath: caKey) {
            ca = try CertificateAuthority(
                certificatePEM: Array(fm.contents(atPath: caCert) ?? Data()), privateKeyPEM: Array(fm.contents(atPath: caKey) ?? Data()))
        } else {
            ca = try CertificateAuthority(name: "rill-\(cluster)-ca")
            try write(ca.certificatePEM, to: caCert, mode: 0o644)
            try write(ca.privateKeyPEM, to: caKey, mode: 0o600)
        }
        for n in 1...nodes {
            try fm.createDirectory(atPath: nodeDir(n), withIntermediateDirectories: true)
            let cert = nodeDir(n) + "/node.pem"
            let key = nodeDir(n) + "/node.key"
            if !fm.fileExists(atPath: cert) || !fm.fileExists(atPath: key) {
                let issued = try ca.issueNodeCertificate(node: UInt32(n))
                try write(issued.certificatePEM, to: cert, mode: 0o644)
                try write(issued.privateKeyPEM, to: key, mode: 0o600)
            }
            try write(Array(config(n).utf8), to: configPath(n), mode: 0o644)
        }
    }

    func config(_ n: Int) -> String {
        var s = """
            # Written by `rill dev` (rewritten at every start). See docs/operations.md.
            node_id = \(n)
            cluster = "\(cluster)"
            data_dir = "data"

            [listeners]
            kafka = "127.0.0.1:\(kafka(n))"
            peer = "127.0.0.1:\(peer(n))"
            metrics = "127.0.0.1:\(status(n))"

            [tls]
            ca = "../ca.pem"
            cert = "node.pem"
            key = "node.key"

            [kafka]
            auto_create_topics = true

            [log]
            file = "../node-\(n).log"
            max_bytes = \(NodeSettings.logMaxBytesDefault)
            files = \(NodeSettings.logFilesDefault)

            [peers]

            """
        for m in 1...nodes { s += "\(m) = \"127.0.0.1:\(peer(m))\"\n" }
        return s
    }

    /// Write a file unless it already holds exactly these bytes: `rill dev` restarts on a disk
    /// too full to rewrite its node.toml files (the nodes themselves start and refuse writes).
    private func write(_ bytes: [UInt8], to path: String, mode: Int) throws {
        if let existing = FileManager.default.contents(atPath: path), Array(existing) == bytes { return }
        let ok = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
        if !ok { throw CLIError("cannot write \(path) (\(String(cString: strerror(errno))))") }
    }
}

/// This program's own path (to start nodes as `rill serve`).
func selfExecutable() throws -> String {
    let path = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    return path
}
