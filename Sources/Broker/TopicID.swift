import KafkaProtocol
import Primitives

extension TopicState {
    /// The topic's Kafka id (KIP-516), fixed at creation: derived from its name and its first
    /// partition's Raft group, which the controller hands out once and never again. So a topic
    /// deleted and created anew under the same name gets a new id, every node computes the same
    /// id from the committed controller state, and no format change was needed to keep it.
    static func id(name: String, firstGroup: GroupID?) -> KafkaUUID {
        // FNV-1a over the name, then SplitMix64 steps mixing in the group id.
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in name.utf8 {
            h ^= UInt64(b)
            h = h &* 0x0000_0100_0000_01b3
        }
        let group = UInt64(firstGroup?.value ?? 0)
        var high = Self.mix(h ^ group)
        let low = Self.mix(high ^ 0x9e37_79b9_7f4a_7c15 ^ group << 32)
        // Kafka never hands out an id whose text starts with '-' (command lines take it for an
        // option): keep the top bit clear. Never zero (zero means "no id").
        high &= 0x7fff_ffff_ffff_ffff
        if high == 0 && low == 0 { high = 1 }
        return KafkaUUID(high: high, low: low)
    }

    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9e37_79b9_7f4a_7c15
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension ControllerState {
    public func topic(id: KafkaUUID) -> TopicState? { topics.first { $0.id == id } }
}
