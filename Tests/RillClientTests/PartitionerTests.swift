import RillClient
import Testing

struct PartitionerTests {
    /// murmur2 values from kafka-python 3.0.12's `kafka.partitioner.default.murmur2` (the first
    /// five are also Kafka's own `UtilsTest` vectors, as signed ints), and the partition among 6.
    @Test("murmur2 matches the Kafka clients; keys land on the same partitions", arguments: [
        ("21", UInt32(3_321_034_988), 0),
        ("foobar", 3_504_634_814, 0),
        ("a-little-bit-long-string", 3_308_985_760, 2),
        ("a-little-bit-longer-string", 2_808_662_467, 5),
        ("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", 4_236_069_325, 5),
        ("abc", 479_470_107, 3),
        ("", 275_646_681, 3),
        ("key-1", 193_331_640, 0),
    ])
    func vectors(_ key: String, _ hash: UInt32, _ partition: Int) {
        #expect(Partitioner.murmur2(Array(key.utf8)) == hash)
        #expect(Partitioner.partition(forKey: Array(key.utf8), count: 6) == partition)
    }

    @Test("non-ASCII bytes hash as bytes")
    func bytes() {
        #expect(Partitioner.murmur2([0x6B, 0xE9, 0x79]) == 2_443_645_723)
    }
}
