import CNeptuneIndex

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
/// shifts the following entries back, so there are no tombstones. The table doubles when it is 3/4 full. The slots
/// live in a ``WordBuffer`` (huge pages once large); copies of a table share them, so a table is never copied.
///
/// The hash is seeded per process (see ``hash(_:)``), so that colliding keys cannot be precomputed.
struct ByteKeyTable {
    private var slots = WordBuffer()
    /// Number of slots: 0 or a power of two.
    private var slotCount = 0
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

    private var mask: Int { slotCount - 1 }

    /// The ID stored for the key hashed to `hash`, where `matches(id)` tells whether an ID's bytes are the key.
    @inline(__always)
    func find(hash: UInt64, _ matches: (UInt32) -> Bool) -> UInt32? {
        guard count > 0 else { return nil }
        let tag = hash & 0xFFFF_FFFF
        let slots = self.slots.base
        let mask = self.mask
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
        if (count + 1) * 4 > slotCount * 3 { grow() }
        place(((hash & 0xFFFF_FFFF) << 32) | UInt64(id &+ 1))
        count += 1
    }

    private func place(_ entry: UInt64) {
        let slots = self.slots.base
        var i = Int(truncatingIfNeeded: entry >> 32) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = entry
    }

    private mutating func grow() {
        let old = slots
        let oldCount = slotCount
        slotCount = Swift.max(16, oldCount * 2)
        slots = WordBuffer(capacity: slotCount)
        for i in 0..<oldCount where old[i] != 0 { place(old[i]) }
    }

    /// Removes `id`, stored for a key hashed to `hash`; returns false if it was not there.
    @discardableResult
    mutating func remove(hash: UInt64, id: UInt32) -> Bool {
        guard count > 0 else { return false }
        let slots = self.slots.base
        let mask = self.mask
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
        self = ByteKeyTable()
    }
}

/// Byte strings interned to dense IDs (an ID freed by removal is reused), found by borrowed bytes without
/// allocating: document keys and tags.
///
/// Each ID has a row of ``stride`` words (a power of two, at least four) in one ``WordBuffer``: the length, then
/// up to ``inlineLimit`` bytes of the string itself (longer strings live in one shared byte arena), then the
/// owner's payload words (``payloadWords``). A row of eight words is one aligned cache line, so the search index
/// keeps each document's field values in its key's row: finding or checking a document and reading or writing its
/// values touch one line. Interning and releasing allocate nothing per string (the rows grow geometrically); a
/// released string's arena bytes are left as garbage and the arena is compacted once garbage is more than half of
/// it, so the cost stays amortized O(1). Payload words of a new ID start at zero.
///
/// The rows are shared by copies of an interner (and by the stores reading their payload), so an interner is never
/// copied. The lookups are `mutating` although they change nothing: the interners live in `var` properties of
/// classes, and a non-mutating call on such a property copies the struct first (retaining and releasing each of
/// its references), while a mutating one works in place.
struct ByteInterner {
    private(set) var table = ByteKeyTable()
    /// ``stride`` words per ID: the length with ``liveBit`` (0 for a free ID), then the inline bytes or the arena
    /// offset, then the payload.
    let rows = WordBuffer()
    /// log2 of ``stride``.
    let strideShift: Int
    /// Largest ID plus one.
    private(set) var idBound = 0
    /// Bytes of the strings longer than ``inlineLimit``.
    private var arena: [UInt8] = []
    /// Arena bytes of released strings.
    private var garbage = 0
    private var free: [UInt32] = []

    static let inlineLimit = 24
    /// Index of the first payload word in a row.
    static let payloadOffset = 4
    private static let liveBit: UInt64 = 1 << 63
    private static let lengthMask: UInt64 = 0xFFFF_FFFF

    /// An empty interner whose rows have room for `payloadWords` words of the owner's.
    init(payloadWords: Int = 0) {
        precondition(payloadWords >= 0)
        var shift = 2
        while 1 << shift < Self.payloadOffset + payloadWords { shift += 1 }
        strideShift = shift
    }

    /// Words per row.
    var stride: Int { 1 << strideShift }

    /// Number of payload words in each row.
    var payloadWords: Int { stride - Self.payloadOffset }

    /// Number of interned byte strings.
    var count: Int { table.count }

    /// Bytes in the arena, garbage included.
    var arenaCount: Int { arena.count }

    /// Whether `id` holds an interned string (rather than being free).
    @inline(__always)
    mutating func isLive(_ id: UInt32) -> Bool {
        Int(id) < idBound && rows[Int(id) << strideShift] & Self.liveBit != 0
    }

    /// Calls `body` with each live ID, ascending.
    mutating func forEachLive(_ body: (UInt32) throws -> Void) rethrows {
        let words = rows.base
        for id in 0..<idBound where words[id << strideShift] & Self.liveBit != 0 { try body(UInt32(id)) }
    }

    /// Calls `body` with the bytes of the live ID `id`.
    @inline(__always)
    mutating func withBytes<R>(_ id: UInt32, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let row = rows.base + (Int(id) << strideShift)
        let length = Int(truncatingIfNeeded: row.pointee & Self.lengthMask)
        if length <= Self.inlineLimit {
            return try body(UnsafeRawBufferPointer(start: UnsafeRawPointer(row + 1), count: length))
        }
        let offset = Int(truncatingIfNeeded: row[1])
        return try arena.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + length)])) }
    }

    /// A copy of the bytes of `id`, or nil if it is free.
    mutating func bytes(_ id: UInt32) -> [UInt8]? {
        guard isLive(id) else { return nil }
        return withBytes(id) { Array($0) }
    }

    /// Whether the live ID `id` holds exactly `key`.
    @inline(__always)
    mutating func equals(_ id: UInt32, _ key: UnsafeRawBufferPointer) -> Bool {
        withBytes(id) { stored in
            stored.count == key.count && (key.count == 0 || memcmp(stored.baseAddress!, key.baseAddress!, key.count) == 0)
        }
    }

    /// Starts fetching the row of `id` if there is one (`id` may be any value, such as a hint).
    @inline(__always)
    func prefetchRow(_ id: UInt32) {
        if Int(id) < idBound { neptune_prefetch(rows.base + (Int(id) << strideShift)) }
    }

    /// Whether `id` (any value: a hint that may be stale) is a live ID holding exactly `key`: one row read, no
    /// table probe.
    @inline(__always)
    mutating func holds(_ id: UInt32, _ key: UnsafeRawBufferPointer) -> Bool {
        isLive(id) && equals(id, key)
    }

    /// The ID of `key` (hashed to `hash` by ``ByteKeyTable/hash(_:)``), if interned.
    @inline(__always)
    mutating func find(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UInt32? {
        guard table.count > 0 else { return nil }
        let words = rows.base
        let shift = strideShift
        return arena.withUnsafeBytes { arena in
            table.find(hash: hash) { id in
                let row = words + (Int(id) << shift)
                let length = Int(truncatingIfNeeded: row.pointee & Self.lengthMask)
                guard length == key.count else { return false }
                if length == 0 { return true }
                let stored: UnsafeRawPointer
                if length <= Self.inlineLimit {
                    stored = UnsafeRawPointer(row + 1)
                } else {
                    stored = arena.baseAddress! + Int(truncatingIfNeeded: row[1])
                }
                return memcmp(stored, key.baseAddress!, length) == 0
            }
        }
    }

    /// Interns `key`, which is not interned yet, and returns its ID (a reused one, or `idBound - 1`); its payload
    /// words are zero.
    mutating func add(_ key: UnsafeRawBufferPointer, hash: UInt64) -> UInt32 {
        precondition(UInt64(key.count) < Self.lengthMask, "interned strings are shorter than 4 GiB")
        let id: UInt32
        if let reused = free.popLast() {
            id = reused
        } else {
            id = UInt32(idBound)
            rows.reserve((idBound + 1) << strideShift)
            idBound += 1
        }
        var offset = 0
        if key.count > Self.inlineLimit {
            if garbage > 65_536 && garbage * 2 > arena.count { compact() }
            offset = arena.count
            arena.append(contentsOf: key)
        }
        let row = rows.base + (Int(id) << strideShift)
        row.update(repeating: 0, count: stride)
        row.pointee = UInt64(key.count) | Self.liveBit
        if key.count <= Self.inlineLimit {
            if key.count > 0 { UnsafeMutableRawPointer(row + 1).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        } else {
            row[1] = UInt64(offset)
        }
        table.insert(hash: hash, id: id)
        return id
    }

    /// Frees `id`, whose bytes hash to `hash`.
    mutating func remove(_ id: UInt32, hash: UInt64) {
        table.remove(hash: hash, id: id)
        let word = Int(id) << strideShift
        let length = Int(truncatingIfNeeded: rows[word] & Self.lengthMask)
        if length > Self.inlineLimit { garbage += length }
        rows[word] = 0
        free.append(id)
    }

    /// Copies the live long strings into a new arena, dropping the garbage.
    private mutating func compact() {
        var packed: [UInt8] = []
        packed.reserveCapacity(arena.count - garbage)
        let old = arena
        for id in 0..<idBound {
            let base = id << strideShift
            let word = rows[base]
            let length = Int(truncatingIfNeeded: word & Self.lengthMask)
            guard word & Self.liveBit != 0, length > Self.inlineLimit else { continue }
            let offset = Int(truncatingIfNeeded: rows[base + 1])
            rows[base + 1] = UInt64(packed.count)
            packed.append(contentsOf: old[offset..<(offset + length)])
        }
        arena = packed
        garbage = 0
    }

    /// Removes every string, keeping the rows' buffer (which the owner's columns refer to), emptied.
    mutating func removeAll() {
        table.removeAll()
        rows.reset()
        idBound = 0
        arena = []
        garbage = 0
        free = []
    }

    /// Every ID is either interned or free, the arena holds the long strings plus the garbage, and free rows have
    /// no length.
    var isConsistent: Bool {
        mutating get {
            var live = 0
            var long = 0
            for id in 0..<idBound where isLive(UInt32(id)) {
                live += 1
                let length = Int(truncatingIfNeeded: rows[id << strideShift] & Self.lengthMask)
                if length > Self.inlineLimit { long += length }
            }
            let freeRowsEmpty = free.allSatisfy { rows[Int($0) << strideShift] == 0 }
            return live == table.count && table.count + free.count == idBound && long + garbage == arena.count
                && freeRowsEmpty && rows.capacity >= idBound << strideShift
        }
    }
}

/// One byte per document ID in a dense array of its own, growing with the IDs: the position of each document's
/// entry inside its NUMERIC block (``NumericBlocks/positions``).
///
/// Kept apart from the document rows on purpose. A removal moves the block's last entry into the hole, and the
/// moved document's position must be rewritten: in the rows (64 bytes a document) that store went to a random
/// line nobody had requested, a cache miss on every update; here a million documents take 1 MB, which stays in
/// the cache, and the written document's own byte is requested with its row. Reading an ID that was never set
/// gives 0; the owner reserves room for an ID (``reserve(ids:)``) before setting its byte, and keeps a value
/// meaningful only while it has use for it.
///
/// A struct around a shared buffer (as ``RowColumn``): copies share the bytes, and reading or writing through one
/// retains nothing.
struct DocumentBytes {
    private let storage = WordBuffer()

    /// An empty array (every ID reads 0).
    init() {}

    /// Number of IDs with room (at least one more than any ID set so far).
    var capacity: Int { storage.capacity << 3 }

    /// The byte of `id` (0 beyond what was set).
    @inline(__always)
    subscript(_ id: UInt32) -> Int {
        get {
            guard Int(id) < capacity else { return 0 }
            return Int(UnsafeRawPointer(storage.base).load(fromByteOffset: Int(id), as: UInt8.self))
        }
        nonmutating set {
            // No growing here: a call that may reallocate makes the compiler retain every reference of the caller
            // (the NUMERIC blocks' arrays) around the store. The owner reserves room when it creates an ID.
            precondition(Int(id) < capacity, "an ID with room reserved")
            UnsafeMutableRawPointer(storage.base).storeBytes(of: UInt8(truncatingIfNeeded: newValue), toByteOffset: Int(id),
                                                             as: UInt8.self)
        }
    }

    /// Makes room for IDs below `ids` (new bytes read 0).
    func reserve(ids: Int) {
        storage.reserve((ids + 7) >> 3)
    }

    /// Starts fetching the line holding `id`'s byte (`id` may be any value, such as a stale hint).
    @inline(__always)
    func prefetch(_ id: UInt32) {
        if Int(id) < capacity { neptune_prefetch(UnsafeRawPointer(storage.base) + Int(id)) }
    }

    /// Forgets every byte and gives back the storage.
    func reset() { storage.reset() }
}

/// One payload word per ID in the rows of a ``ByteInterner``: a per-document value of a field store, kept in the
/// document's row so that it shares a cache line with the key.
struct RowColumn {
    let rows: WordBuffer
    let strideShift: Int
    /// Index of the word in a row.
    let offset: Int

    /// Column `column` (0 ..< ``ByteInterner/payloadWords``) of `interner`'s rows.
    init(_ interner: ByteInterner, column: Int) {
        precondition(column >= 0 && column < interner.payloadWords, "a column inside the rows' payload")
        rows = interner.rows
        strideShift = interner.strideShift
        offset = ByteInterner.payloadOffset + column
    }

    /// Number of IDs the rows have room for (at least the interner's ``ByteInterner/idBound``).
    var idCapacity: Int { rows.capacity >> strideShift }

    /// The word of ID `id` (which must be below the interner's ``ByteInterner/idBound``).
    @inline(__always)
    subscript(_ id: UInt32) -> UInt64 {
        get { rows.base[(Int(id) << strideShift) &+ offset] }
        nonmutating set { rows.base[(Int(id) << strideShift) &+ offset] = newValue }
    }
}
