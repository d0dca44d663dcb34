#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An open-addressing map from byte strings to dense `UInt32` IDs whose bytes the owner keeps (in an array indexed
/// by ID), so that a lookup by a borrowed `UnsafeRawBufferPointer` allocates nothing.
///
/// Each slot packs the low 32 bits of the key's hash and `id + 1` (0 marks an empty slot). Linear probing; removal
/// shifts the following entries back, so there are no tombstones. The table doubles when it is 3/4 full.
///
/// The hash is seeded per process (see ``hash(_:)``), so that colliding keys cannot be precomputed.
struct ByteKeyTable {
    private var slots: [UInt64] = []
    private(set) var count = 0

    private static let seed: UInt64 = .random(in: 1...UInt64.max)

    /// A fast seeded hash of `bytes` (eight bytes at a time, multiply-xorshift mixing).
    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = seed ^ (UInt64(truncatingIfNeeded: bytes.count) &* 0x9E37_79B9_7F4A_7C15)
        var tail: UInt64 = 0
        if let base = bytes.baseAddress {
            var offset = 0
            let count = bytes.count
            while offset + 8 <= count {
                h = mix(h ^ base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                offset += 8
            }
            var shift: UInt64 = 0
            while offset < count {
                tail |= UInt64(base.load(fromByteOffset: offset, as: UInt8.self)) << shift
                shift += 8
                offset += 1
            }
        }
        return mix(h ^ tail)
    }

    @inline(__always)
    private static func mix(_ value: UInt64) -> UInt64 {
        var x = value &* 0xBF58_476D_1CE4_E5B9
        x ^= x >> 31
        x = x &* 0x94D0_49BB_1331_11EB
        return x ^ (x >> 29)
    }

    private var mask: Int { slots.count - 1 }

    /// The ID stored for the key hashed to `hash`, where `matches(id)` tells whether an ID's bytes are the key.
    @inline(__always)
    func find(hash: UInt64, _ matches: (UInt32) -> Bool) -> UInt32? {
        guard count > 0 else { return nil }
        let tag = hash & 0xFFFF_FFFF
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let slot = slots[i]
            if slot == 0 { return nil }
            if slot >> 32 == tag {
                let id = UInt32(truncatingIfNeeded: slot) &- 1
                if matches(id) { return id }
            }
            i = (i + 1) & mask
        }
    }

    /// Adds `id` for a key (hashed to `hash`) that is not in the table.
    mutating func insert(hash: UInt64, id: UInt32) {
        if (count + 1) * 4 > slots.count * 3 { grow() }
        place(((hash & 0xFFFF_FFFF) << 32) | UInt64(id &+ 1))
        count += 1
    }

    private mutating func place(_ entry: UInt64) {
        var i = Int(truncatingIfNeeded: entry >> 32) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = entry
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: Swift.max(16, old.count * 2))
        for entry in old where entry != 0 { place(entry) }
    }

    /// Removes `id`, stored for a key hashed to `hash`; returns false if it was not there.
    @discardableResult
    mutating func remove(hash: UInt64, id: UInt32) -> Bool {
        guard count > 0 else { return false }
        let entry = ((hash & 0xFFFF_FFFF) << 32) | UInt64(id &+ 1)
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] != entry {
            if slots[i] == 0 { return false }
            i = (i + 1) & mask
        }
        // Backward-shift deletion: move later entries of the probe run into the hole when their home allows it.
        var hole = i
        var j = (i + 1) & mask
        while slots[j] != 0 {
            let home = Int(truncatingIfNeeded: slots[j] >> 32) & mask
            // The entry at j may fill the hole if its home is not cyclically in (hole, j].
            let distanceToHome = (j - home) & mask
            let distanceToHole = (j - hole) & mask
            if distanceToHome >= distanceToHole {
                slots[hole] = slots[j]
                hole = j
            }
            j = (j + 1) & mask
        }
        slots[hole] = 0
        count -= 1
        return true
    }

    /// Removes everything.
    mutating func removeAll() {
        slots = []
        count = 0
    }
}

/// Byte strings interned to dense IDs (an ID freed by removal is reused), found by borrowed bytes without
/// allocating: document keys and tags.
struct ByteInterner {
    private(set) var table = ByteKeyTable()
    /// The bytes of each ID; nil for a free ID.
    private(set) var bytes: [[UInt8]?] = []
    private var free: [UInt32] = []

    /// Number of interned byte strings.
    var count: Int { table.count }

    /// The ID of `key` (hashed to `hash` by ``ByteKeyTable/hash(_:)``), if interned.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UInt32? {
        table.find(hash: hash) { id in
            bytes[Int(id)]!.withUnsafeBytes {
                $0.count == key.count && (key.count == 0 || memcmp($0.baseAddress!, key.baseAddress!, key.count) == 0)
            }
        }
    }

    /// Interns `key`, which is not interned yet, and returns its ID (a reused one, or `bytes.count - 1`).
    mutating func add(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UInt32 {
        let id: UInt32
        if let reused = free.popLast() {
            id = reused
            bytes[Int(id)] = Array(key)
        } else {
            id = UInt32(bytes.count)
            bytes.append(Array(key))
        }
        table.insert(hash: hash, id: id)
        return id
    }

    /// Frees `id`, whose bytes hash to `hash`.
    mutating func remove(_ id: UInt32, hash: UInt64) {
        table.remove(hash: hash, id: id)
        bytes[Int(id)] = nil
        free.append(id)
    }

    mutating func removeAll() {
        self = ByteInterner()
    }

    /// Every ID is either interned or free.
    var isConsistent: Bool { table.count + free.count == bytes.count }
}
