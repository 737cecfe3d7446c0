import ArgumentParser
import Foundation
import Transport

struct Cluster: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect a cluster, its cluster-wide configs, and balance it.", subcommands: [Status.self, Config.self, Balance.self])

    struct Status: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Nodes, which are up, the controller leader, partition leaders.")

        @Option(help: "A `rill dev` directory: its nodes' status listeners are asked.") var dir: String?
        @Option(name: .customLong("node"), help: "A node's status listener, host:port (repeatable).") var nodes: [String] = []

        func run() throws {
            let targets = try statusTargets(dir: dir, nodes: nodes)
            var statuses: [(String, NodeStatus?)] = []
            for t in targets {
                if let (code, body) = try? httpRequest("GET", host: t.host, port: t.port, path: "/status"), code == 200,
                    let s = try? JSONDecoder().decode(NodeStatus.self, from: Data(body.utf8))
                {
                    statuses.append(("\(t)", s))
                } else {
                    statuses.append(("\(t)", nil))
                }
            }
            print(ClusterReport(statuses).text, terminator: "")
            if statuses.allSatisfy({ $0.1 == nil }) { throw ExitCode(1) }
        }
    }
}

/// Status listeners named on the command line, or found in a `rill dev` directory's configs.
func statusTargets(dir: String?, nodes: [String]) throws -> [HostPort] {
    var out: [HostPort] = []
    for n in nodes {
        guard let hp = HostPort(parsing: n) else { throw ValidationError("--node \(n): expected host:port") }
        out.append(hp)
    }
    if let dir {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        for name in names.sorted() where name.hasPrefix("node-") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir + "/" + name + "/node.toml", isDirectory: &isDirectory),
                !isDirectory.boolValue
            else { continue }
            let settings = try loadSettings(dir + "/" + name + "/node.toml")
            out.append(HostPort(host: settings.metricsListener.host == "0.0.0.0" ? "127.0.0.1" : settings.metricsListener.host, port: settings.metricsListener.port))
        }
    }
    if out.isEmpty { throw ValidationError("name the cluster with --dir (a rill dev directory) or --node host:port") }
    return out
}

/// The text `rill cluster status` prints.
struct ClusterReport {
    let text: String

    init(_ statuses: [(String, NodeStatus?)]) {
        var s = ""
        let up = statuses.compactMap(\.1)
        let leaderView = up.first { $0.controllerLeader != 0 && $0.controllerLeader == $0.node } ?? up.first
        if let v = leaderView {
            let leader = v.controllerLeader == 0 ? "none" : "node \(v.controllerLeader)"
            s += "cluster \(v.cluster): \(up.count)/\(statuses.count) node(s) up; controller leader: \(leader) (term \(v.controllerTerm), commit \(v.controllerCommit))\n"
        } else {
            s += "no node answered\n"
        }
        s += "\nNODE  STATUS LISTENER        UP    KAFKA                PEERS\n"
        for (address, st) in statuses {
            if let st {
                let kafka = leaderView?.brokers.first { $0.node == st.node }.map { "\($0.host):\($0.port)" } ?? "(unregistered)"
                let peers = st.peers.map { "\($0.node)\($0.connected ? "+" : "-")" }.joined(separator: " ")
                s += pad("\(st.node)", 6) + pad(address, 24) + pad("up", 6) + pad(kafka, 21) + peers + "\n"
            } else {
                s += pad("?", 6) + pad(address, 24) + pad("DOWN", 6) + "\n"
            }
        }
        if let v = leaderView, !v.partitions.isEmpty {
            let moving = v.partitions.contains { $0.movingTo != nil }
            s += "\nTOPIC                PART  GROUP  REPLICAS   LEADER" + (moving ? "   MOVING TO" : "") + "\n"
            for p in v.partitions {
                // Each replica knows the leader; ask the views that replicate it.
                let leader = up.compactMap { st in st.partitions.first { $0.group == p.group }?.leader }.first { $0 != 0 }
                s += pad(p.topic, 21) + pad("\(p.partition)", 6) + pad("\(p.group)", 7)
                    + pad(p.replicas.map(String.init).joined(separator: ","), 11)
                    + (moving ? pad(leader.map { "node \($0)" } ?? "none", 9) + (p.movingTo.map { $0.map(String.init).joined(separator: ",") } ?? "-")
                        : leader.map { "node \($0)" } ?? "none") + "\n"
            }
            if moving {
                s += "\n\(v.partitions.filter { $0.movingTo != nil }.count) partition(s) moving: each leader adds the new replicas as learners, "
                    + "promotes them once caught up, then removes the old ones (`rill topic moves` lists them)\n"
            }
        }
        text = s
    }
}

func pad(_ s: String, _ width: Int) -> String { s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count) }
