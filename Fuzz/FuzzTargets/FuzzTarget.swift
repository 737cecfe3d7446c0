/// The fuzz targets: each takes any bytes and must neither trap nor hang on them (libFuzzer finds
/// the inputs that do; see docs/fuzzing.md). The same entry points replay the seed inputs and
/// every committed regression input in `swift test` (`FuzzTargetTests`).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A Kafka request frame (after its size prefix) through a node's `handleKafka`: the header,
    /// every API's decoder at every version, and the broker's checks of what it decoded.
    case kafkaRequest = "kafka-request"
    /// RecordBatch validation as Produce does it, and a log's batches as Fetch re-reads them.
    case recordBatch = "record-batch"
    /// A peer packet (its checksum made to match) decoded and handed to a node as a peer's:
    /// Raft messages, forwarded controller commands, repair messages, leader hints, keepalives.
    case peerPacket = "peer-packet"
    /// A segment file's bytes recovered by `PartitionLog` (as the active segment, or as a closed
    /// one before a good segment), then every entry read back.
    case segmentRecovery = "segment-recovery"
    /// node.toml text parsed and validated.
    case nodeConfig = "node-config"

    /// Runs one input; true when it got past the first check (decoded, validated, recovered), which
    /// the tests use to see the seeds reach the code under test.
    @discardableResult
    public func run(_ data: [UInt8]) -> Bool {
        switch self {
        case .kafkaRequest: return KafkaRequestTarget.run(data)
        case .recordBatch: return RecordBatchTarget.run(data)
        case .peerPacket: return PeerPacketTarget.run(data)
        case .segmentRecovery: return SegmentRecoveryTarget.run(data)
        case .nodeConfig: return NodeConfigTarget.run(data)
        }
    }

    /// Inputs the fuzzer starts from, made with the project's own encoders (the Kafka target's
    /// real client captures are files under Fuzz/corpus).
    public func seeds() -> [[UInt8]] {
        switch self {
        case .kafkaRequest: return KafkaRequestTarget.seeds()
        case .recordBatch: return RecordBatchTarget.seeds()
        case .peerPacket: return PeerPacketTarget.seeds()
        case .segmentRecovery: return SegmentRecoveryTarget.seeds()
        case .nodeConfig: return NodeConfigTarget.seeds()
        }
    }
}
