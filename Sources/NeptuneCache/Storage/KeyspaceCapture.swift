#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import Synchronization

/// The keyspace's serialized form: the records a snapshot file carries inside its LZ4 frame.
///
/// ```
/// record   := key-record | end-record
/// key      := 0x01 | varint db | u8 type | u8 flags | [i64 expiry, Unix ms, if flags bit 0]
///             | varint key length | key bytes | varint value length | value bytes
/// end      := 0xFF | u64 number of key records before it
/// ```
/// Integers are little-endian, varints are LEB128. `type` is ``ValueType``'s raw value; `flags` bit 0 = has expiry,
/// bit 1 = raw string encoding, bit 2 = not int-encodable, bit 3 = unshared copy (the string encoding flags OBJECT
/// ENCODING reports). A string's value is its bytes; a collection's value is its ``CollectionObject`` payload
/// (``CollectionObject/serialize(into:)``). Readers refuse unknown opcodes, types and flag bits.
public enum SnapshotRecord {
    /// A key with its value.
    public static let keyOpcode: UInt8 = 0x01
    /// The end marker, with the number of key records.
    public static let endOpcode: UInt8 = 0xFF
    static let expiryFlag: UInt8 = 0x01
    static let rawFlag: UInt8 = 0x02
    static let notIntegerFlag: UInt8 = 0x04
    static let unsharedFlag: UInt8 = 0x08
    static let knownFlags: UInt8 = 0x0F

    /// The end marker for `count` key records.
    public static func endMarker(count: UInt64) -> [UInt8] {
        var bytes: [UInt8] = [endOpcode]
        withUnsafeBytes(of: count.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Appends one key record.
    static func appendKey(db: Int, entry: Entry, to out: inout [UInt8], scratch: inout ByteBuffer) {
        out.append(keyOpcode)
        appendVarint(db, to: &out)
        out.append(entry.type.rawValue)
        var flags: UInt8 = 0
        if entry.hasExpiry { flags |= expiryFlag }
        let entryFlags = entry.flags
        if entryFlags & Entry.rawFlag != 0 { flags |= rawFlag }
        if entryFlags & Entry.notIntegerFlag != 0 { flags |= notIntegerFlag }
        if entryFlags & Entry.unsharedFlag != 0 { flags |= unsharedFlag }
        out.append(flags)
        if entry.hasExpiry {
            withUnsafeBytes(of: entry.expiry.littleEndian) { out.append(contentsOf: $0) }
        }
        let key = entry.key
        appendVarint(key.count, to: &out)
        out.append(contentsOf: key)
        if entry.type == .string {
            let value = UnsafeRawBufferPointer(entry.value)
            appendVarint(value.count, to: &out)
            out.append(contentsOf: value)
        } else {
            scratch.clear()
            entry.object.serialize(into: &scratch)
            appendVarint(scratch.readableBytes, to: &out)
            scratch.withUnsafeReadableBytes { out.append(contentsOf: $0) }
        }
    }

    @inline(__always)
    static func appendVarint(_ value: Int, to out: inout [UInt8]) {
        var v = UInt64(value)
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: v))
    }

    /// Why a record cannot be loaded: the offset of the record in the buffer given to the loader, and the reason.
    public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String

        public var description: String { "\(reason) (record at data offset \(offset))" }
    }
}

/// A point-in-time copy of the keyspace in the making, started by ``Engine/beginCapture(_:)``.
///
/// The capture is taken without stopping the world: ``Engine/beginCapture(_:)`` marks every shard "capture pending"
/// under all shard locks (microseconds), and each shard is then captured the first time anyone takes its lock:
/// the snapshot's own thread through ``take(_:)``, or a command that is about to change the shard (copy-on-write
/// at shard granularity). Capturing copies the shard's slot arrays and slab cells (a ``ShardImage``, one contiguous
/// buffer reused from shard to shard) and serializes only its collection values under the lock; string records are
/// serialized from the copy afterwards, outside the lock (``serialize(_:into:flush:)``). Every shard is therefore
/// captured exactly as it was at ``sequence``, and a client waits at most for one shard's memory copy (plus the
/// serialization of its collections).
///
/// The snapshot thread drives a capture in three steps per shard, so that the work under a lock is only the copy:
/// ```swift
/// capture.prepare(index)                     // sizes and pre-faults a buffer, outside the lock
/// if let shard = capture.take(index) {       // the copy, under the lock (unless a command made it already)
///     capture.serialize(shard, into: &bytes) { bytes in try write(bytes) }  // anywhere, any priority
///     capture.recycle(shard)                 // the buffer goes back for the next shard
/// }
/// ```
public final class KeyspaceCapture: @unchecked Sendable {
    /// A shard as captured under its lock: its collection records and a copy of its memory for the string records.
    /// Owned by one thread at a time; give it back with ``KeyspaceCapture/recycle(_:)``.
    public struct CapturedShard: @unchecked Sendable {
        var records: [UInt8]
        var image: ShardImage?
    }

    /// Spare images kept for reuse; more are freed.
    static let spareLimit = 2

    /// The journal sequence number the capture corresponds to (every record ≤ it is included, none after).
    public let sequence: UInt64
    /// Keys in the keyspace at the capture point (expired keys not yet reclaimed included).
    public let keyCount: Int
    /// Unix milliseconds when the capture began.
    public let createdAt: Int64
    /// Databases of the engine.
    public let databases: Int
    /// The engine's change counter at the capture point (for `rdb_changes_since_last_save`).
    public let changesAtCapture: Int
    /// Keys per database at the capture point.
    public let keysPerDatabase: [Int]
    private let engine: Engine
    private let results: Mutex<[CapturedShard?]>
    private let spares: Mutex<[ShardImage]>
    private let preparedBuffers: Bool
    private let cancelled = Atomic<Bool>(false)
    private let longestInline = Atomic<Int>(0)
    private let capturedKeys = Atomic<Int>(0)
    private let copiedBytes = Atomic<Int>(0)
    private let capturedByCommands = Atomic<Int>(0)

    init(
        engine: Engine,
        sequence: UInt64,
        keyCount: Int,
        changes: Int,
        createdAt: Int64,
        keysPerDatabase: [Int],
        buffers: [ShardImage]
    ) {
        self.engine = engine
        self.spares = Mutex(buffers)
        self.preparedBuffers = !buffers.isEmpty
        self.keysPerDatabase = keysPerDatabase
        self.sequence = sequence
        self.keyCount = keyCount
        self.changesAtCapture = changes
        self.createdAt = createdAt
        self.databases = engine.databases
        self.results = Mutex(Array(repeating: nil, count: Engine.shardCount))
    }

    /// Captures shard `index`. Called by ``Shard/prepareForChange()`` with that shard's lock held, before its holder
    /// changes anything: by a command, or by ``take(_:)`` on the snapshot thread (`bySnapshot`).
    ///
    /// Under the lock only a raw copy of the shard's tables and slab memory is taken (``ShardImage``), plus the
    /// serialized records of its collection values (objects are mutable and shared by reference, so they cannot be
    /// copied by `memcpy`). The string records are serialized from the copy later, without the lock.
    func captureShard(_ index: Int, bySnapshot: Bool = false) {
        if cancelled.load(ordering: .relaxed) { return }
        let start = Self.nanoseconds()
        let shard = engine.shards[index]
        var image: ShardImage? = nil
        if shard.tables.contains(where: { $0.count > 0 }) {
            let copy = spares.withLock { $0.popLast() } ?? ShardImage()
            copy.capture(shard)
            copiedBytes.add(copy.bytes, ordering: .relaxed)
            image = copy
        }
        var records: [UInt8] = []
        if shard.objectBytes != 0 {
            var keys = 0
            var scratch = ByteBuffer()
            for db in 0..<shard.tables.count {
                let table = shard.tables[db]
                guard table.count > 0 else { continue }
                for slot in 0..<table.capacity where table.isLive(slot) {
                    let entry = shard.entry(table, slot)
                    guard entry.type != .string else { continue }
                    SnapshotRecord.appendKey(db: db, entry: entry, to: &records, scratch: &scratch)
                    keys += 1
                }
            }
            capturedKeys.add(keys, ordering: .relaxed)
        }
        results.withLock { results in
            // After a cancel the copy is dropped (and freed with the last reference to it).
            if !cancelled.load(ordering: .relaxed) { results[index] = CapturedShard(records: records, image: image) }
        }
        if !bySnapshot { capturedByCommands.add(1, ordering: .relaxed) }
        let elapsed = Self.nanoseconds() - start
        var longest = longestInline.load(ordering: .relaxed)
        while elapsed > longest {
            let (done, current) = longestInline.compareExchange(expected: longest, desired: elapsed, ordering: .relaxed)
            if done { break }
            longest = current
        }
    }

    /// Gets a spare buffer big enough for shard `index` ready (allocated and its pages touched) while the shard is
    /// not locked, so that ``take(_:)`` only copies. Does nothing if the shard is captured already.
    public func prepare(_ index: Int) {
        let shard = engine.shards[index]
        let needed: Int = shard.lock.withLock {
            shard.lock.pendingCapture === self ? ShardImage.bytesNeeded(for: shard) : 0
        }
        guard needed > 0, !cancelled.load(ordering: .relaxed) else { return }
        let image = spares.withLock { spares -> ShardImage? in
            if let fitting = spares.firstIndex(where: { $0.capacity >= needed }) {
                // Put the fitting one last, where ``captureShard(_:bySnapshot:)`` takes from.
                spares.swapAt(fitting, spares.count - 1)
                return nil
            }
            return spares.popLast()
        }
        guard let image else { return }
        image.reserve(needed)
        spares.withLock { $0.append(image) }
    }

    /// Shard `index` as captured: copied now under its lock if no command has copied it yet. Each shard is handed
    /// out once; nil if it was handed out already or the capture was cancelled.
    public func take(_ index: Int) -> CapturedShard? {
        let shard = engine.shards[index]
        shard.lock.lock()
        if let capture = shard.lock.pendingCapture {
            shard.lock.pendingCapture = nil
            capture.captureShard(index, bySnapshot: capture === self)
        }
        shard.lock.unlock()
        let captured = results.withLock { results in
            let captured = results[index]
            results[index] = nil
            return captured
        }
        if index == Engine.shardCount - 1 { engine.capturing.store(false, ordering: .relaxed) }
        return captured
    }

    /// Appends the records of a captured shard to `out`: its collection records, then a record per string entry
    /// from the copy. Whenever `out` holds at least `flushBytes`, `flush` is called with it (and it is cleared
    /// afterwards, keeping its capacity); the caller writes what is left at the end.
    public func serialize(
        _ captured: CapturedShard,
        into out: inout [UInt8],
        flushBytes: Int = 1 << 20,
        flush: (inout [UInt8]) throws -> Void
    ) rethrows {
        out.append(contentsOf: captured.records)
        guard let image = captured.image else { return }
        var keys = 0
        var scratch = ByteBuffer()
        for table in image.tables {
            let slots = image.slots(table)
            for slot in 0..<table.capacity where slots[slot] > KeyTable.deletedSlot {
                let entry = image.entry(slots[slot])
                guard entry.type == .string else { continue }
                SnapshotRecord.appendKey(db: table.db, entry: entry, to: &out, scratch: &scratch)
                keys += 1
                if out.count >= flushBytes {
                    capturedKeys.add(keys, ordering: .relaxed)
                    keys = 0
                    try flush(&out)
                    out.removeAll(keepingCapacity: true)
                }
            }
        }
        capturedKeys.add(keys, ordering: .relaxed)
    }

    /// Gives a serialized shard's buffer back for the next shard (or frees it).
    public func recycle(_ captured: CapturedShard) {
        guard let image = captured.image, !cancelled.load(ordering: .relaxed) else { return }
        spares.withLock { spares in
            if spares.count < Self.spareLimit { spares.append(image) }
        }
    }

    /// The records of shard `index`, capturing it now (under its lock) if no one has yet, and serializing its string
    /// entries from the copy outside the lock. Each shard's bytes are handed out once.
    public func takeShard(_ index: Int) -> [UInt8] {
        guard let captured = take(index) else { return [] }
        var out: [UInt8] = []
        serialize(captured, into: &out, flushBytes: .max) { _ in }
        recycle(captured)
        return out
    }

    /// Abandons the capture: shards not serialized yet are skipped when next locked, copies already taken are freed.
    public func cancel() {
        cancelled.store(true, ordering: .relaxed)
        engine.capturing.store(false, ordering: .relaxed)
        results.withLock { results in
            results = Array(repeating: nil, count: Engine.shardCount)
        }
        spares.withLock { $0.removeAll() }
    }

    /// Frees the spare buffers (once every shard is taken).
    public func releaseBuffers() {
        spares.withLock { $0.removeAll() }
    }

    /// Key records serialized so far.
    public var keysCaptured: Int { capturedKeys.load(ordering: .relaxed) }

    /// Bytes of shard memory copied so far.
    public var bytesCopied: Int { copiedBytes.load(ordering: .relaxed) }

    /// Whether copy buffers for every shard were made ready before the capture point.
    public var copiedAhead: Bool { preparedBuffers }

    /// Shards copied by a command about to change them (rather than by the snapshot thread).
    public var shardsCapturedByCommands: Int { capturedByCommands.load(ordering: .relaxed) }

    /// The longest single shard capture under its lock, in nanoseconds: the most a lock holder waited for the
    /// capture.
    public var longestShardCaptureNanoseconds: Int { longestInline.load(ordering: .relaxed) }

    static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}

/// Copy buffers made ready before a capture begins (``Engine/makeCaptureBuffers()``), so that no shard copy, by the
/// snapshot or by a command, waits for memory to be allocated and mapped.
public final class CaptureBuffers: @unchecked Sendable {
    let images: [ShardImage]
    /// Bytes allocated.
    public let bytes: Int

    init(images: [ShardImage]) {
        self.images = images
        self.bytes = images.reduce(0) { $0 + $1.capacity }
    }
}

extension Engine {
    /// One pre-faulted copy buffer per shard with keys, sized to the shard now (plus slack), for
    /// ``beginCapture(buffers:_:)``. Each shard is locked only to read its size; the allocation and the first touch
    /// of every page happen outside the locks, on the calling thread (the snapshotter runs it at idle priority).
    public func makeCaptureBuffers() -> CaptureBuffers {
        var images: [ShardImage] = []
        for shard in shards {
            let needed = shard.lock.withLock { ShardImage.bytesNeeded(for: shard) }
            guard needed > 0 else { continue }
            let image = ShardImage()
            image.reserve(needed)
            images.append(image)
        }
        return CaptureBuffers(images: images)
    }

    /// Starts a point-in-time capture of the keyspace.
    ///
    /// Locks every shard (in index order) for as long as `atCapturePoint` and a key count take, marks each shard
    /// "capture pending" and returns; the shards are serialized afterwards (see ``KeyspaceCapture``).
    /// - Parameters:
    ///   - buffers: Copy buffers made ready beforehand (``makeCaptureBuffers()``); without them, buffers are allocated
    ///     as shards are copied and reused from shard to shard.
    ///   - atCapturePoint: Runs with every shard locked, so no change can be applied or journaled meanwhile;
    ///     returns the journal sequence number the capture corresponds to (and may start a new journal segment).
    public func beginCapture(buffers: CaptureBuffers? = nil, _ atCapturePoint: () -> UInt64) -> KeyspaceCapture {
        withAllShards {
            let sequence = atCapturePoint()
            var keys = 0
            var changes = 0
            var perDatabase = [Int](repeating: 0, count: databases)
            for shard in shards {
                for (db, table) in shard.tables.enumerated() {
                    keys += table.count
                    perDatabase[db] += table.count
                }
                changes &+= shard.changes
            }
            let capture = KeyspaceCapture(
                engine: self,
                sequence: sequence,
                keyCount: keys,
                changes: changes,
                createdAt: clock.milliseconds(),
                keysPerDatabase: perDatabase,
                buffers: buffers?.images ?? []
            )
            for shard in shards { shard.lock.pendingCapture = capture }
            capturing.store(true, ordering: .relaxed)
            return capture
        }
    }

    /// Grows the key tables of `db` so that `keys` keys spread over the shards fit without rehashing (before a load).
    public func reserve(keys: Int, db: Int) {
        guard db >= 0 && db < databases && keys > 0 else { return }
        let perShard = keys / Self.shardCount + keys / (Self.shardCount * 8) + 64
        for shard in shards {
            shard.lock.withLock {
                let table = shard.tables[db]
                let capacity = KeyTable.capacity(for: perShard)
                if capacity > table.capacity { table.resize(to: capacity, hasher: hasher, slab: shard.slab) }
            }
        }
    }

    /// Changes applied so far (write commands that changed something, and expired keys): Redis's dirty counter.
    public func changeCount() -> Int {
        var total = 0
        for shard in shards {
            shard.lock.withLock { total &+= shard.changes }
        }
        return total
    }

    /// Reads a LEB128 varint; nil if the buffer ends inside it.
    @inline(__always)
    static func readVarint(
        _ bytes: UnsafeRawBufferPointer,
        _ offset: inout Int,
        _ recordStart: Int
    ) throws(SnapshotRecord.DecodeError) -> Int? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                guard result <= UInt64(Int32.max) * 4 else {
                    throw SnapshotRecord.DecodeError(offset: recordStart, reason: "length \(result) too large")
                }
                offset = i
                return Int(result)
            }
            shift += 7
            if shift > 56 {
                throw SnapshotRecord.DecodeError(offset: recordStart, reason: "malformed length")
            }
        }
        return nil
    }
}
