import KafkaProtocol
import Primitives
import Raft

/// Between a transaction coordinator and a partition's leader (peer packet kind 7): the begin
/// that lets a producer write a transaction's batches to the partition
/// (`KafkaEntry.transactionBegin`), and the marker that ends it (`ControlRecord`). Kafka's
/// coordinator sends WriteTxnMarkers to partition leaders over the Kafka protocol; here both go
/// over the peer links, and the leader answers once the entry is applied on it.
public enum TransactionPartitionMessage: Equatable, Sendable {
    public enum Action: UInt8, Sendable {
        case begin = 0
        case commit = 1
        case abort = 2
    }

    /// `from` (a coordinator) asks the leader of `group` to write `action` for the producer's
    /// transaction `mark`; `request` names the answer.
    case write(request: UInt64, from: NodeID, group: GroupID, producerID: Int64, mark: TransactionMark, action: Action)
    /// The leader's answer: NONE once written (or found written before), else why not
    /// (NOT_LEADER_OR_FOLLOWER, KAFKA_STORAGE_ERROR: ask again; PRODUCER_FENCED: a begin of a
    /// transaction already ended there).
    case written(request: UInt64, group: GroupID, error: ErrorCode)

    func encode(_ w: inout ByteWriter) {
        switch self {
        case .write(let request, let from, let group, let producerID, let mark, let action):
            w.u8(1)
            w.u64(request)
            w.u32(from.value)
            w.u32(group.value)
            w.u64(UInt64(bitPattern: producerID))
            w.u32(UInt32(UInt16(bitPattern: mark.epoch)))
            w.u32(UInt32(bitPattern: mark.sequence))
            w.u8(action.rawValue)
        case .written(let request, let group, let error):
            w.u8(2)
            w.u64(request)
            w.u32(group.value)
            w.u32(UInt32(UInt16(bitPattern: error.rawValue)))
        }
    }

    static func decode(_ r: inout ByteReader) throws(WireError) -> TransactionPartitionMessage {
        switch try r.u8() {
        case 1:
            let request = try r.u64()
            let from = NodeID(try r.u32())
            let group = GroupID(try r.u32())
            let producerID = Int64(bitPattern: try r.u64())
            let epoch = try r.u32()
            let sequence = Int32(bitPattern: try r.u32())
            let raw = try r.u8()
            guard let action = Action(rawValue: raw) else { throw WireError.invalid("transaction action \(raw)") }
            guard producerID >= 0, epoch <= UInt32(Int16.max) else { throw WireError.invalid("producer \(producerID) epoch \(epoch)") }
            return .write(request: request, from: from, group: group, producerID: producerID,
                          mark: TransactionMark(epoch: Int16(epoch), sequence: sequence), action: action)
        case 2:
            let request = try r.u64()
            let group = GroupID(try r.u32())
            let code = try r.u32()
            guard code <= UInt32(UInt16.max) else { throw WireError.invalid("error code \(code)") }
            return .written(request: request, group: group, error: ErrorCode(rawValue: Int16(bitPattern: UInt16(code))))
        case let kind:
            throw WireError.invalid("transaction message kind \(kind)")
        }
    }
}
