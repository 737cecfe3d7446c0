import Transport

/// node.toml text (any bytes, decoded as UTF-8 with replacement) parsed and validated.
enum NodeConfigTarget {
    /// True when the text is well-formed (whether or not its settings are valid).
    static func run(_ data: [UInt8]) -> Bool {
        let text = String(decoding: data, as: UTF8.self)
        guard let file = try? ConfigFile(text: text, name: "node.toml") else { return false }
        _ = try? NodeSettings.parse(file, baseDirectory: "/etc/rill")
        return true
    }

    static func seeds() -> [[UInt8]] {
        let full = """
            node_id = 2
            cluster = "prod"   # comment
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
            tls = true
            tls_client_auth = true

            [storage]
            min_free_bytes = 16777216
            warn_free_bytes = 33554432

            [log]
            file = "/var/log/rill/node.log"
            max_bytes = 1048576
            files = 5

            [testing]
            planted_bug = "ack-on-append"

            [peers]
            1 = "rill-1:9192"
            2 = "rill-2:9192"
            3 = "[::1]:9192"
            """
        return [Array(full.utf8), Array("node_id = 1\n[peers]\n1 = \"a:1\"\n".utf8)]
    }
}
