import NIOConcurrencyHelpers
import NeptuneIndex
import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One FT index: its ``SearchIndex`` and build state, guarded by `lock`, and the writes captured for it and not
/// applied yet, guarded by `pendingLock`.
///
/// A write does not change the index itself: under its key's shard lock it copies the document's key and schema
/// values into the pending writes (``capture(key:document:hinted:wakeAt:limit:)``), and the ``IndexWorker`` thread
/// applies them in batches. Whatever reads the index applies what is pending first (``withIndex(_:)``), so a query
/// sees every write that came before it, as if each had changed the index in place.
///
/// Lock order: a shard lock may be held when taking `lock` (the build scan, and a writer that finds too much
/// pending, do), and `lock` when taking `pendingLock`, never the reverse; so searches take `lock`, copy the page of keys out, release it, then read the
/// hashes, and the worker, which takes `lock` then `pendingLock`, never takes a shard lock.
final class IndexHandle: @unchecked Sendable {
    let lock = NIOLock()
    let index: SearchIndex
    /// Guards `pending`, `queued` and `lentValues`.
    let pendingLock = NIOLock()
    /// Writes captured and not applied yet (under `pendingLock`).
    private var pending: PendingIndexWrites
    /// The batch being applied (under `lock`): swapped with `pending`, so capturing never waits for an application.
    private var applying: PendingIndexWrites
    /// The handle is in the worker's queue (under `pendingLock`).
    private var queued = false
    /// Where an applied entry's values are lent to the index (under `lock`).
    private let applyValues: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>
    /// Where the build scan lends a hash's values to the index (under `lock`).
    let scanValues: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>
    /// Shards scanned by the running build (0...shardCount).
    var scannedShards = 0
    /// A build scan is running.
    var building = false
    /// Bumped when a build starts or the index is dropped: a scan of an older generation stops.
    var generation = 0
    /// Searches run on this index (FT.INFO `number_of_uses`).
    var uses = 0
    /// Time spent indexing by build scans, in milliseconds (FT.INFO `total_indexing_time`).
    var indexingMilliseconds = 0.0

    /// The definition's key prefixes as raw bytes this handle owns, so the write path can test a key without
    /// copying (and retaining) the definition's arrays.
    private let prefixes: UnsafeMutableBufferPointer<UnsafeRawBufferPointer>
    private let prefixBytes: UnsafeMutableRawBufferPointer
    /// Where a write's schema field values are lent by the stored hash (``HashObject/lendValues(_:into:)``), by
    /// schema position, to be copied into `pending`; used under `pendingLock`.
    private let lentValues: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>

    init(definition: IndexDefinition) {
        self.index = SearchIndex(definition: definition)
        let fields = definition.fields.count
        pending = PendingIndexWrites(fieldCount: fields)
        applying = PendingIndexWrites(fieldCount: fields)
        lentValues = .allocate(capacity: fields)
        lentValues.initialize(repeating: nil)
        applyValues = .allocate(capacity: fields)
        applyValues.initialize(repeating: nil)
        scanValues = .allocate(capacity: fields)
        scanValues.initialize(repeating: nil)
        let prefixes = definition.prefixes
        self.prefixes = .allocate(capacity: prefixes.count)
        prefixBytes = .allocate(byteCount: Swift.max(1, prefixes.reduce(0) { $0 + $1.count }), alignment: 1)
        var offset = 0
        for (i, prefix) in prefixes.enumerated() {
            let bytes = UnsafeMutableRawBufferPointer(rebasing: prefixBytes[offset..<(offset + prefix.count)])
            bytes.copyBytes(from: prefix)
            self.prefixes[i] = UnsafeRawBufferPointer(bytes)
            offset += prefix.count
        }
    }

    deinit {
        lentValues.deallocate()
        applyValues.deallocate()
        scanValues.deallocate()
        prefixes.deallocate()
        prefixBytes.deallocate()
    }

    /// Whether `key` falls under this index's prefixes (``IndexDefinition/covers(key:)``: every key when there is
    /// none).
    @inline(__always)
    func covers(key: UnsafeRawBufferPointer) -> Bool {
        if prefixes.isEmpty { return true }
        for prefix in prefixes where prefix.count <= key.count {
            if prefix.isEmpty || memcmp(prefix.baseAddress!, key.baseAddress!, prefix.count) == 0 { return true }
        }
        return false
    }

    var definition: IndexDefinition { index.definition }

    // MARK: Pending writes

    /// What a capture asks of its caller.
    enum CaptureOutcome {
        case none
        /// The pending writes just reached the worker's threshold: queue the handle for it.
        case wake
        /// Too much is pending (the worker is behind): apply it now, on the writing thread.
        case applyNow
    }

    /// Records that the document under `key` changed: its schema values as `document` now holds them (copied), or
    /// its removal when `document` is nil. The caller holds the key's shard lock, which keeps the hash unchanged
    /// while it is read.
    ///
    /// - Parameters:
    ///   - hinted: Whether this is the first index covering the key, whose document ID the hash keeps as its
    ///     ``HashObject/searchHint`` (passed along so that the application can skip the key lookup).
    ///   - wakeAt: How many pending writes make the worker wanted.
    ///   - limit: How many pending writes make the writer apply them itself.
    func capture(key: UnsafeRawBufferPointer, document: Unmanaged<HashObject>?, hinted: Bool, wakeAt: Int,
                 limit: Int) -> CaptureOutcome {
        pendingLock.lock()
        if let document {
            document._withUnsafeGuaranteedRef { document in
                let hint = hinted ? document.searchHint : UInt32.max
                if document.lendValues(index.fieldIdentifiers, into: lentValues) {
                    pending.append(key: key, hint: hint, hinted: hinted, values: UnsafeBufferPointer(lentValues))
                } else {
                    appendCopying(key: key, hint: hint, hinted: hinted, document: document)
                }
            }
        } else {
            pending.appendRemoval(key: key)
        }
        let count = pending.count
        var outcome = CaptureOutcome.none
        if count >= limit {
            outcome = .applyNow
        } else if count >= wakeAt && !queued {
            queued = true
            outcome = .wake
        }
        pendingLock.unlock()
        return outcome
    }

    /// A hash in a hashtable (past the listpack limits) cannot lend its values in one walk: each is read and copied.
    private func appendCopying(key: UnsafeRawBufferPointer, hint: UInt32, hinted: Bool, document: HashObject) {
        let identifiers = index.fieldIdentifiers
        let values: [[UInt8]?] = identifiers.map { document.withValue($0) { Array($0) } }
        var bytes: [UInt8] = []
        var spans: [(offset: Int, count: Int)?] = []
        for value in values {
            guard let value else {
                spans.append(nil)
                continue
            }
            spans.append((bytes.count, value.count))
            bytes += value
        }
        bytes.withUnsafeBytes { raw in
            for (i, span) in spans.enumerated() {
                lentValues[i] = span.map { UnsafeRawBufferPointer(rebasing: raw[$0.offset..<($0.offset + $0.count)]) }
            }
            pending.append(key: key, hint: hint, hinted: hinted, values: UnsafeBufferPointer(lentValues))
        }
    }

    /// Applies the pending writes, taking `lock`.
    /// - Parameter newHints: Where to record, for each hinted write whose document's ID differs from the hint its
    ///   hash carried (a document new to the index), the key and the ID, so that the caller can write the ID back
    ///   into the hash (``SearchIndexes/writeBackHints(_:of:)``) once it no longer holds `lock`.
    func applyPending(newHints: PendingIndexWrites? = nil) {
        lock.withLock { applyPendingLocked(newHints: newHints) }
    }

    /// Applies the pending writes, in the order they were captured. The caller holds `lock`.
    func applyPendingLocked(newHints: PendingIndexWrites? = nil) {
        pendingLock.lock()
        queued = false
        guard pending.count > 0 else {
            pendingLock.unlock()
            return
        }
        swap(&pending, &applying)
        pendingLock.unlock()
        let index = self.index
        let values = applyValues
        let none = UnsafeBufferPointer<UnsafeRawBufferPointer?>(start: nil, count: 0)
        applying.forEach(values: values) { key, hint, hinted in
            guard let given = hint else {
                _ = index.remove(key: key)
                return
            }
            var hint = given
            index.index(key: key, hint: &hint, values: UnsafeBufferPointer(values))
            if hinted && hint != given, let newHints { newHints.append(key: key, hint: hint, values: none) }
        }
        applying.removeAll()
    }

    /// Writes captured and not applied yet.
    var pendingCount: Int {
        pendingLock.withLock { pending.count }
    }

    /// Documents in the index as it stands, without applying what is pending (for tests and diagnostics).
    var appliedDocumentCount: Int {
        lock.withLock { index.documentCount }
    }

    /// Forgets the pending writes (the index is about to be emptied and rebuilt). The caller holds `lock`.
    func discardPending() {
        pendingLock.withLock { pending.removeAll() }
    }

    /// Runs `body` on the index once every pending write is applied, holding `lock`: how everything that reads the
    /// index's contents (searches, FT.INFO, FT.DROPINDEX DD) reaches it.
    func withIndex<R>(_ body: (SearchIndex) throws -> R) rethrows -> R {
        try lock.withLock {
            applyPendingLocked()
            return try body(index)
        }
    }
}

/// The engine's secondary indexes (RediSearch-style, over hashes of database 0) and the keyspace observer that keeps
/// them exact: every change to a covered key re-reads that key under its shard lock and captures its values for each
/// covering index before the write command returns; the ``IndexWorker`` applies them, and every reader of an index
/// applies what is still pending first, so a search right after a write sees it.
///
/// Indexes are added and removed only by write commands that hold every shard lock (FT.CREATE, FT.DROPINDEX,
/// FLUSHDB of database 0, FLUSHALL), so the observer, which runs under one shard lock, reads a stable list without another lock.
final class SearchIndexes: KeyspaceObserver, @unchecked Sendable {
    /// RediSearch indexes only database 0.
    static let database = 0
    /// Databases with at most this many keys are indexed inline by FT.CREATE; larger ones in the background.
    @exclusivity(unchecked) var inlineBuildLimit = 50_000
    /// Pending writes of one index that wake the worker: enough that a wake-up (a system call, and on a virtual
    /// machine an interrupt to the worker's core) is shared by many writes.
    @exclusivity(unchecked) var workerWakeThreshold = 256
    /// Pending writes of one index at which the writer applies them itself (the worker is behind): bounds both the
    /// memory they take and what a query that arrives then has to apply first (a few milliseconds).
    @exclusivity(unchecked) var pendingLimit = 4096
    /// Applies captured writes off the writing threads; started by the first batch.
    let worker = IndexWorker()
    /// The engine's key hasher (for the hints the worker writes back).
    private let hasher: KeyHasher

    private let shards: [Shard]
    /// `shards` unretained, for the write path: taking a class out of an array retains it (an atomic operation
    /// that waits for the write's earlier stores), and `shards` keeps them alive anyway.
    private let shardRefs: [Unmanaged<Shard>]
    private let clock: any NeptuneClock
    /// By name; changed under every shard lock and `lock`, read under `lock`.
    private var byName: [[UInt8]: IndexHandle] = [:]
    private let lock = NIOLock()
    /// The indexes in creation order; changed only under every shard lock.
    @exclusivity(unchecked) private(set) var handles: [IndexHandle] = [] {
        didSet {
            handleRefs.deallocate()
            handleRefs = .allocate(capacity: handles.count)
            _ = handleRefs.initialize(from: handles.lazy.map { Unmanaged.passUnretained($0) })
        }
    }
    /// `handles` unretained, for the write path (as `shardRefs`), in a buffer rather than an array: iterating an
    /// array property retains its storage (an atomic operation behind the write's stores). Replaced only where
    /// `handles` changes, under every shard lock, so the observer (under one) reads it safely.
    @exclusivity(unchecked) private var handleRefs = UnsafeMutableBufferPointer<Unmanaged<IndexHandle>>.allocate(capacity: 0)
    /// Registered with the engine as an observer (on the first FT.CREATE).
    @exclusivity(unchecked) var observing = false

    init(shards: [Shard], clock: any NeptuneClock) {
        self.shards = shards
        self.shardRefs = shards.map { Unmanaged.passUnretained($0) }
        self.clock = clock
        self.hasher = shards[0].hasher
        worker.owner = self
    }

    deinit {
        worker.stop()
        handleRefs.deallocate()
    }

    func handle(named name: [UInt8]) -> IndexHandle? {
        lock.withLock { byName[name] }
    }

    var names: [[UInt8]] {
        lock.withLock { handles.map(\.definition.name) }
    }

    /// Adds an index. The caller holds every shard lock.
    func add(_ handle: IndexHandle) {
        lock.withLock {
            byName[handle.definition.name] = handle
            handles.append(handle)
        }
    }

    /// Removes an index. The caller holds every shard lock.
    @discardableResult
    func remove(named name: [UInt8]) -> IndexHandle? {
        let handle: IndexHandle? = lock.withLock {
            guard let handle = byName.removeValue(forKey: name) else { return nil }
            handles.removeAll { $0 === handle }
            return handle
        }
        handle?.lock.withLock { handle!.generation += 1 }
        return handle
    }

    // MARK: Reading documents

    /// The hash at `slot` of database 0, or nil if the key is not a live hash.
    static func document(_ shard: Shard, _ slot: Int, now: Int64) -> HashObject? {
        let e = shard.entry(shard.tables[database], slot)
        guard e.type == .hash, !(e.hasExpiry && e.expiry <= now) else { return nil }
        return unsafeDowncast(e.object, to: HashObject.self)
    }

    /// Indexes `document` under `key` in `index` at once (the build scan: the caller holds the key's shard lock and
    /// the index's lock), reading the schema fields straight out of the stored hash. With `hinted`, the document's
    /// ID is looked for first where the hash's ``HashObject/searchHint`` says, and the hint is updated: only the
    /// first index covering a key uses it, so that two indexes do not overwrite each other's.
    static func index(_ handle: IndexHandle, key: UnsafeRawBufferPointer, document: HashObject, hinted: Bool) {
        // The identifiers as the index keeps them (raw bytes): taking them out of the definition's fields would
        // copy each field, retaining its arrays.
        let index = handle.index
        let identifiers = index.fieldIdentifiers
        var hint = hinted ? document.searchHint : UInt32.max
        // A packed hash lends its own bytes (one walk for every field, no copy): the caller's shard lock keeps the
        // hash unchanged until the index is done. A hashtable-encoded one is read field by field and copied.
        if document.lendValues(identifiers, into: handle.scanValues) {
            index.index(key: key, hint: &hint, values: UnsafeBufferPointer(handle.scanValues))
        } else {
            index.index(key: key, hint: &hint) { position, body in
                let found: Void? = document.withValue(identifiers[position]) { body($0) }
                if found == nil { body(nil) }
            }
        }
        if hinted { document.searchHint = hint }
    }

    /// The live hash stored under `key` in database 0 of `shard` (locked by the caller) as an unretained reference,
    /// or nil. The key table is borrowed from the shard's array, not retained.
    @inline(__always)
    private func documentReference(_ shard: Shard, _ key: UnsafeRawBufferPointer, _ hash: UInt64,
                                   now: inout Int64?) -> Unmanaged<HashObject>? {
        let table = shard.tables.withUnsafeBufferPointer { Unmanaged.passUnretained($0[Self.database]) }
        return table._withUnsafeGuaranteedRef { table -> Unmanaged<HashObject>? in
            let slot = table.find(key, hash: hash, slab: shard.slab)
            guard slot >= 0 else { return nil }
            let e = shard.entry(table, slot)
            guard e.type == .hash else { return nil }
            if e.hasExpiry {
                if now == nil { now = clock.milliseconds() }
                if e.expiry <= now! { return nil }
            }
            return Unmanaged<HashObject>.fromOpaque(e.objectPointer)
        }
    }

    // MARK: KeyspaceObserver

    func keyChanged(db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        // Writes in other databases never touch an index. RediSearch differs here: its keyspace-notification
        // handler ignores the event's database, so a covered key written in database 1 is indexed from database 1
        // (and deleting it there removes database 0's document). Neptune keeps every index exact over database 0.
        guard db == Self.database, !handleRefs.isEmpty else { return }
        shardRefs[Int(truncatingIfNeeded: hash >> Engine.shardShift)]._withUnsafeGuaranteedRef { shard in
            var now: Int64? = nil
            var first = true
            var document: Unmanaged<HashObject>? = nil
            let wakeAt = workerWakeThreshold
            let limit = pendingLimit
            for reference in handleRefs {
                reference._withUnsafeGuaranteedRef { handle in
                    guard handle.covers(key: key) else { return }
                    // The hash is borrowed, not retained: the shard lock held keeps it alive.
                    if first { document = documentReference(shard, key, hash, now: &now) }
                    switch handle.capture(key: key, document: document, hinted: first, wakeAt: wakeAt, limit: limit) {
                    case .none: break
                    case .wake: worker.enqueue(handle)
                    case .applyNow: handle.applyPending()
                    }
                    first = false
                }
            }
        }
    }

    func databasesWillChange(_ event: DatabaseEvent) {
        switch event {
        case .flush(Self.database), .flushAll:
            // FLUSHALL, and FLUSHDB of database 0, drop index definitions, as RediSearch does.
            lock.withLock {
                for handle in handles { handle.lock.withLock { handle.generation += 1 } }
                byName = [:]
                handles = []
            }
        case .flush:
            break
        case .swap(let a, let b) where a == Self.database || b == Self.database:
            // Database 0's contents are about to be replaced: empty the indexes and rebuild them once the swap is
            // done (the build waits for the shard locks the swap holds).
            for handle in handles {
                handle.lock.withLock {
                    handle.discardPending()
                    handle.index.removeAll()
                }
                startBuild(handle, inline: false)
            }
        case .swap:
            break
        }
    }

    // MARK: Building

    /// Indexes the existing keys of database 0 for `handle`: inline when asked (the caller holds every shard lock),
    /// otherwise on a background task that scans one shard at a time under that shard's lock. Writes meanwhile are
    /// indexed by the observer, so the index is exact once the scan ends; FT.INFO reports progress.
    func startBuild(_ handle: IndexHandle, inline: Bool) {
        let generation: Int = handle.lock.withLock {
            handle.generation += 1
            handle.building = true
            handle.scannedShards = 0
            return handle.generation
        }
        if inline {
            for shard in shards { scan(handle, shard, generation) }
            return
        }
        let this = self
        Task.detached(priority: .utility) {
            for shard in this.shards {
                guard this.scan(handle, shard, generation) else { return }
                await Task.yield()
            }
        }
    }

    /// Scans one shard; returns false if the build was superseded.
    @discardableResult
    func scan(_ handle: IndexHandle, _ shard: Shard, _ generation: Int) -> Bool {
        let started = clock.milliseconds()
        shard.lock.lock()
        defer { shard.lock.unlock() }
        return handle.lock.withLock {
            guard handle.generation == generation else { return false }
            // Writes captured before are applied first (in either order the index ends with each key's current
            // values, since a key's last pending write holds them; applying them first keeps that simple).
            handle.applyPendingLocked()
            let table = shard.tables[Self.database]
            let definition = handle.definition
            let now = clock.milliseconds()
            for slot in 0..<table.capacity where table.isLive(slot) {
                let e = shard.entry(table, slot)
                guard e.type == .hash, definition.covers(key: e.key), let document = Self.document(shard, slot, now: now)
                else { continue }
                Self.index(handle, key: e.key, document: document, hinted: handle === firstCovering(e.key))
            }
            handle.scannedShards += 1
            if handle.scannedShards == shards.count { handle.building = false }
            handle.indexingMilliseconds += Double(clock.milliseconds() - started)
            return true
        }
    }

    /// Writes the IDs in `hints` (key and ID pairs from ``IndexHandle/applyPending(newHints:)``) back into the hashes
    /// as their ``HashObject/searchHint``, so that their next writes need no key lookup. The hints are only an
    /// optimization and a stale one is harmless (it is checked against the ID's row): a hash whose shard is busy,
    /// that is gone, or whose first covering index is now another is skipped. The caller holds no lock.
    func writeBackHints(_ hints: PendingIndexWrites, of handle: IndexHandle) {
        let none = UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>(start: nil, count: 0)
        var now: Int64? = nil
        hints.forEach(values: none) { key, id, _ in
            guard let id else { return }
            let hash = hasher.hash(key)
            shardRefs[Int(truncatingIfNeeded: hash >> Engine.shardShift)]._withUnsafeGuaranteedRef { shard in
                // Never wait for a shard: a command holding it is worth more than a hint.
                guard shard.lock.tryLock() else { return }
                defer { shard.lock.unlock() }
                // The indexes change only under every shard lock, so `handles` is stable under this one.
                guard firstCovering(key) === handle, let document = documentReference(shard, key, hash, now: &now)
                else { return }
                document._withUnsafeGuaranteedRef { $0.searchHint = id }
            }
        }
    }

    /// The ID hint the hash under `key` in database 0 carries (nil: no such hash, `UInt32.max`: none), for tests.
    func storedHint(_ key: [UInt8]) -> UInt32? {
        key.withUnsafeBytes { key in
            let hash = hasher.hash(key)
            return shardRefs[Int(truncatingIfNeeded: hash >> Engine.shardShift)]._withUnsafeGuaranteedRef { shard in
                shard.lock.lock()
                defer { shard.lock.unlock() }
                var now: Int64? = nil
                return documentReference(shard, key, hash, now: &now)?.takeUnretainedValue().searchHint
            }
        }
    }

    /// The first index covering `key`: the one whose document ID a hash keeps as its hint.
    private func firstCovering(_ key: UnsafeRawBufferPointer) -> IndexHandle? {
        handles.first { $0.covers(key: key) }
    }

    /// Number of keys in database 0 (the caller holds every shard lock, or accepts an estimate).
    func databaseKeyCount() -> Int {
        shards.reduce(0) { $0 + $1.tables[Self.database].count }
    }
}

extension Engine {
    /// The FT.CREATE arguments (after the command name) of every index, in creation order: what a snapshot records.
    /// Call it with every shard locked (at a snapshot's capture point) for a view consistent with the keyspace.
    public func searchIndexDefinitions() -> [[[UInt8]]] {
        searchIndexes.handles.map(\.definition.createArguments)
    }

    /// Re-creates indexes from ``searchIndexDefinitions()`` after a snapshot is loaded: each is replayed as an
    /// FT.CREATE and built from the loaded hashes before this returns.
    /// - Throws: ``CommandError`` if a definition is refused (which means the snapshot does not match this build).
    public func restoreSearchIndexes(_ definitions: [[[UInt8]]]) throws {
        for arguments in definitions {
            try replay(db: SearchIndexes.database, arguments: [ByteBuffer(string: "FT.CREATE")] + arguments.map { ByteBuffer(bytes: $0) })
        }
    }
}
