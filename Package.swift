// swift-tools-version:6.1
// Rill: a replicated log cluster that speaks the Kafka wire protocol.
// Module graph and import rules: docs/architecture.md.
import PackageDescription

let package = Package(
    name: "rill",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rill", targets: ["rill"]),
        .executable(name: "rill-sim", targets: ["rill-sim"]),
        .library(name: "Raft", targets: ["Raft"]),
        .library(name: "RillClient", targets: ["RillClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.6.0"),
    ],
    targets: [
        // CRC-32C with the CPU's instruction (SSE4.2); Primitives falls back to a table without it.
        .target(name: "CCRC32C"),
        // glibc allocator settings for the server (`mallopt` is not visible from Swift).
        .target(name: "CMalloc"),
        // Shared id types, the project's own PRNG, CRC-32C. Standard library (and CCRC32C) only.
        .target(name: "Primitives", dependencies: ["CCRC32C"]),
        // Pure Raft state machine (etcd-raft style). Standard library only: no clock, no I/O.
        .target(name: "Raft", dependencies: ["Primitives"]),
        // Durable storage: segmented Raft/Kafka logs, hard state, data directory; over `FileSystem`.
        .target(name: "Storage", dependencies: ["Primitives", "Raft"]),
        // The system OpenSSL (Debian's libssl-dev) with a small shim for its macros. Not vendored.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev", "pkg-config"]), .brew(["openssl@3"])]
        ),
        // TLS over OpenSSL memory BIOs: contexts, sessions, a SwiftNIO handler, certificates.
        .target(
            name: "RillTLS",
            dependencies: ["COpenSSL", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Kafka wire protocol: framing, headers, RecordBatch v2 (hand-written), and every API's request
        // and response types for every version, flexible ones included (Generated/, from Schema/).
        .target(
            name: "KafkaProtocol",
            dependencies: ["Primitives", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["Schema"]
        ),
        // Generates KafkaProtocol/Generated from KafkaProtocol/Schema; `--check` fails on a difference.
        .executableTarget(name: "rill-protogen"),
        // The Swift client library: connections, metadata, an idempotent producer, a consumer.
        .target(
            name: "RillClient",
            dependencies: [
                "KafkaProtocol", "RillTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        // docs/client.md's quick start, compiled so the documented code stays true.
        .executableTarget(name: "client-quickstart", dependencies: ["RillClient"], path: "Examples/client-quickstart"),
        // One node's logic: multi-Raft registry, controller state, group commit. Deterministic:
        // no clock, socket, thread or file of its own (storage work goes out as values).
        .target(
            name: "Broker",
            dependencies: ["Primitives", "Raft", "Storage", "KafkaProtocol", .product(name: "NIOCore", package: "swift-nio")]
        ),
        // Runs a NodeCore for real: one event loop, a disk thread, TLS peer links, the status listener.
        .target(
            name: "Transport",
            dependencies: [
                "Broker", "RillTLS", "Storage", "Raft", "Primitives", "KafkaProtocol",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The command: serve, dev, cluster status, topic.
        .executableTarget(
            name: "rill",
            dependencies: [
                "Transport", "RillTLS", "RillClient", "CMalloc",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Deterministic cluster simulator: simulated network, disk and clock around the real Raft code.
        .target(
            name: "SimulationKit",
            dependencies: ["Primitives", "Raft", "Storage", "Broker", "KafkaProtocol", .product(name: "NIOCore", package: "swift-nio")],
            path: "Simulation/Sources/SimulationKit",
            // Dynamic exclusivity checks on the simulator's class properties cost ~6% of a run;
            // debug builds (and so `swift test`) keep them.
            swiftSettings: [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .executableTarget(
            name: "rill-sim",
            dependencies: [
                "SimulationKit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Simulation/Sources/rill-sim"
        ),
        // Fuzz targets (docs/fuzzing.md): the entry points, and the driver libFuzzer links against
        // (`ops/fuzz.sh` builds it with -sanitize=fuzzer; a plain build makes its seeds/replay tool).
        .target(
            name: "FuzzTargets",
            dependencies: ["Broker", "Transport", "SimulationKit", "Storage", "Raft", "Primitives", "KafkaProtocol",
                           .product(name: "NIOCore", package: "swift-nio")],
            path: "Fuzz/FuzzTargets"
        ),
        .executableTarget(name: "rill-fuzz", dependencies: ["FuzzTargets"], path: "Fuzz/rill-fuzz"),
        .executableTarget(
            name: "rill-bench",
            dependencies: [
                "Storage", "Raft", "Primitives", "RillTLS", "CMalloc", "KafkaProtocol", "Broker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/rill-bench"
        ),
        .testTarget(
            name: "RaftTests",
            dependencies: ["Raft", "Primitives"],
            exclude: ["testdata"]
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "SimulationKit", "Raft", "Primitives"]
        ),
        .testTarget(
            name: "KafkaProtocolTests",
            dependencies: ["KafkaProtocol", "Primitives", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["golden_from_kafka_python.py", "capture_client_frames.py"]
        ),
        .testTarget(name: "RillClientTests", dependencies: ["RillClient", "KafkaProtocol", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "BrokerTests",
            dependencies: ["Broker", "SimulationKit", "Storage", "Raft", "Primitives"]
        ),
        .testTarget(
            name: "TransportTests",
            dependencies: [
                "Transport", "Broker", "Raft", "Primitives",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ClusterTests",
            dependencies: [
                "Transport", "RillTLS", "Primitives", "KafkaProtocol", "RillClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "RillTLSTests",
            dependencies: [
                "RillTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]
        ),
        .testTarget(name: "FuzzTargetTests", dependencies: ["FuzzTargets"], path: "Tests/FuzzTargetTests"),
        .testTarget(
            name: "SimulationTests",
            dependencies: ["SimulationKit", "Raft", "Primitives"],
            path: "Tests/SimulationTests"
        ),
    ],
    swiftLanguageModes: [.v6]
)
