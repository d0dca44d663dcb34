/// One database's keys within one shard: an open-addressing hash table with linear probing.
///
/// A slot is one `UInt64`: 0 is empty, 1 is a deleted slot (tombstone), anything else holds a 16-bit hash tag in
/// bits 48...63 and a ``CellRef`` to the entry in bits 0...47. The tag rejects most non-matching probes without
/// touching the entry. The table grows at 75% load (live plus deleted slots) and shrinks below 12.5%.
///
/// Linear probing keeps every key whose home slot is `b` in the run of non-empty slots that starts at `b`, so
/// SCAN can walk home slots in Redis's reverse-binary cursor order and keep Redis's guarantee (every key present for
/// the whole scan is returned at least once) across resizes.
///
/// Not thread-safe: used under the owning shard's lock.
final class KeyTable {
    static let emptySlot: UInt64 = 0
    static let deletedSlot: UInt64 = 1
    static let refMask: UInt64 = (1 << 48) - 1
    static let minimumCapacity = 8

    private(set) var slots: UnsafeMutablePointer<UInt64>
    private(set) var mask: Int
    private(set) var count = 0
    private(set) var deleted = 0
    /// Keys that carry an expiry time.
    var volatileCount = 0
    /// Where the active expiry sweep resumes.
    var sweepCursor = 0
    /// The S3-FIFO queues of this database's keys in this shard, while that policy is selected.
    var s3: S3FIFOState?
    /// Counts the times the slots were rearranged (resize, removeAll): a snapshot copying the table in slices
    /// restarts its scan when it changed, since entries may have moved behind its cursor.
    private(set) var generation = 0

    init() {
        slots = .allocate(capacity: Self.minimumCapacity)
        slots.initialize(repeating: Self.emptySlot, count: Self.minimumCapacity)
        mask = Self.minimumCapacity - 1
    }

    deinit {
        slots.deallocate()
    }

    var capacity: Int { mask + 1 }

    /// Bytes held by the slot array.
    var slotBytes: Int { capacity * 8 }

    @inline(__always)
    static func tag(_ hash: UInt64) -> UInt64 {
        (hash >> 32) & 0xFFFF
    }

    @inline(__always)
    func ref(at slot: Int) -> CellRef {
        slots[slot] & Self.refMask
    }

    @inline(__always)
    func isLive(_ slot: Int) -> Bool {
        slots[slot] > Self.deletedSlot
    }

    /// The address of the slot `hash` probes first, valid until the table grows. Reading it ahead of a store
    /// brings its cache line in early (the snapshot loader reads a batch of them before storing the batch).
    @inline(__always)
    func homeSlotAddress(of hash: UInt64) -> UnsafePointer<UInt64> {
        UnsafePointer(slots + (Int(truncatingIfNeeded: hash) & mask))
    }

    /// The slot holding `key`, or -1.
    @inline(__always)
    func find(_ key: UnsafeRawBufferPointer, hash: UInt64, slab: SlabAllocator) -> Int {
        findCell(key, hash: hash, slab: slab).slot
    }

    /// The slot holding `key` and its entry's cell, or (-1, nil): one probe gives both, so a reader does not
    /// decode the slot's reference into a cell address again.
    @inline(__always)
    func findCell(
        _ key: UnsafeRawBufferPointer,
        hash: UInt64,
        slab: SlabAllocator
    ) -> (slot: Int, cell: UnsafeMutableRawPointer?) {
        let tag = Self.tag(hash)
        let slots = self.slots
        let mask = self.mask
        var i = Int(truncatingIfNeeded: hash) & mask
        while true {
            let s = slots[i]
            if s == Self.emptySlot { return (-1, nil) }
            // A deleted slot (1) has tag 0 but never matches: its reference part is 1, not a cell.
            if s &>> 48 == tag && s != Self.deletedSlot {
                let cell = slab.pointer(s & Self.refMask)
                if Entry(cell).keyEquals(key) { return (i, cell) }
            }
            i = (i &+ 1) & mask
        }
    }

    /// Inserts a key known to be absent; grows first if needed. Returns its slot.
    @discardableResult
    func insert(_ ref: CellRef, hash: UInt64, hasher: KeyHasher, slab: SlabAllocator) -> Int {
        if (count + deleted + 1) * 4 > capacity * 3 {
            resize(to: Self.capacity(for: count + 1), hasher: hasher, slab: slab)
        }
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i] > Self.deletedSlot {
            i = (i &+ 1) & mask
        }
        if slots[i] == Self.deletedSlot { deleted -= 1 }
        slots[i] = (Self.tag(hash) << 48) | ref
        count += 1
        return i
    }

    /// Points an occupied slot at a new cell (the entry moved); the tag stays.
    @inline(__always)
    func replace(at slot: Int, with ref: CellRef) {
        slots[slot] = (slots[slot] & ~Self.refMask) | ref
    }

    /// Empties a slot; the caller frees the cell. May shrink the table.
    func remove(at slot: Int, hasher: KeyHasher, slab: SlabAllocator) {
        count -= 1
        if slots[(slot &+ 1) & mask] == Self.emptySlot {
            // The run ends here: this slot and any deleted slots before it can become empty.
            slots[slot] = Self.emptySlot
            var j = (slot &- 1) & mask
            while slots[j] == Self.deletedSlot {
                slots[j] = Self.emptySlot
                deleted -= 1
                j = (j &- 1) & mask
            }
        } else {
            slots[slot] = Self.deletedSlot
            deleted += 1
        }
        if capacity > Self.minimumCapacity && count * 8 < capacity {
            resize(to: Self.capacity(for: count), hasher: hasher, slab: slab)
        }
    }

    /// Drops every slot (the caller frees the cells).
    func removeAll() {
        generation &+= 1
        slots.deallocate()
        slots = .allocate(capacity: Self.minimumCapacity)
        slots.initialize(repeating: Self.emptySlot, count: Self.minimumCapacity)
        mask = Self.minimumCapacity - 1
        count = 0
        deleted = 0
        volatileCount = 0
        sweepCursor = 0
        s3 = nil
    }

    /// The smallest power-of-two capacity that holds `keys` at ≤ 50% load.
    static func capacity(for keys: Int) -> Int {
        var capacity = minimumCapacity
        while capacity < keys * 2 { capacity <<= 1 }
        return capacity
    }

    func resize(to newCapacity: Int, hasher: KeyHasher, slab: SlabAllocator) {
        let old = slots
        let oldCapacity = capacity
        generation &+= 1
        slots = .allocate(capacity: newCapacity)
        slots.initialize(repeating: Self.emptySlot, count: newCapacity)
        mask = newCapacity - 1
        deleted = 0
        for j in 0..<oldCapacity {
            let s = old[j]
            guard s > Self.deletedSlot else { continue }
            let hash = hasher.hash(Entry(slab.pointer(s & Self.refMask)).key)
            var i = Int(truncatingIfNeeded: hash) & mask
            while slots[i] != Self.emptySlot {
                i = (i &+ 1) & mask
            }
            slots[i] = s
        }
        old.deallocate()
        sweepCursor &= mask
    }

    /// Calls `body` with the slot of every live key whose home slot is `home`.
    @inline(__always)
    func forEachKey(home: Int, hasher: KeyHasher, slab: SlabAllocator, _ body: (Int) -> Void) {
        var i = home & mask
        while slots[i] != Self.emptySlot {
            let s = slots[i]
            if s != Self.deletedSlot {
                let hash = hasher.hash(Entry(slab.pointer(s & Self.refMask)).key)
                if Int(truncatingIfNeeded: hash) & mask == home & mask { body(i) }
            }
            i = (i &+ 1) & mask
        }
    }

    /// Advances a reverse-binary cursor over home slots (Redis's SCAN order); 0 after the last slot.
    static func nextCursor(_ cursor: Int, mask: Int) -> Int {
        var v = UInt64(truncatingIfNeeded: cursor) | ~UInt64(mask)
        v = v.bitReversed
        v &+= 1
        v = v.bitReversed
        return Int(truncatingIfNeeded: v)
    }
}

extension UInt64 {
    var bitReversed: UInt64 {
        var v = self
        v = ((v >> 1) & 0x5555_5555_5555_5555) | ((v & 0x5555_5555_5555_5555) << 1)
        v = ((v >> 2) & 0x3333_3333_3333_3333) | ((v & 0x3333_3333_3333_3333) << 2)
        v = ((v >> 4) & 0x0F0F_0F0F_0F0F_0F0F) | ((v & 0x0F0F_0F0F_0F0F_0F0F) << 4)
        v = ((v >> 8) & 0x00FF_00FF_00FF_00FF) | ((v & 0x00FF_00FF_00FF_00FF) << 8)
        v = ((v >> 16) & 0x0000_FFFF_0000_FFFF) | ((v & 0x0000_FFFF_0000_FFFF) << 16)
        return (v >> 32) | (v << 32)
    }
}
