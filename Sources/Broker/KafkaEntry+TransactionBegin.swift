import Raft

/// The entry a partition's leader writes when the transaction coordinator adds the partition to
/// a transaction: from then on (every replica applies it, `PartitionTransactions.begin`) the
/// producer may write that transaction's batches here, until its marker ends it. Being in the
/// log, the permission survives a change of leader, and a batch of a transaction that was never
/// added here (or already ended) is refused — no transaction is left hanging open in a partition
/// its coordinator does not know of. It takes no Kafka offsets and is never served by Fetch.
///
///     u32 magic "RTXB" | u32 version (1) | u64 producer id | u32 epoch | u32 transaction sequence
///
/// Twenty-four bytes: shorter than any record batch header, so it never reads as a batch.
extension KafkaEntry {
    static let transactionBeginMagic: [UInt8] = Array("RTXB".utf8)
    static let transactionBeginBytes = 24

    public static func transactionBegin(producerID: Int64, _ mark: TransactionMark) -> [UInt8] {
        var w = ByteWriter()
        w.raw(transactionBeginMagic)
        w.u32(1)
        w.u64(UInt64(bitPattern: producerID))
        w.u32(UInt32(UInt16(bitPattern: mark.epoch)))
        w.u32(UInt32(bitPattern: mark.sequence))
        return w.bytes
    }

    /// The producer and transaction a begin entry opens, or nil for any other data.
    public static func transactionBegun(_ data: [UInt8]) -> (producerID: Int64, mark: TransactionMark)? {
        guard data.count == transactionBeginBytes, data.prefix(4).elementsEqual(transactionBeginMagic) else { return nil }
        var r = ByteReader(data, offset: 4)
        guard (try? r.u32()) == 1, let pid = try? r.u64(), let epoch = try? r.u32(), let sequence = try? r.u32() else { return nil }
        return (Int64(bitPattern: pid), TransactionMark(epoch: Int16(bitPattern: UInt16(truncatingIfNeeded: epoch)), sequence: Int32(bitPattern: sequence)))
    }
}
