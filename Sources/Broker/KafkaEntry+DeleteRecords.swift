import Raft

/// The entry DeleteRecords writes to a partition's log: every replica that applies it moves the
/// partition's log start offset (`NodeCore.Group.recordsDeletedBelow`), as Kafka's leader and
/// followers move theirs; being in the log, it survives crashes and reaches a follower that was
/// away, in order with the records. It takes no Kafka offsets and is never served by Fetch.
///
///     u32 magic "RDEL" | u32 version (1) | u64 offset
///
/// Sixteen bytes: shorter than any record batch header, so it never reads as a batch.
extension KafkaEntry {
    static let deleteRecordsMagic: [UInt8] = Array("RDEL".utf8)
    static let deleteRecordsBytes = 16

    /// The data of an entry deleting the records below `offset`.
    public static func deleteRecords(below offset: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.raw(deleteRecordsMagic)
        w.u32(1)
        w.u64(offset)
        return w.bytes
    }

    /// The offset a DeleteRecords entry deletes below, or nil for any other data.
    public static func deleteRecordsOffset(_ data: [UInt8]) -> UInt64? {
        guard data.count == deleteRecordsBytes, data.prefix(4).elementsEqual(deleteRecordsMagic) else { return nil }
        var r = ByteReader(data, offset: 4)
        guard (try? r.u32()) == 1 else { return nil }
        return try? r.u64()
    }
}
