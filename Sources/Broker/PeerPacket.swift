import Primitives
import Raft

/// What one node says to another, as bytes: the body of a peer frame. The runtime puts a length in
/// front and sends it over TLS; the simulator carries the same bytes over its simulated network,
/// so the codec runs under faults too.
///
///     u32 crc32c   over kind and payload
///     u8  kind     1 hello, 2 raft, 3 forward, 4 leaders, 5 repair, 6 alive, 7 transaction
///     payload
///
/// TLS already protects bytes in flight; the checksum catches bugs on either end (a buffer cut or
/// spliced), which would otherwise reach Raft as garbage.
public enum PeerPacket: Equatable, Sendable {
    /// Sent by both ends once TLS is up: who this is, of which cluster, speaking which version.
    case hello(node: NodeID, cluster: String, version: UInt16)
    /// Raft messages of any number of groups.
    case raft([PeerEnvelope])
    /// A controller command for the controller leader to propose.
    case forward(ControllerCommand)
    /// The groups the sender leads (for Metadata on nodes that do not host them).
    case leaders([LeaderHint])
    /// Mending damaged entries below a partition's snapshot: a request, or a peer's copy.
    case repair(RepairMessage)
    /// The core's keepalive (`NodeCore+Liveness`): the sender is up, in the run `run` of its
    /// process (a new value means it restarted).
    case alive(run: UInt64)
    /// A transaction's begin or marker for a partition's leader, or its answer.
    case transaction(TransactionPartitionMessage)

    /// 2: a Raft message's flags byte may mark a quiescing heartbeat (version 1 read it as a
    /// bool and would refuse the frame), so nodes of the two versions do not link.
    public static let version: UInt16 = 2
    /// Largest packet accepted (`BrokerLimits.peerPacketBytesMax`).
    public static let bytesMax = BrokerLimits.peerPacketBytesMax

    /// `encodedBytesBound` a Raft frame's envelopes may reach (`BrokerLimits.raftFrameBoundMax`).
    public static let raftFrameBoundMax = BrokerLimits.raftFrameBoundMax

    /// Raft envelopes in groups that each fit one frame (by `encodedBytesBound`, which
    /// over-counts), in order. An envelope too large alone gets a group of its own.
    public static func raftFrames(_ envelopes: [PeerEnvelope], boundMax: Int = raftFrameBoundMax) -> [[PeerEnvelope]] {
        var out: [[PeerEnvelope]] = []
        var current: [PeerEnvelope] = []
        var bytes = 0
        for e in envelopes {
            let n = PeerMessageCodec.encodedBytesBound([e])
            if !current.isEmpty && bytes + n > boundMax {
                out.append(current)
                current = []
                bytes = 0
            }
            current.append(e)
            bytes += n
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    public enum DecodeError: Error, Equatable, CustomStringConvertible {
        case tooLarge(Int)
        case checksumMismatch
        case malformed(String)

        public var description: String {
            switch self {
            case .tooLarge(let n): return "peer frame of \(n) bytes exceeds the \(PeerPacket.bytesMax)-byte limit"
            case .checksumMismatch: return "peer frame checksum mismatch"
            case .malformed(let why): return "malformed peer frame: \(why)"
            }
        }
    }

    public func encode() -> [UInt8] {
        var w: ByteWriter
        if case .raft(let envelopes) = self {
            w = ByteWriter(capacity: 5 + PeerMessageCodec.encodedBytesBound(envelopes))
        } else {
            w = ByteWriter()
        }
        w.u32(0)  // checksum, filled in below
        switch self {
        case .hello(let node, let cluster, let version):
            w.u8(1)
            w.u32(UInt32(version))
            w.u32(node.value)
            w.blob(Array(cluster.utf8))
        case .raft(let envelopes):
            w.u8(2)
            PeerMessageCodec.encode(envelopes, into: &w)
        case .forward(let command):
            w.u8(3)
            w.raw(command.encode())
        case .leaders(let hints):
            w.u8(4)
            w.u32(UInt32(hints.count))
            for h in hints {
                w.u32(h.group.value)
                w.u32(h.leader.value)
                w.u64(h.term.value)
            }
        case .repair(let m):
            w.u8(5)
            m.encode(&w)
        case .alive(let run):
            w.u8(6)
            w.u64(run)
        case .transaction(let m):
            w.u8(7)
            m.encode(&w)
        }
        var bytes = w.bytes
        let crc = bytes.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[4...])) }
        withUnsafeBytes(of: crc.littleEndian) { for i in 0..<4 { bytes[i] = $0[i] } }
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(DecodeError) -> PeerPacket {
        guard bytes.count >= 5 else { throw .malformed("\(bytes.count) bytes") }
        guard bytes.count <= bytesMax else { throw .tooLarge(bytes.count) }
        let crc = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        guard bytes.withUnsafeBytes({ CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[4...])) }) == crc else {
            throw .checksumMismatch
        }
        var r = ByteReader(bytes, offset: 4)
        do {
            switch try r.u8() {
            case 1:
                let version = try r.u32()
                let node = NodeID(try r.u32())
                let cluster = String(decoding: try r.blob(), as: UTF8.self)
                try r.expectEnd()
                guard version <= UInt32(UInt16.max) else { throw WireError.invalid("version \(version)") }
                return .hello(node: node, cluster: cluster, version: UInt16(version))
            case 2:
                return .raft(try PeerMessageCodec.decode(bytes, offset: 5))
            case 3:
                return .forward(try ControllerCommand.decode(Array(bytes[5...])))
            case 4:
                let n = try r.count(minItemBytes: 16)
                var hints: [LeaderHint] = []
                for _ in 0..<n {
                    hints.append(LeaderHint(group: GroupID(try r.u32()), leader: NodeID(try r.u32()), term: Term(try r.u64())))
                }
                try r.expectEnd()
                return .leaders(hints)
            case 5:
                let m = try RepairMessage.decode(&r)
                try r.expectEnd()
                return .repair(m)
            case 6:
                let run = try r.u64()
                try r.expectEnd()
                return .alive(run: run)
            case 7:
                let m = try TransactionPartitionMessage.decode(&r)
                try r.expectEnd()
                return .transaction(m)
            case let kind:
                throw WireError.invalid("frame kind \(kind)")
            }
        } catch {
            throw .malformed("\(error)")
        }
    }
}
