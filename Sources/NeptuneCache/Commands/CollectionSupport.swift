import NIOCore
import NeptuneRESP

extension Engine {
    /// Finds a live key for a read: lazy expiry, hit/miss statistics and the access clock, as ``lookupRead``.
    @inline(__always)
    func lookupRead(_ shard: Shard, _ db: Int, _ key: UnsafeRawBufferPointer, _ hash: UInt64, now: Int64, touch: Bool)
        -> Int
    {
        let slot = shard.find(db, key, hash, now: now)
        if slot < 0 {
            shard.keyspaceMisses += 1
        } else {
            shard.keyspaceHits += 1
            if touch { shard.entry(shard.tables[db], slot).access = lruClock(now) }
        }
        return slot
    }

    /// Runs `body` with the collection at `key` for reading, or nil when the key is absent.
    /// - Throws: ``CommandError/wrongType`` when the key holds another type, or what `body` throws.
    func readObject<T: CollectionObject, R>(
        _ key: ByteBuffer,
        _ c: CommandContext,
        _ type: ValueType,
        as: T.Type,
        _ body: (T?) throws -> R
    ) throws -> R {
        let db = c.db
        let now = c.now
        let touch = !c.noTouch
        return try withKey(key) { k, hash, shard in
            let slot = lookupRead(shard, db, k, hash, now: now, touch: touch)
            guard slot >= 0 else { return try body(nil) }
            let e = shard.entry(shard.tables[db], slot)
            guard e.type == type else { throw CommandError.wrongType }
            return try body(unsafeDowncast(e.object, to: T.self))
        }
    }

    /// Runs `body` with the collection at `key` to change it.
    ///
    /// When the key is absent, `body` gets a new empty object if `create` is set (it is stored only if `body` leaves
    /// it non-empty); otherwise `body` is not run and the result is nil. Afterwards an emptied collection's key is
    /// deleted (as Redis deletes empty collections) and the shard's memory charge follows the object's size.
    /// `body` must throw before changing anything.
    /// - Throws: ``CommandError/wrongType`` when the key holds another type, or what `body` throws.
    func writeObject<T: CollectionObject, R>(
        _ key: ByteBuffer,
        db: Int,
        now: Int64,
        _ type: ValueType,
        as: T.Type,
        create: Bool,
        _ body: (T) throws -> R
    ) throws -> R? {
        try withKey(key) { k, hash, shard in
            try writeObject(shard, k, hash, db: db, now: now, type, as: T.self, create: create, body)
        }
    }

    /// ``writeObject(_:db:now:_:as:create:_:)`` with the key's shard already locked.
    func writeObject<T: CollectionObject, R>(
        _ shard: Shard,
        _ k: UnsafeRawBufferPointer,
        _ hash: UInt64,
        db: Int,
        now: Int64,
        _ type: ValueType,
        as: T.Type,
        create: Bool,
        _ body: (T) throws -> R
    ) throws -> R? {
        let slot = shard.find(db, k, hash, now: now)
        if slot < 0 {
            guard create else { return nil }
            let object = unsafeDowncast(CollectionObject.make(type), to: T.self)
            let result = try body(object)
            if !object.isEmpty {
                shard.storeObject(db, key: k, hash: hash, slot: -1, object: object, expiry: nil, access: lruClock(now))
            }
            return result
        }
        let e = shard.entry(shard.tables[db], slot)
        guard e.type == type else { throw CommandError.wrongType }
        let object = unsafeDowncast(e.object, to: T.self)
        e.access = lruClock(now)
        let result: R
        do {
            result = try body(object)
        } catch {
            shard.recharge(object)
            throw error
        }
        if object.isEmpty {
            // The body may have inserted other keys of this shard: find the slot again.
            let current = shard.tables[db].find(k, hash: hash, slab: shard.slab)
            if current >= 0 { shard.remove(db, current) }
        } else {
            shard.recharge(object)
        }
        return result
    }

    /// Replaces whatever `key` holds with `object` (no expiry), or deletes the key when `object` is empty: the
    /// destination write of the STORE commands. Returns whether a key existed before.
    @discardableResult
    func replaceValue(_ key: ByteBuffer, db: Int, now: Int64, with object: CollectionObject) -> Bool {
        withKey(key) { k, hash, shard in
            replaceValue(shard, k, hash, db: db, now: now, with: object)
        }
    }

    /// ``replaceValue(_:db:now:with:)`` with the key's shard already locked.
    @discardableResult
    func replaceValue(
        _ shard: Shard,
        _ k: UnsafeRawBufferPointer,
        _ hash: UInt64,
        db: Int,
        now: Int64,
        with object: CollectionObject
    ) -> Bool {
        let slot = shard.find(db, k, hash, now: now)
        if object.isEmpty {
            if slot >= 0 { shard.remove(db, slot) }
            return slot >= 0
        }
        shard.storeObject(db, key: k, hash: hash, slot: slot, object: object, expiry: nil, access: lruClock(now))
        return slot >= 0
    }

    /// The thresholds of the compact encodings.
    var collectionLimits: CollectionLimits {
        settings.collectionLimits
    }

    // MARK: Argument parsing shared by collection commands

    /// Parses a count or index argument that must be a 64-bit integer (Redis's getLongFromObjectOrReply).
    static func long(_ argument: ByteBuffer) throws -> Int {
        Int(try integer(argument))
    }

    /// Parses a positive count (`COUNT` of SPOP, LPOP ...): Redis's "value is out of range, must be positive".
    static func positiveCount(_ argument: ByteBuffer) throws -> Int {
        let value = try integer(argument, CommandError("ERR value is out of range, must be positive"))
        guard value >= 0 else { throw CommandError("ERR value is out of range, must be positive") }
        return Int(value)
    }

    /// Parses a double argument as Redis's getDoubleFromObjectOrReply: `error` when not a valid number.
    static func double(_ argument: ByteBuffer, _ error: CommandError = .notFloat) throws -> Double {
        guard let value = argument.withUnsafeReadableBytes({ RedisNumber.parseDouble($0) }), !value.isNaN else {
            throw error
        }
        return value
    }

    /// The argument of SINTERCARD's and ZINTERCARD's `LIMIT`: a non-negative integer (0: no limit).
    static func cardinalityLimit(_ argument: ByteBuffer) throws -> Int {
        let message = CommandError("ERR LIMIT can't be negative")
        let limit = try integer(argument, message)
        guard limit >= 0 else { throw message }
        return Int(limit)
    }

    /// The options of the SCAN family after the cursor (and key): MATCH and COUNT, and TYPE for SCAN itself.
    struct ScanOptions {
        var count = 10
        /// Nil when absent or when it matches everything (`*`).
        var pattern: ByteBuffer?
        var typeName: ByteBuffer?

        /// Parses `a[start...]`; `TYPE` is a syntax error unless `acceptsType` (SCAN) is set, as in Redis.
        init(_ a: [ByteBuffer], from start: Int, acceptsType: Bool = false) throws {
            var i = start
            while i < a.count {
                let remaining = a.count - i
                if a[i].isCaseInsensitive("count") && remaining >= 2 {
                    let value = try integer(a[i + 1])
                    guard value >= 1 else { throw CommandError.syntax }
                    count = Int(clamping: value)
                    i += 2
                } else if a[i].isCaseInsensitive("match") && remaining >= 2 {
                    pattern = a[i + 1]
                    i += 2
                } else if acceptsType && a[i].isCaseInsensitive("type") && remaining >= 2 {
                    typeName = a[i + 1]
                    i += 2
                } else {
                    throw CommandError.syntax
                }
            }
            if let p = pattern, p.withUnsafeReadableBytes({ GlobPattern.isMatchAll($0) }) { pattern = nil }
        }

        func matches(_ bytes: UnsafeRawBufferPointer) -> Bool {
            guard let pattern else { return true }
            return pattern.withUnsafeReadableBytes { GlobPattern.matches(pattern: $0, string: bytes) }
        }
    }

    /// Writes a SCAN-family reply: the next cursor and the flat element list.
    static func writeScanReply(_ next: UInt64, _ elements: [[UInt8]], _ c: inout CommandContext) {
        c.reply.writeRESPArrayHeader(2)
        c.reply.writeRESPBulkString(String(next))
        c.reply.writeRESPArrayHeader(elements.count)
        for e in elements { c.reply.writeRESPBulkString(e) }
    }

    /// The elements `[cursor, cursor + n)` of a general-encoding collection held in iteration order, and the
    /// next cursor (0 at the end). Used by HSCAN, SSCAN and ZSCAN past their compact encodings.
    static func scanWindow(total: Int, cursor: UInt64, count: Int) -> (range: Range<Int>, next: UInt64) {
        let start = cursor >= UInt64(total) ? total : Int(cursor)
        let end = min(total, start + count)
        return (start..<end, end >= total ? 0 : UInt64(end))
    }
}
