/// Backpressure on one Kafka connection: how much of what it sent is still unanswered. Past the
/// budget the connection is not read until answers go out, so TCP pushes back on the client.
/// Without it a pipelining producer (librdkafka sends up to a million requests unanswered) had a
/// node hold gigabytes of pending Produce requests: 2 GB resident on the leader of one partition
/// at 1 KiB records, 1.4 GB on each node with a thousand. (Kafka reads one request per
/// connection at a time; pipelining within a budget keeps group commit fed.)
struct KafkaReadBudget {
    /// Unanswered request bytes past which reading stops.
    let bytesMax: Int
    /// Unanswered requests past which reading stops (small requests: metadata, fetch polls).
    let requestsMax: Int
    private var sizes: [UInt64: Int] = [:]
    private(set) var bytes = 0

    init(bytesMax: Int = 16 * 1024 * 1024, requestsMax: Int = 1024) {
        precondition(bytesMax > 0 && requestsMax > 0)
        self.bytesMax = bytesMax
        self.requestsMax = requestsMax
    }

    /// Request `sequence` of `size` bytes was read.
    mutating func read(_ sequence: UInt64, size: Int) {
        sizes[sequence] = size
        bytes += size
    }

    /// Request `sequence` was answered (or needs no answer).
    mutating func answered(_ sequence: UInt64) {
        if let size = sizes.removeValue(forKey: sequence) { bytes -= size }
    }

    /// Whether the connection may be read now.
    var mayRead: Bool { bytes < bytesMax && sizes.count < requestsMax }

    var pending: Int { sizes.count }
}
