/// A fast, seeded 64-bit hash over bytes, used to pick a key's shard and its home slot.
///
/// It reads eight bytes at a time and mixes with a 64×64→128-bit multiply, folding the halves (the "multiply and
/// fold" construction of the wyhash family). The seed is chosen at random per process so that an attacker cannot
/// precompute colliding keys.

struct KeyHasher: Sendable {
    let seed: UInt64

    static let k0: UInt64 = 0xa076_1d64_78bd_642f
    static let k1: UInt64 = 0xe703_7ed1_a0b4_28db
    static let k2: UInt64 = 0x8ebc_6af0_9c88_c6e3

    init(seed: UInt64) {
        self.seed = seed
    }

    @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inline(__always)
    static func load64(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inline(__always)
    static func load32(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    /// Hashes `bytes`.
    
    func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let count = bytes.count
        var state = seed ^ Self.fold(seed ^ Self.k0, UInt64(truncatingIfNeeded: count) ^ Self.k1)
        guard let base = bytes.baseAddress, count > 0 else {
            return Self.fold(state ^ Self.k2, Self.k1)
        }
        var a: UInt64
        var b: UInt64
        if count <= 16 {
            if count >= 4 {
                let tail = count - 4
                let mid = (count >> 3) << 2
                a = (Self.load32(base, 0) << 32) | Self.load32(base, mid)
                b = (Self.load32(base, tail) << 32) | Self.load32(base, tail - mid)
            } else {
                a = (UInt64(base.load(as: UInt8.self)) << 16)
                    | (UInt64(base.load(fromByteOffset: count >> 1, as: UInt8.self)) << 8)
                    | UInt64(base.load(fromByteOffset: count - 1, as: UInt8.self))
                b = 0
            }
        } else {
            var offset = 0
            var remaining = count
            while remaining > 16 {
                state = Self.fold(Self.load64(base, offset) ^ Self.k1, Self.load64(base, offset + 8) ^ state)
                offset += 16
                remaining -= 16
            }
            a = Self.load64(base, count - 16)
            b = Self.load64(base, count - 8)
        }
        a ^= Self.k1
        b ^= state
        let mixed = a.multipliedFullWidth(by: b)
        return Self.fold(mixed.low ^ Self.k0 ^ UInt64(truncatingIfNeeded: count), mixed.high ^ Self.k1)
    }
}
