import NIOCore
import Synchronization

/// Where the loader folds the key-table slots it reads ahead, so that the reads are not optimized away.
private let readAheadSink = Atomic<UInt64>(0)

extension Engine {
    /// Records parsed before any of them is stored: their home slots are read first, all together, so that the
    /// cache misses of a batch overlap instead of coming one per key.
    static let loadBatchSize = 32

    /// One key record parsed from a snapshot and not stored yet.
    private struct ParsedRecord {
        var start: Int
        var db: Int
        var type: ValueType
        var encodingFlags: UInt8
        var expiry: Int64?
        var keyStart: Int
        var keyLength: Int
        var valueStart: Int
        var valueLength: Int
        var hash: UInt64
        /// The key's home slot in its table (valid until the next store grows the table).
        var homeSlot: UnsafePointer<UInt64>? = nil
    }

    /// Loads the snapshot records in `bytes` into the keyspace, stopping before a record that is cut off at the end.
    ///
    /// Keys are stored as the records say (expired ones too: recovery replays the journal with expiry suspended and
    /// purges expired keys afterwards). A key already present is replaced.
    ///
    /// The keys of a snapshot arrive in an order unrelated to their slots in this process's key tables (the hash
    /// seed differs from run to run), so storing one is a cache miss on its table slot. Records are therefore
    /// parsed in batches of ``loadBatchSize``: the home slots of a whole batch are read first, in a loop of
    /// independent loads the processor overlaps, then the keys are stored. Only the loader touches the keyspace while it loads
    /// (commands get `-LOADING`), so those reads need no lock.
    /// - Parameters:
    ///   - bytes: Records, possibly ending in the first part of one.
    ///   - keysLoaded: Incremented for every key record loaded.
    ///   - endCount: Set to the end marker's count when the end marker is read; nothing may follow it.
    /// - Returns: The bytes consumed (complete records).
    /// - Throws: ``SnapshotRecord/DecodeError`` for a malformed record or anything after the end marker.
    public func loadSnapshotRecords(
        _ bytes: UnsafeRawBufferPointer,
        keysLoaded: inout Int,
        endCount: inout UInt64?
    ) throws(SnapshotRecord.DecodeError) -> Int {
        let access = lruClock(clock.milliseconds())
        var batch: [ParsedRecord] = []
        batch.reserveCapacity(Self.loadBatchSize)
        var offset = 0
        var sink: UInt64 = 0
        var complete = true
        while complete && offset < bytes.count {
            batch.removeAll(keepingCapacity: true)
            while batch.count < Self.loadBatchSize && offset < bytes.count {
                guard let record = try parseSnapshotRecord(bytes, &offset, endCount: &endCount) else {
                    complete = false
                    break
                }
                guard var record else { continue }  // the end marker
                record.homeSlot = shard(for: record.hash).tables[record.db].homeSlotAddress(of: record.hash)
                batch.append(record)
            }
            // No call and no reference counting (an atomic instruction waits for earlier loads) in this loop: the
            // loads overlap.
            for record in batch {
                sink &+= record.homeSlot!.pointee
            }
            for record in batch {
                try storeSnapshotRecord(record, bytes, access: access)
            }
            keysLoaded += batch.count
        }
        readAheadSink.store(sink, ordering: .relaxed)
        return offset
    }

    /// Parses the record at `offset` and moves `offset` past it.
    /// - Returns: nil if the buffer ends inside the record (`offset` unchanged); `.some(nil)` for the end marker;
    ///   the key record otherwise.
    @inline(__always)
    private func parseSnapshotRecord(
        _ bytes: UnsafeRawBufferPointer,
        _ offset: inout Int,
        endCount: inout UInt64?
    ) throws(SnapshotRecord.DecodeError) -> ParsedRecord?? {
        let count = bytes.count
        let start = offset
        var i = offset
        if endCount != nil {
            throw SnapshotRecord.DecodeError(offset: start, reason: "data after the end marker")
        }
        let opcode = bytes[i]
        i += 1
        if opcode == SnapshotRecord.endOpcode {
            guard count - i >= 8 else { return nil }
            endCount = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            offset = i + 8
            return .some(nil)
        }
        guard opcode == SnapshotRecord.keyOpcode else {
            throw SnapshotRecord.DecodeError(offset: start, reason: "unknown record type \(opcode)")
        }
        guard let db = try Self.readVarint(bytes, &i, start) else { return nil }
        guard db < databases else {
            throw SnapshotRecord.DecodeError(
                offset: start,
                reason: "database \(db) out of range (the server has \(databases) databases)"
            )
        }
        guard count - i >= 2 else { return nil }
        let typeByte = bytes[i]
        let flags = bytes[i + 1]
        i += 2
        guard let type = ValueType(rawValue: typeByte) else {
            throw SnapshotRecord.DecodeError(offset: start, reason: "unsupported value type \(typeByte)")
        }
        guard flags & ~SnapshotRecord.knownFlags == 0 else {
            throw SnapshotRecord.DecodeError(offset: start, reason: "unknown record flags \(flags)")
        }
        var expiry: Int64? = nil
        if flags & SnapshotRecord.expiryFlag != 0 {
            guard count - i >= 8 else { return nil }
            expiry = Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: Int64.self))
            i += 8
        }
        guard let keyLength = try Self.readVarint(bytes, &i, start) else { return nil }
        guard count - i >= keyLength else { return nil }
        let keyStart = i
        i += keyLength
        guard let valueLength = try Self.readVarint(bytes, &i, start) else { return nil }
        guard count - i >= valueLength else { return nil }
        let valueStart = i
        i += valueLength
        var encodingFlags: UInt8 = 0
        if flags & SnapshotRecord.rawFlag != 0 { encodingFlags |= Entry.rawFlag }
        if flags & SnapshotRecord.notIntegerFlag != 0 { encodingFlags |= Entry.notIntegerFlag }
        if flags & SnapshotRecord.unsharedFlag != 0 { encodingFlags |= Entry.unsharedFlag }
        offset = i
        return ParsedRecord(
            start: start,
            db: db,
            type: type,
            encodingFlags: encodingFlags,
            expiry: expiry,
            keyStart: keyStart,
            keyLength: keyLength,
            valueStart: valueStart,
            valueLength: valueLength,
            hash: hasher.hash(UnsafeRawBufferPointer(rebasing: bytes[keyStart..<(keyStart + keyLength)]))
        )
    }

    /// Stores one parsed record (replacing the key if present).
    @inline(__always)
    private func storeSnapshotRecord(
        _ record: ParsedRecord,
        _ bytes: UnsafeRawBufferPointer,
        access: UInt32
    ) throws(SnapshotRecord.DecodeError) {
        let key = UnsafeRawBufferPointer(rebasing: bytes[record.keyStart..<(record.keyStart + record.keyLength)])
        let value = UnsafeRawBufferPointer(
            rebasing: bytes[record.valueStart..<(record.valueStart + record.valueLength)]
        )
        let hash = record.hash
        let db = record.db
        let shard = shard(for: hash)
        if record.type != .string {
            var payload = ByteBuffer(bytes: value)
            let object: CollectionObject
            do {
                object = try CollectionObject.deserialize(type: record.type, from: &payload)
            } catch {
                throw SnapshotRecord.DecodeError(offset: record.start, reason: "bad \(record.type.name) value: \(error)")
            }
            guard payload.readableBytes == 0 else {
                throw SnapshotRecord.DecodeError(
                    offset: record.start,
                    reason: "bytes left after the \(record.type.name) value"
                )
            }
            shard.lock.withLock {
                let slot = shard.tables[db].find(key, hash: hash, slab: shard.slab)
                shard.storeObject(db, key: key, hash: hash, slot: slot, object: object, expiry: record.expiry, access: access)
            }
            return
        }
        shard.lock.withLock {
            let slot = shard.tables[db].find(key, hash: hash, slab: shard.slab)
            let stored = shard.store(
                db,
                key: key,
                hash: hash,
                slot: slot,
                type: record.type,
                valueLength: value.count,
                expiry: record.expiry,
                access: access
            ) { target in
                if value.count > 0 { target.baseAddress!.copyMemory(from: value.baseAddress!, byteCount: value.count) }
            }
            stored.entry.flags |= record.encodingFlags
        }
    }
}
