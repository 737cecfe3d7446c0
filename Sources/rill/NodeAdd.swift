import ArgumentParser
import Foundation
import RillTLS
import Transport

/// `rill node add`: what a new node needs to join a running cluster — its certificate, issued by
/// the cluster's CA, and its node.toml, with the cluster's founders as `[peers]` and the settings
/// of an existing node's configuration. Started with `rill serve`, the node announces itself to
/// the controller and becomes a member (docs/operations.md, "Growing the cluster").
extension Node {
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new node's certificate (from the cluster CA) and node.toml, to join a running cluster.",
            discussion: """
                The node's settings come from an existing member's node.toml (--from): the cluster name, the \
                founders ([peers]) and every [raft], [kafka], [storage] and [metrics] setting; its own id, \
                listeners and files come from the options. Start it with `rill serve --config <out>/node.toml`: \
                with an empty data directory it announces itself, joins the controller group as a learner \
                (a voter when the cluster needs one) and takes replicas from moves (`rill cluster balance`).
                """)
        @Option(help: "The new node's id: one no node of the cluster ever had.") var id: UInt32
        @Option(help: "An existing member's node.toml (its settings and CA are used).") var from: String
        @Option(help: "The CA's private key (default: ca.key beside the CA certificate).") var caKey: String?
        @Option(help: "Directory for the new node's node.toml, certificate, key and data.") var out: String
        @Option(help: "Peer listener, host:port (mutual TLS between nodes).") var peer: String
        @Option(help: "Kafka listener, host:port.") var kafka: String
        @Option(help: "Status listener (/metrics, /health, /status), host:port.") var metrics: String
        @Option(help: "The address peers dial (default: --peer).") var advertisedPeer: String?
        @Option(help: "The Kafka address given to clients (default: --kafka).") var advertisedKafka: String?

        func run() throws {
            let fromPath = URL(fileURLWithPath: from).standardizedFileURL.path
            let baseDirectory = (fromPath as NSString).deletingLastPathComponent
            guard let text = FileManager.default.contents(atPath: fromPath) else { throw CLIError("cannot read \(from)") }
            let file = try ConfigFile(text: String(decoding: text, as: UTF8.self), name: from)
            let existing = try NodeSettings.parse(file, baseDirectory: baseDirectory)
            guard id > 0 else { throw CLIError("--id must be a positive node id") }
            if existing.members.contains(where: { $0.value == id }) {
                throw CLIError("node \(id) is a founder of cluster '\(existing.cluster)': a new node takes an id no node ever had")
            }
            for (name, value) in [("--peer", peer), ("--kafka", kafka), ("--metrics", metrics)] + [("--advertised-peer", advertisedPeer), ("--advertised-kafka", advertisedKafka)].compactMap({ n, v in v.map { (n, $0) } }) {
                guard HostPort(parsing: value) != nil else { throw CLIError("\(name) must be host:port, not \"\(value)\"") }
            }
            if advertisedPeer == nil, let p = HostPort(parsing: peer), ["0.0.0.0", "::"].contains(p.host) {
                throw CLIError("--peer \(peer) listens on every interface: give --advertised-peer, the address other nodes dial")
            }
            let caKeyPath = caKey ?? ((existing.caFile as NSString).deletingLastPathComponent + "/ca.key")
            guard let caPEM = FileManager.default.contents(atPath: existing.caFile) else { throw CLIError("cannot read the CA certificate \(existing.caFile)") }
            guard let keyPEM = FileManager.default.contents(atPath: caKeyPath) else {
                throw CLIError("cannot read the CA's private key \(caKeyPath) (--ca-key): a new node's certificate is issued by the cluster's CA")
            }
            let ca = try CertificateAuthority(certificatePEM: Array(caPEM), privateKeyPEM: Array(keyPEM))
            let dir = URL(fileURLWithPath: out).standardizedFileURL.path
            let configPath = dir + "/node.toml"
            if FileManager.default.fileExists(atPath: configPath) { throw CLIError("\(configPath) exists: pick another --out") }
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let issued = try ca.issueNodeCertificate(node: id)
            try write(issued.certificatePEM, to: dir + "/node.pem", mode: 0o644)
            try write(issued.privateKeyPEM, to: dir + "/node.key", mode: 0o600)
            let caFile = URL(fileURLWithPath: existing.caFile).standardizedFileURL.path
            try write(Array(config(copying: file, caFile: caFile).utf8), to: configPath, mode: 0o644)
            print(configPath)
            print("start it with: rill serve --config \(configPath)")
        }

        /// The new node's node.toml: its own id, listeners and files; everything else as the
        /// existing node has it (a log file is not copied: the new node logs to standard error
        /// unless one is set).
        func config(copying file: ConfigFile, caFile: String) -> String {
            let own: Set<String> = ["node_id", "data_dir", "tls.ca", "tls.cert", "tls.key", "log.file", "log.max_bytes", "log.files"]
            var s = """
                # Written by `rill node add` from \(from). See docs/operations.md.
                node_id = \(id)
                data_dir = "data"

                [listeners]
                peer = \(quoted(peer))
                kafka = \(quoted(kafka))
                metrics = \(quoted(metrics))

                """
            if let advertisedPeer { s += "advertised_peer = \(quoted(advertisedPeer))\n" }
            if let advertisedKafka { s += "advertised_kafka = \(quoted(advertisedKafka))\n" }
            s += "\n[tls]\nca = \(quoted(caFile))\ncert = \"node.pem\"\nkey = \"node.key\"\n"
            // Tables in the order they first appear, each with its keys.
            var tables: [(name: String, lines: [String])] = []
            for e in file.entries where !own.contains(e.key) && !e.key.hasPrefix("listeners.") {
                let parts = e.key.split(separator: ".", maxSplits: 1).map(String.init)
                let (table, key) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
                let value: String
                switch e.value {
                case .string(let v): value = quoted(v)
                case .integer(let i): value = String(i)
                case .bool(let b): value = String(b)
                }
                if let k = tables.firstIndex(where: { $0.name == table }) {
                    tables[k].lines.append("\(key) = \(value)")
                } else {
                    tables.append((table, ["\(key) = \(value)"]))
                }
            }
            // Keys outside any table (cluster) come before the first table header.
            let top = tables.first { $0.name.isEmpty }?.lines ?? []
            s = s.replacingOccurrences(of: "data_dir = \"data\"\n", with: "data_dir = \"data\"\n" + top.map { $0 + "\n" }.joined())
            for t in tables where !t.name.isEmpty { s += "\n[\(t.name)]\n" + t.lines.map { $0 + "\n" }.joined() }
            return s
        }

        private func quoted(_ v: String) -> String {
            "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }

        private func write(_ bytes: [UInt8], to path: String, mode: Int) throws {
            let ok = FileManager.default.createFile(atPath: path, contents: Data(bytes), attributes: [.posixPermissions: mode])
            if !ok { throw CLIError("cannot write \(path) (\(String(cString: strerror(errno))))") }
        }
    }
}
