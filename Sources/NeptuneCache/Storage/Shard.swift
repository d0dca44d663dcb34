import NIOCore

/// One slice of the keyspace: the keys whose hash falls in this shard, for every database, with the allocator that
/// holds their entries. Commands lock a shard for the duration of their work on it; multi-shard commands lock the
/// shards they touch in ascending index order, so they cannot deadlock.
final class Shard: @unchecked Sendable {
    let index: Int
    let lock: ShardLock
    /// One table per database. `SWAPDB` swaps elements (under every shard's lock).
    @exclusivity(unchecked) var tables: [KeyTable]
    let slab = SlabAllocator()
    let hasher: KeyHasher

    // Statistics, updated under the lock and summed by INFO.
    @exclusivity(unchecked) var keyspaceHits = 0
    @exclusivity(unchecked) var keyspaceMisses = 0
    @exclusivity(unchecked) var expiredKeys = 0
    @exclusivity(unchecked) var expiredStalePercentage = 0.0
    /// Heap bytes held by the collection objects of this shard's entries (see ``recharge(_:)``).
    @exclusivity(unchecked) var objectBytes = 0
    /// Changes applied to this shard (write commands that changed something): summed for
    /// `rdb_changes_since_last_save` and the `save` rules.
    @exclusivity(unchecked) var changes = 0
    /// Receives a DEL for every key this shard expires (set by the engine under every shard's lock).
    @exclusivity(unchecked) var journal: (any MutationJournal)?
    /// The engine's keyspace observers (set by the engine under every shard's lock).
    @exclusivity(unchecked) var observers: [any KeyspaceObserver] = []

    // Eviction (Shard+Eviction.swift): settings copied in under the lock, counters, accounting.
    @exclusivity(unchecked) var tuning = EvictionTuning()
    @exclusivity(unchecked) var evictedKeys = 0
    /// This shard's bytes as last added to the engine's used-memory counter.
    @exclusivity(unchecked) var publishedBytes = 0
    @exclusivity(unchecked) var randomState: UInt64
    /// The engine's clock, for LFU times on writes (set by the engine before commands run).
    @exclusivity(unchecked) var clock: (any NeptuneClock)?

    init(index: Int, databases: Int, hasher: KeyHasher) {
        self.index = index
        self.lock = ShardLock(shardIndex: index)
        self.hasher = hasher
        self.tables = (0..<databases).map { _ in KeyTable() }
        self.randomState = UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
    }

    /// The snapshot copying this shard, while one does (see ``KeyspaceCapture``). Under the lock.
    @exclusivity(unchecked) var capture: ShardCapture?
    /// The capture mark new entries get (``Entry/capturedFlag`` or 0): the mark of the last capture begun.
    @exclusivity(unchecked) var captureMark: UInt8 = 0

    /// Before the caller (holding the lock) changes `key` (in any database): a snapshot still copying this shard
    /// takes the key's entry first (and a collection it holds is swapped for a copy if the snapshot holds it).
    @inline(__always)
    func prepareToChange(key: UnsafeRawBufferPointer, hash: UInt64) {
        if let capture { capture.preserve(self, key: key, hash: hash) }
    }

    /// Before the caller (holding the lock) changes or removes (`removing`) the entry in `slot` of `db` (see
    /// ``prepareToChange(key:hash:)``).
    @inline(__always)
    func prepareToChange(db: Int, slot: Int, removing: Bool = false) {
        if let capture { capture.preserve(self, db: db, slot: slot, removing: removing) }
    }

    /// Before the caller (holding the lock) changes keys it cannot name beforehand (a keyless write such as
    /// FLUSHDB or SWAPDB): a snapshot still copying this shard finishes copying it now.
    @inline(__always)
    func prepareForChange() {
        if let capture { capture.finish(self) }
    }

    @inline(__always)
    func entry(_ table: KeyTable, _ slot: Int) -> Entry {
        Entry(slab.pointer(table.ref(at: slot)))
    }

    /// The slot of a live (not expired) key, or -1. Deletes the key if it has expired (lazy expiry).
    @inline(__always)
    func find(_ db: Int, _ key: UnsafeRawBufferPointer, _ hash: UInt64, now: Int64) -> Int {
        find(db, key, hash) { now }
    }

    /// The slot of a live (not expired) key, or -1, reading the time only if the key has an expiry (the
    /// embedded API's path, where reading the clock can cost more than the lookup).
    @inline(__always)
    func find(_ db: Int, _ key: UnsafeRawBufferPointer, _ hash: UInt64, clock: any NeptuneClock) -> Int {
        find(db, key, hash) { clock.milliseconds() }
    }

    /// The entry of a live (not expired) key, or nil, reading the time only if the key has an expiry; deletes the
    /// key if it has expired (lazy expiry). The readers' path: one probe, no slot-to-cell decoding afterwards.
    @inline(__always)
    func findEntry(_ db: Int, _ key: UnsafeRawBufferPointer, _ hash: UInt64, clock: any NeptuneClock) -> Entry? {
        // `tables` only changes under every shard's lock (SWAPDB), which the caller's lock excludes, so the
        // table is borrowed without a retain and release around the probe.
        let found = Unmanaged.passUnretained(tables[db])._withUnsafeGuaranteedRef { table in
            table.findCell(key, hash: hash, slab: slab)
        }
        guard let cell = found.cell else { return nil }
        let e = Entry(cell)
        if e.hasExpiry && e.expiry <= clock.milliseconds() {
            deleteByEngine(db, found.slot, reason: .expired)
            return nil
        }
        return e
    }

    @inline(__always)
    private func find(_ db: Int, _ key: UnsafeRawBufferPointer, _ hash: UInt64, now: () -> Int64) -> Int {
        let table = tables[db]
        let slot = table.find(key, hash: hash, slab: slab)
        if slot >= 0 {
            let e = entry(table, slot)
            if e.hasExpiry && e.expiry <= now() {
                deleteByEngine(db, slot, reason: .expired)
                return -1
            }
        }
        return slot
    }

    static let delName = ByteBuffer(string: "DEL")

    /// Removes the key in `slot` and frees its entry (releasing its collection object, if any).
    func remove(_ db: Int, _ slot: Int) {
        let table = tables[db]
        let ref = table.ref(at: slot)
        let e = Entry(slab.pointer(ref))
        if e.hasExpiry { table.volatileCount -= 1 }
        if tuning.mode == .s3fifo { forgetS3(table, e) }
        releaseObject(e)
        table.remove(at: slot, hasher: hasher, slab: slab)
        slab.free(ref)
    }

    /// Drops the reference a collection entry holds and its memory charge; nothing for strings.
    @inline(__always)
    func releaseObject(_ entry: Entry) {
        guard entry.type != .string else { return }
        let object = Unmanaged<CollectionObject>.fromOpaque(entry.objectPointer)
        objectBytes -= Int(object.takeUnretainedValue().chargedBytes)
        object.release()
    }

    /// Updates this shard's memory charge after `object` (held by one of its entries) changed size.
    @inline(__always)
    func recharge(_ object: CollectionObject) {
        let bytes = object.memoryBytes
        let charged = Int32(clamping: bytes)
        objectBytes += Int(charged) - Int(object.chargedBytes)
        object.chargedBytes = charged
    }

    /// Stores `object` as the value of `key` (replacing the entry in `slot`, or inserting when `slot` is -1):
    /// the entry takes a retained reference and the shard is charged the object's memory.
    @discardableResult
    func storeObject(
        _ db: Int,
        key: UnsafeRawBufferPointer,
        hash: UInt64,
        slot: Int,
        object: CollectionObject,
        expiry: Int64?,
        access: UInt32
    ) -> (slot: Int, entry: Entry) {
        let reference = UInt(bitPattern: Unmanaged.passRetained(object).toOpaque())
        let charged = Int32(clamping: object.memoryBytes)
        object.chargedBytes = charged
        objectBytes += Int(charged)
        return store(
            db,
            key: key,
            hash: hash,
            slot: slot,
            type: object.valueType,
            valueLength: Entry.objectValueLength,
            expiry: expiry,
            access: access
        ) { target in
            target.baseAddress!.storeBytes(of: reference, as: UInt.self)
        }
    }

    /// Writes an entry for `key` (replacing the one in `slot`, or inserting when `slot` is -1) and lets `fill`
    /// write its value bytes. Returns the key's slot and entry.
    ///
    /// With `reuseCell`, a string replacing a string whose cell has the right size class is written over the old
    /// entry in place: only for callers whose `key` and `fill` do not read the old entry's bytes.
    @discardableResult @inline(__always)
    func store(
        _ db: Int,
        key: UnsafeRawBufferPointer,
        hash: UInt64,
        slot: Int,
        type: ValueType = .string,
        valueLength: Int,
        expiry: Int64?,
        access: UInt32,
        releasingOld: Bool = true,
        touchExisting: Bool = true,
        reuseCell: Bool = false,
        fill: (UnsafeMutableRawBufferPointer) -> Void
    ) -> (slot: Int, entry: Entry) {
        let table = tables[db]
        var access = access
        if tuning.mode != .lru && slot >= 0 {
            // LFU and S3-FIFO data belong to the key, not the value: an overwrite keeps them (and counts as an
            // access, as Redis's lookupKeyWrite does).
            let old = entry(table, slot).access
            access = touchExisting ? touched(old, now: evictionNow()) : old
        }
        let size = Entry.size(keyLength: key.count, valueLength: valueLength, hasExpiry: expiry != nil)
        if reuseCell && slot >= 0 && type == .string {
            // A string overwritten by a string of the same size class is rewritten in its cell: no allocation,
            // no free, and the slot keeps its reference.
            let oldRef = table.ref(at: slot)
            let cell = slab.pointer(oldRef)
            let old = Entry(cell)
            if old.type == .string && slab.isCell(oldRef, ofClassFor: size) {
                if old.hasExpiry { table.volatileCount -= 1 }
                let entry = Entry.initialize(
                    cell,
                    type: type,
                    key: key,
                    valueLength: valueLength,
                    expiry: expiry,
                    access: access,
                    mark: captureMark
                )
                fill(entry.value)
                if expiry != nil { table.volatileCount += 1 }
                return (slot, entry)
            }
        }
        let newRef = slab.allocate(size)
        let cell = slab.pointer(newRef)
        let entry = Entry.initialize(
            cell,
            type: type,
            key: key,
            valueLength: valueLength,
            expiry: expiry,
            access: access,
            mark: captureMark
        )
        fill(entry.value)
        if expiry != nil { table.volatileCount += 1 }
        if slot >= 0 {
            let oldRef = table.ref(at: slot)
            let old = Entry(slab.pointer(oldRef))
            if old.hasExpiry { table.volatileCount -= 1 }
            if releasingOld { releaseObject(old) }
            table.replace(at: slot, with: newRef)
            slab.free(oldRef)
            return (slot, entry)
        }
        if tuning.mode != .lru { entry.access = newKeyAccess(table, hash: hash, lruClock: access) }
        let newSlot = table.insert(newRef, hash: hash, hasher: hasher, slab: slab)
        return (newSlot, entry)
    }

    /// Sets or clears the expiry of the key in `slot`; moves the entry when its header size changes.
    func setExpiry(_ db: Int, _ slot: Int, _ expiry: Int64?) {
        let table = tables[db]
        let old = entry(table, slot)
        if let expiry, old.hasExpiry {
            old.expiry = expiry
            return
        }
        if expiry == nil && !old.hasExpiry { return }
        let value = UnsafeRawBufferPointer(old.value)
        let encodingFlags = old.encodingFlags
        let moved = store(
            db,
            key: old.key,
            hash: 0,
            slot: slot,
            type: old.type,
            valueLength: value.count,
            expiry: expiry,
            access: old.access,
            releasingOld: false,  // the moved entry keeps the same object reference
            touchExisting: false
        ) { target in
            if value.count > 0 { target.baseAddress!.copyMemory(from: value.baseAddress!, byteCount: value.count) }
        }
        moved.entry.flags |= encodingFlags
    }

    /// Removes every key of `db`. A snapshot still copying this shard finishes first (callers that bypass the
    /// dispatcher, such as the embedded store's flush, are covered too).
    func flush(_ db: Int) {
        prepareForChange()
        let table = tables[db]
        for slot in 0..<table.capacity where table.isLive(slot) {
            let ref = table.ref(at: slot)
            releaseObject(Entry(slab.pointer(ref)))
            slab.free(ref)
        }
        table.removeAll()
    }

    /// Bytes this shard's data holds: key-table slots, the entries' cells, collection objects and eviction
    /// bookkeeping. Cells are counted while in use (freed cells are reused by later writes), as Redis counts
    /// allocations: what eviction can give back.
    var memoryBytes: Int {
        var bytes = slab.liveBytes + objectBytes
        for table in tables {
            bytes += table.slotBytes
            if let s3 = table.s3 { bytes += s3.memoryBytes }
        }
        return bytes
    }

    /// Keys of every database in this shard.
    var keyCount: Int {
        var total = 0
        for table in tables { total += table.count }
        return total
    }

    /// Deletes expired keys met in the next `budget` slots of `db`'s table. Returns (slots examined, keys removed).
    func sweepExpired(_ db: Int, budget: Int, now: Int64) -> (examined: Int, removed: Int) {
        let table = tables[db]
        guard table.volatileCount > 0 else { return (0, 0) }
        var examined = 0
        var removed = 0
        var slot = table.sweepCursor & table.mask
        while examined < budget && table.volatileCount > 0 {
            if table.isLive(slot) {
                let e = entry(table, slot)
                if e.hasExpiry && e.expiry <= now {
                    deleteByEngine(db, slot, reason: .expired)
                    removed += 1
                    if table.count == 0 { break }
                    // A removal can shrink the table; restart from the same position in the new layout.
                    slot &= table.mask
                    examined += 1
                    continue
                }
            }
            slot = (slot &+ 1) & table.mask
            examined += 1
        }
        table.sweepCursor = slot
        return (examined, removed)
    }
}
