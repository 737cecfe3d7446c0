// The project's own PRNG, so that a seed means the same run on any toolchain: the standard library
// does not promise that `random(in:using:)` or `shuffled(using:)` keep drawing the same values
// across releases. xoshiro256** seeded through SplitMix64, as TigerBeetle's stdx.PRNG does, with
// integer-only helpers (no floating point in decisions).

/// Deterministic, seedable random number generator (xoshiro256**).
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(&sm)
        s1 = splitMix(&sm)
        s2 = splitMix(&sm)
        s3 = splitMix(&sm)
        // xoshiro must not start from the all-zero state; SplitMix64 cannot produce four zeros in a row,
        // but assert the negative space anyway.
        precondition(s0 | s1 | s2 | s3 != 0, "SeededRandom: all-zero state")
    }

    @inlinable static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 &- k)) }

    public mutating func next() -> UInt64 {
        let result = SeededRandom.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = SeededRandom.rotl(s3, 45)
        return result
    }

    /// A uniform value in 0..<bound, by Lemire's multiply-shift with rejection (no modulo bias).
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0, "below(0) has no values")
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// A uniform integer in the closed range.
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) + 1
        return range.lowerBound + Int(below(span))
    }

    /// True with probability numerator/denominator.
    public mutating func chance(_ numerator: UInt64, in denominator: UInt64) -> Bool {
        precondition(denominator > 0 && numerator <= denominator, "chance \(numerator)/\(denominator)")
        return below(denominator) < numerator
    }

    /// True with probability ppm / 1,000,000 (parts per million keep probabilities integral).
    public mutating func chance(ppm: UInt32) -> Bool { below(1_000_000) < UInt64(ppm) }

    /// A new generator seeded from this one: independent streams per subsystem, so adding a draw in
    /// one place does not reshuffle every other decision of the run.
    public mutating func fork() -> SeededRandom { SeededRandom(seed: next()) }

    /// Fisher-Yates shuffle with this generator (the stdlib's shuffle algorithm is not pinned).
    public mutating func shuffle<T>(_ array: inout [T]) {
        guard array.count > 1 else { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = Int(below(UInt64(i + 1)))
            array.swapAt(i, j)
        }
    }

    /// An exponentially distributed value with the given mean, integer arithmetic only: inverse
    /// transform with -ln(U) approximated from the bit length of U (heavy tail kept, shape approximate).
    public mutating func exponential(mean: UInt64) -> UInt64 {
        // -ln(U) for U uniform in (0,1]: draw u in 1...2^32; -ln(u/2^32) ≈ (32 - log2(u)) * ln 2.
        // log2 is taken with 8 fractional bits from the leading bits of u.
        let u = (next() >> 32) | 1
        let lz = UInt64(u.leadingZeroBitCount - 32)  // 0...31 for a 32-bit value
        let mantissa = (u << (lz + 32)) >> 56  // top 8 bits after the leading one, 128...255
        // log2(1 + f) ≈ f for the fraction f = (mantissa - 128) / 128 (max error ~0.086 in log2).
        let fracLog2x256 = (mantissa - 128) * 2
        let negLog2x256 = lz * 256 + 256 - fracLog2x256  // 1 + lz - f, times 256
        // ln 2 ≈ 177/256.
        return mean * negLog2x256 * 177 / (256 * 256)
    }
}
