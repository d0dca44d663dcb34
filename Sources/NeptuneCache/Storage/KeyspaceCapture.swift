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
/// the snapshot's own thread through ``takeShard(_:)``, or a command that is about to change the shard (copy-on-write
/// at shard granularity). Capturing copies the shard's slot arrays and slab pages (``ShardImage``) and serializes only
/// its collection values under the lock; string records are serialized from the copy afterwards, outside the lock.
/// Every shard is therefore captured exactly as it was at ``sequence``, and a client waits at most for one shard's
/// memory copy (plus the serialization of its collections).
public final class KeyspaceCapture: @unchecked Sendable {
    /// A shard as captured under its lock: its collection records and a copy of its memory for the string records.
    struct CapturedShard: Sendable {
        var records: [UInt8]
        var image: ShardImage
    }

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
    private let cancelled = Atomic<Bool>(false)
    private let longestInline = Atomic<Int>(0)
    private let capturedKeys = Atomic<Int>(0)

    init(engine: Engine, sequence: UInt64, keyCount: Int, changes: Int, createdAt: Int64, keysPerDatabase: [Int]) {
        self.engine = engine
        self.keysPerDatabase = keysPerDatabase
        self.sequence = sequence
        self.keyCount = keyCount
        self.changesAtCapture = changes
        self.createdAt = createdAt
        self.databases = engine.databases
        self.results = Mutex(Array(repeating: nil, count: Engine.shardCount))
    }

    /// Captures shard `index`. Called by ``ShardLock`` with that lock held, before its holder changes anything.
    ///
    /// Under the lock only a raw copy of the shard's tables and slab memory is taken (``ShardImage``), plus the
    /// serialized records of its collection values (objects are mutable and shared by reference, so they cannot be
    /// copied by `memcpy`). The string records are serialized from the copy by ``takeShard(_:)``, without the lock.
    func captureShard(_ index: Int) {
        if cancelled.load(ordering: .relaxed) { return }
        let start = Self.nanoseconds()
        let shard = engine.shards[index]
        let image = ShardImage(shard: shard)
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
        let stored = results.withLock { results in
            if cancelled.load(ordering: .relaxed) { return false }
            results[index] = CapturedShard(records: records, image: image)
            return true
        }
        if !stored { image.release() }
        let elapsed = Self.nanoseconds() - start
        var longest = longestInline.load(ordering: .relaxed)
        while elapsed > longest {
            let (done, current) = longestInline.compareExchange(expected: longest, desired: elapsed, ordering: .relaxed)
            if done { break }
            longest = current
        }
    }

    /// The records of shard `index`, capturing it now (under its lock) if no one has yet, and serializing its string
    /// entries from the copy outside the lock. Each shard's bytes are handed out once and then released.
    public func takeShard(_ index: Int) -> [UInt8] {
        let shard = engine.shards[index]
        shard.lock.lock()
        shard.prepareForChange()
        shard.lock.unlock()
        let captured = results.withLock { results in
            let captured = results[index]
            results[index] = nil
            return captured
        }
        if index == Engine.shardCount - 1 { engine.capturing.store(false, ordering: .relaxed) }
        guard let captured else { return [] }
        var out = captured.records
        let image = captured.image
        defer { image.release() }
        out.reserveCapacity(out.count + image.bytes + image.bytes / 4)
        var keys = 0
        var scratch = ByteBuffer()
        for table in image.tables {
            for slot in 0..<table.capacity where table.slots[slot] > KeyTable.deletedSlot {
                let entry = image.entry(table.slots[slot])
                guard entry.type == .string else { continue }
                SnapshotRecord.appendKey(db: table.db, entry: entry, to: &out, scratch: &scratch)
                keys += 1
            }
        }
        capturedKeys.add(keys, ordering: .relaxed)
        return out
    }

    /// Abandons the capture: shards not serialized yet are skipped when next locked.
    public func cancel() {
        cancelled.store(true, ordering: .relaxed)
        engine.capturing.store(false, ordering: .relaxed)
        let abandoned = results.withLock { results in
            let abandoned = results
            results = Array(repeating: nil, count: Engine.shardCount)
            return abandoned
        }
        for case let captured? in abandoned { captured.image.release() }
    }

    /// Key records serialized so far.
    public var keysCaptured: Int { capturedKeys.load(ordering: .relaxed) }

    /// The longest single shard serialization, in nanoseconds: the most a lock holder waited for the capture.
    public var longestShardCaptureNanoseconds: Int { longestInline.load(ordering: .relaxed) }

    static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}

extension Engine {
    /// Starts a point-in-time capture of the keyspace.
    ///
    /// Locks every shard (in index order) for as long as `atCapturePoint` and a key count take, marks each shard
    /// "capture pending" and returns; the shards are serialized afterwards (see ``KeyspaceCapture``).
    /// - Parameter atCapturePoint: Runs with every shard locked, so no change can be applied or journaled meanwhile;
    ///   returns the journal sequence number the capture corresponds to (and may start a new journal segment).
    public func beginCapture(_ atCapturePoint: () -> UInt64) -> KeyspaceCapture {
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
                keysPerDatabase: perDatabase
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
