import Testing
import Broker
@testable import Transport

struct ConfigTests {
    static let good = """
        # a comment
        node_id = 2
        cluster = "prod"   # trailing comment
        data_dir = "data"

        [listeners]
        peer = "0.0.0.0:9192"
        kafka = "0.0.0.0:9092"
        advertised_kafka = "rill-2:9092"
        metrics = "127.0.0.1:9292"

        [tls]
        ca = "/etc/rill/ca.pem"
        cert = "node.pem"
        key = "node.key"

        [raft]
        tick_ms = 50

        [kafka]
        auto_create_topics = false
        default_partitions = 6
        retention_check_ms = 1000

        [peers]
        1 = "rill-1:9192"
        2 = "rill-2:9192"
        3 = "[::1]:9192"
        """

    func parse(_ text: String) throws -> NodeSettings {
        try NodeSettings.parse(ConfigFile(text: text, name: "node.toml"), baseDirectory: "/etc/rill")
    }

    @Test("a complete node.toml parses; relative paths are taken from the config's directory")
    func good() throws {
        let s = try parse(Self.good)
        #expect(s.nodeID == 2)
        #expect(s.cluster == "prod")
        #expect(s.dataDirectory == "/etc/rill/data")
        #expect(s.peerListener == HostPort(host: "0.0.0.0", port: 9192))
        #expect(s.advertisedKafka == HostPort(host: "rill-2", port: 9092))
        #expect(s.caFile == "/etc/rill/ca.pem")
        #expect(s.certificateFile == "/etc/rill/node.pem")
        #expect(s.tickMilliseconds == 50)
        #expect(s.electionTicks == 10)
        #expect(s.members == [1, 2, 3])
        #expect(s.peers[2].1 == HostPort(host: "::1", port: 9192))
        #expect(!s.autoCreateTopics && s.defaultPartitions == 6 && s.defaultReplicationFactor == 3)
        #expect(s.retentionCheckMs == 1000)
        #expect(s.log == .standardError, "without [log] file the node logs to standard error")
        #expect(!s.metricsPerPartition, "per-partition series are off by default")
        #expect(s.leaderRebalanceMs == 10_000)
        #expect(s.moveThrottleBytesPerSec == 100 << 20)
        #expect(try parse(Self.good + "\n[metrics]\nper_partition = true\n").metricsPerPartition)
        #expect(s.plantedBug == nil)
        #expect(try parse(Self.good + "\n[testing]\nplanted_bug = \"ack-on-append\"\n").plantedBug == .ackOnAppend)
    }

    @Test("a node not among [peers] (the founders) joins: it is dialed at listeners.advertised_peer; a founder at its [peers] entry")
    func joiningNode() throws {
        let founder = try parse(Self.good)
        #expect(founder.isFounder && founder.advertisedPeer == HostPort(host: "rill-2", port: 9192))
        let joiner = try parse(Self.good.replacingFirst("node_id = 2", with: "node_id = 4")
            .replacingFirst("metrics = \"127.0.0.1:9292\"", with: "metrics = \"127.0.0.1:9292\"\nadvertised_peer = \"rill-4:9192\""))
        #expect(!joiner.isFounder && joiner.advertisedPeer == HostPort(host: "rill-4", port: 9192))
        #expect(joiner.members == [1, 2, 3])
    }

    @Test("[log]: a file, rotated at max_bytes, files kept (64 MiB x 3 by default)")
    func logSection() throws {
        let s = try parse(Self.good + "\n[log]\nfile = \"/var/log/rill/node.log\"\n")
        #expect(s.log == .file(path: "/var/log/rill/node.log", maxBytes: 64 * 1024 * 1024, files: 3))
        let t = try parse(Self.good + "\n[log]\nfile = \"node.log\"\nmax_bytes = 1048576\nfiles = 5\n")
        #expect(t.log == .file(path: "/etc/rill/node.log", maxBytes: 1_048_576, files: 5))
    }

    @Test("every mistake names its key (or line) and what is wrong", arguments: [
        ("node_id = 2", "node_id = 0", "'node_id' must be an integer in 1..."),
        ("peer = \"0.0.0.0:9192\"", "peer = \"0.0.0.0\"", "'listeners.peer' must be host:port, not \"0.0.0.0\""),
        ("peer = \"0.0.0.0:9192\"", "peer = 9192", "'listeners.peer' must be a non-empty string, not 9192"),
        ("cert = \"node.pem\"", "certificate = \"node.pem\"", "node.toml:14: unknown key 'tls.certificate'"),
        ("cert = \"node.pem\"", "", "missing 'tls.cert'"),
        ("tick_ms = 50", "tick_ms = 5", "'raft.tick_ms' must be an integer in 10...10000, not 5"),
        ("2 = \"rill-2:9192\"", "4 = \"rill-4:9192\"", "a node joining the cluster (node_id 2 is not in [peers]) listening on 0.0.0.0:9192 needs 'listeners.advertised_peer'"),
        ("3 = \"[::1]:9192\"", "", "[peers] must list 1, 3 or 5 nodes (this one included), not 2"),
        ("cluster = \"prod\"", "cluster = \"prod\"\ncluster = \"again\"", "'cluster' is set twice"),
        ("cluster = \"prod\"", "cluster = \"pr od\"", "'cluster' may hold only letters"),
        ("cluster = \"prod\"", "cluster = \"prod", "cluster: unterminated string"),
        ("[raft]", "[[raft]]", "only [table] headers are supported"),
        ("metrics = \"127.0.0.1:9292\"", "metrics = \"0.0.0.0:9192\"", "two listeners share 0.0.0.0:9192"),
        ("node_id = 2", "node_id 2", "expected 'key = value'"),
        ("auto_create_topics = false", "auto_create_topics = 1", "'kafka.auto_create_topics' must be true or false"),
        ("auto_create_topics = false", "tls_client_auth = true", "'kafka.tls_client_auth' needs 'kafka.tls = true'"),
        ("default_partitions = 6", "default_replication_factor = 4", "'kafka.default_replication_factor' must be an integer in 1...3"),
        ("retention_check_ms = 1000", "retention_check_ms = 5", "'kafka.retention_check_ms' must be an integer in 100...86400000"),
        ("[peers]", "[log]\nfile = \"data/node.log\"\n[peers]", "'log.file' must not be inside 'data_dir'"),
        ("[peers]", "[log]\nfile = \"n.log\"\nmax_bytes = 100\n[peers]", "'log.max_bytes' must be an integer in 65536..."),
        ("[peers]", "[log]\nfiles = 2\n[peers]", "'log.max_bytes' and 'log.files' need 'log.file'"),
        ("[peers]", "[testing]\nplanted_bug = \"lose-it\"\n[peers]", "'testing.planted_bug' must be one of sync-before-persist"),
    ])
    func mistakes(_ replace: String, _ with: String, _ expected: String) throws {
        let text = Self.good.replacingFirst(replace, with: with)
        do {
            _ = try parse(text)
            Issue.record("accepted a config with '\(with)'")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }
}

extension String {
    func replacingFirst(_ a: String, with b: String) -> String {
        guard let r = range(of: a) else { return self }
        return replacingCharacters(in: r, with: b)
    }
}

@Suite struct DiskSpaceAlarmTests {
    @Test("free space: low below warn, full below min, and back only above warn (no flapping at one threshold)")
    func hysteresis() {
        var a = DiskSpaceAlarm(minFree: 100, warnFree: 200, totalBytes: 1000)
        #expect(a.update(free: 500) == nil)
        #expect(a.update(free: 150) == .low)
        #expect(a.update(free: 99) == .full)
        #expect(a.update(free: 150) == nil, "still full between the thresholds")
        #expect(a.update(free: 199) == nil)
        #expect(a.update(free: 200) == .ok)
    }

    @Test("default thresholds: 5 % of the file system within 16 MiB ... 1 GiB, warning at twice that")
    func defaults() {
        let small = DiskSpaceAlarm(minFree: nil, warnFree: nil, totalBytes: 64 << 20)
        #expect(small.minFree == 16 << 20 && small.warnFree == 32 << 20)
        let mid = DiskSpaceAlarm(minFree: nil, warnFree: nil, totalBytes: 10 << 30)
        #expect(mid.minFree == (10 << 30) / 20)
        let big = DiskSpaceAlarm(minFree: nil, warnFree: nil, totalBytes: 1 << 40)
        #expect(big.minFree == 1 << 30 && big.warnFree == 2 << 30)
    }
}
