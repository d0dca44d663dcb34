/// The S3-FIFO bookkeeping of one database within one shard (hung on its ``KeyTable``, so SWAPDB and FLUSHDB
/// carry it along): the small FIFO queue, the ghost filter of keys recently evicted from it, and the CLOCK hand
/// of the main part.
///
/// The small queue is a ring of 8-byte items: bits 0...47 of the key's hash (enough to find its slot and confirm
/// it) and a 16-bit ticket that the entry's access field repeats. An item whose key was deleted, moved out of the
/// queue or re-created no longer matches and is dropped when it reaches the head, so deletions never search the
/// queue. The ring's capacity follows its length (growing by half when full, cut to 125% of it below a half), so
/// it costs 8 to 16 bytes per small-queue key (10% of the keys).
///
/// The main part has no queue at all: the hand sweeps the key table's slots (a random but fixed order, which is
/// all CLOCK needs), decrementing each key's frequency and evicting the first that has none left.
///
/// The ghost filter is a direct-mapped table of 8-bit fingerprints with two slots per key of the table (the paper's
/// ghost queue remembers as many keys as the main queue holds; a direct-mapped table forgets at random instead of
/// in FIFO order, and twice the slots make up for it): about 2 bytes per key.
///
/// Not thread-safe: used under the owning shard's lock.
final class S3FIFOState {
    static let hashMask: UInt64 = (1 << 48) - 1
    static let minimumRing = 16

    /// The small queue's ring: `ringCount` items from `ringHead` on, oldest first.
    private var ring: UnsafeMutablePointer<UInt64>
    private(set) var ringCapacity: Int
    private var ringHead = 0
    private(set) var ringCount = 0
    /// Keys whose entry says they are in the small queue (the ring also holds stale items).
    var smallCount = 0
    var nextTicket: UInt32 = 1
    /// Where the main part's CLOCK hand is (a slot index, masked by the table's current size).
    var hand = 0
    /// Fingerprints of keys evicted from the small queue (0: empty).
    private var ghost: UnsafeMutablePointer<UInt8>?
    private(set) var ghostCount = 0

    init() {
        ringCapacity = Self.minimumRing
        ring = .allocate(capacity: ringCapacity)
    }

    deinit {
        ring.deallocate()
        ghost?.deallocate()
    }

    /// Bytes this state holds (counted in used_memory): the ring, the ghost filter and the object itself.
    var memoryBytes: Int { ringCapacity * 8 + ghostCount + 64 }

    // MARK: Small queue

    /// Appends a key to the small queue; returns the ticket to store in its entry.
    func enqueueSmall(hash: UInt64) -> UInt32 {
        let ticket = nextTicket
        nextTicket = nextTicket == 0xFFFF ? 1 : nextTicket + 1
        if ringCount == ringCapacity { resizeRing(to: ringCapacity + ringCapacity / 2) }
        var tail = ringHead + ringCount
        if tail >= ringCapacity { tail -= ringCapacity }
        ring[tail] = UInt64(ticket) << 48 | (hash & Self.hashMask)
        ringCount += 1
        smallCount += 1
        return ticket
    }

    /// The oldest small-queue item, removed; nil when the queue is empty.
    func popSmall() -> UInt64? {
        guard ringCount > 0 else { return nil }
        let item = ring[ringHead]
        ringHead += 1
        if ringHead == ringCapacity { ringHead = 0 }
        ringCount -= 1
        if ringCapacity > Self.minimumRing && ringCount * 2 < ringCapacity {
            resizeRing(to: max(Self.minimumRing, ringCount + ringCount / 4))
        }
        return item
    }

    private func resizeRing(to capacity: Int) {
        let new = UnsafeMutablePointer<UInt64>.allocate(capacity: capacity)
        for i in 0..<ringCount {
            let index = ringHead + i
            new[i] = ring[index >= ringCapacity ? index - ringCapacity : index]
        }
        ring.deallocate()
        ring = new
        ringCapacity = capacity
        ringHead = 0
    }

    // MARK: Ghost filter

    /// Sizes the ghost filter for a table of `keys` keys: two slots per key, rounded up to 64. The filter is
    /// emptied when it is reallocated, which happens only when the key count doubles or drops below a quarter.
    func sizeGhost(forKeys keys: Int) {
        let wanted = max(64, (2 * keys + 63) & ~63)
        guard ghostCount < keys || ghostCount > 8 * max(keys, 32) else { return }
        ghost?.deallocate()
        let table = UnsafeMutablePointer<UInt8>.allocate(capacity: wanted)
        table.initialize(repeating: 0, count: wanted)
        ghost = table
        ghostCount = wanted
    }

    @inline(__always)
    private static func fingerprint(_ hash: UInt64) -> UInt8 {
        let f = UInt8(truncatingIfNeeded: hash >> 40)
        return f == 0 ? 1 : f
    }

    /// The ghost slot of a hash: bits 0...31, scaled to the table size (Lemire's multiply-shift range reduction).
    @inline(__always)
    private func ghostIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: ((hash & 0xFFFF_FFFF) &* UInt64(ghostCount)) >> 32)
    }

    /// Remembers a key evicted from the small queue.
    func addGhost(hash: UInt64) {
        guard let ghost else { return }
        ghost[ghostIndex(hash)] = Self.fingerprint(hash)
    }

    /// Whether the key was evicted from the small queue recently; forgets it if so.
    func takeGhost(hash: UInt64) -> Bool {
        guard let ghost else { return false }
        let index = ghostIndex(hash)
        guard ghost[index] == Self.fingerprint(hash) else { return false }
        ghost[index] = 0
        return true
    }
}

/// Bit layout of the access field under S3-FIFO.
enum S3Bits {
    static let frequencyMask: UInt32 = 0x3
    static let smallFlag: UInt32 = 0x4

    @inline(__always)
    static func ticket(_ access: UInt32) -> UInt32 { access >> 8 }

    @inline(__always)
    static func small(ticket: UInt32) -> UInt32 { ticket << 8 | smallFlag }

    /// One access: the frequency saturates at 3.
    @inline(__always)
    static func touched(_ access: UInt32) -> UInt32 {
        access & frequencyMask == frequencyMask ? access : access + 1
    }
}
