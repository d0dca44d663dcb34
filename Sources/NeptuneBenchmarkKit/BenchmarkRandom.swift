/// A small, fast, seedable pseudo-random generator (xoshiro256**, seeded through SplitMix64).
///
/// The same seed always yields the same sequence, so a run's request stream can be reproduced with `--seed`.
/// It is not suitable for cryptography.
public struct BenchmarkRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator whose sequence is fully determined by `seed`.
    /// - Parameter seed: Any value; distinct seeds give unrelated sequences.
    public init(seed: UInt64) {
        var state = seed
        func splitMix(_ state: inout UInt64) -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        self.s0 = splitMix(&state)
        self.s1 = splitMix(&state)
        self.s2 = splitMix(&state)
        self.s3 = splitMix(&state)
    }

    /// Returns the next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = rotateLeft(self.s1 &* 5, 7) &* 9
        let t = self.s1 << 17
        self.s2 ^= self.s0
        self.s3 ^= self.s1
        self.s1 ^= self.s2
        self.s0 ^= self.s3
        self.s2 ^= t
        self.s3 = rotateLeft(self.s3, 45)
        return result
    }

    /// Returns a value uniformly distributed in `0 ..< upperBound` (multiply-shift; the bias is below 2^-32 for
    /// bounds under 2^32).
    /// - Parameter upperBound: A positive bound.
    @inline(__always)
    public mutating func nextIndex(below upperBound: Int) -> Int {
        Int(truncatingIfNeeded: UInt64(upperBound).multipliedFullWidth(by: self.next()).high)
    }

    /// Returns a value uniformly distributed in `0 ..< 1` with 53 bits of precision.
    @inline(__always)
    public mutating func nextUnitInterval() -> Double {
        Double(self.next() >> 11) * 0x1.0p-53
    }
}

@inline(__always)
private func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
    (value << count) | (value >> (64 - count))
}
