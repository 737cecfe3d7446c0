/// Kafka's default key partitioner: murmur2 (Kafka's variant, seed 0x9747b28c) of the key bytes,
/// made positive, modulo the partition count — so a key lands on the same partition as with the
/// Java client, librdkafka's `murmur2_random` and kafka-python.
public enum Partitioner {
    /// Kafka's `Utils.murmur2`, as an unsigned 32-bit value.
    public static func murmur2(_ data: [UInt8]) -> UInt32 {
        let seed: UInt32 = 0x9747_b28c
        let m: UInt32 = 0x5bd1_e995
        let r: UInt32 = 24
        let length = data.count
        var h = seed ^ UInt32(truncatingIfNeeded: length)
        var i = 0
        while i + 4 <= length {
            var k = UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24
            k = k &* m
            k ^= k >> r
            k = k &* m
            h = h &* m
            h ^= k
            i += 4
        }
        let rest = length - i
        if rest >= 3 { h ^= UInt32(data[i + 2]) << 16 }
        if rest >= 2 { h ^= UInt32(data[i + 1]) << 8 }
        if rest >= 1 {
            h ^= UInt32(data[i])
            h = h &* m
        }
        h ^= h >> 13
        h = h &* m
        h ^= h >> 15
        return h
    }

    /// The partition of `key` among `count` partitions (Kafka's `toPositive(murmur2(key)) % count`).
    public static func partition(forKey key: [UInt8], count: Int) -> Int {
        precondition(count > 0, "a topic has at least one partition")
        return Int(murmur2(key) & 0x7fff_ffff) % count
    }
}
