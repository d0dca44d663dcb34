/// The S3-FIFO bookkeeping of one database within one shard (hung on its ``KeyTable``, so SWAPDB and FLUSHDB
/// carry it along): the small FIFO queue, the ghost filter of keys recently evicted from it, and the CLOCK hand
/// of the main part.
///
/// The small queue holds 8-byte items: bits 0...47 of the key's hash (enough to find its slot and confirm it)
/// and a 16-bit ticket that the entry's access field repeats. An item whose key was deleted, moved out of the
/// queue or re-created no longer matches and is dropped when it reaches the head, so deletions never search the
/// queue. The main part has no queue at all: the hand sweeps the key table's slots (a random but fixed order,
/// which is all CLOCK needs), decrementing each key's frequency and evicting the first that has none left.
///
/// Not thread-safe: used under the owning shard's lock.
final class S3FIFOState {
    static let hashMask: UInt64 = (1 << 48) - 1

    /// Items of the small queue, oldest at `head`.
    private(set) var items: [UInt64] = []
    private(set) var head = 0
    /// Keys whose entry says they are in the small queue.
    var smallCount = 0
    var nextTicket: UInt32 = 1
    /// Where the main part's CLOCK hand is (a slot index, masked by the table's current size).
    var hand = 0
    /// Direct-mapped fingerprints of keys evicted from the small queue (0: empty).
    private(set) var ghost: [UInt16] = []

    /// Bytes this state holds (counted in used_memory).
    var memoryBytes: Int { items.capacity * 8 + ghost.capacity * 2 + 64 }

    var queuedItems: Int { items.count - head }

    /// Appends a key to the small queue; returns the ticket to store in its entry.
    func enqueueSmall(hash: UInt64) -> UInt32 {
        let ticket = nextTicket
        nextTicket = nextTicket == 0xFFFF ? 1 : nextTicket + 1
        if head > 32 && head * 2 > items.count {
            // Drop the consumed prefix; reallocate when the array is much larger than what it holds.
            let live = items.count - head
            if items.capacity > 4 * live + 64 {
                var compact: [UInt64] = []
                compact.reserveCapacity(2 * live + 16)
                compact.append(contentsOf: items[head...])
                items = compact
            } else {
                items.removeFirst(head)
            }
            head = 0
        }
        items.append(UInt64(ticket) << 48 | (hash & Self.hashMask))
        smallCount += 1
        return ticket
    }

    /// The oldest small-queue item, removed; nil when the queue is empty.
    func popSmall() -> UInt64? {
        guard head < items.count else {
            if !items.isEmpty {
                items.removeAll(keepingCapacity: items.capacity <= 4096)
                head = 0
            }
            return nil
        }
        let item = items[head]
        head += 1
        return item
    }

    /// Sizes the ghost filter to the table's key count (reset when it has to grow or shrink a lot).
    func sizeGhost(forKeys keys: Int) {
        var size = 64
        while size < keys { size <<= 1 }
        if ghost.count < size || ghost.count > size * 4 {
            ghost = [UInt16](repeating: 0, count: size)
        }
    }

    @inline(__always)
    private static func fingerprint(_ hash: UInt64) -> UInt16 {
        UInt16(truncatingIfNeeded: hash >> 48) | 1
    }

    @inline(__always)
    private func ghostIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: (hash >> 20) ^ (hash >> 40)) & (ghost.count - 1)
    }

    /// Remembers a key evicted from the small queue.
    func addGhost(hash: UInt64) {
        guard !ghost.isEmpty else { return }
        ghost[ghostIndex(hash)] = Self.fingerprint(hash)
    }

    /// Whether the key was evicted from the small queue recently; forgets it if so.
    func takeGhost(hash: UInt64) -> Bool {
        guard !ghost.isEmpty else { return false }
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
