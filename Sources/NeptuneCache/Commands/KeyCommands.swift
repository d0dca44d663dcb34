import NIOCore
import NIOConcurrencyHelpers
import NeptuneRESP

extension Engine {
    // MARK: Existence and deletion

    static func del(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var removed = 0
        var missing: [Int] = []
        for i in 1..<a.count {
            engine.withKey(a[i]) { key, hash, shard in
                let slot = shard.find(c.db, key, hash, now: c.now)
                if slot >= 0 {
                    shard.remove(c.db, slot)
                    removed += 1
                } else {
                    missing.append(i)
                }
            }
        }
        // Only the keys actually deleted are journaled (and reported to WATCH and other observers).
        if removed == 0 {
            c.journal = .nothing
        } else if !missing.isEmpty {
            var deleted = [a[0]]
            var next = 0
            for i in 1..<a.count {
                if next < missing.count && missing[next] == i {
                    next += 1
                } else {
                    deleted.append(a[i])
                }
            }
            c.journal = .commands([deleted])
        }
        c.reply.writeRESPInteger(removed)
    }

    static func exists(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var found = 0
        // All the keys' shards are locked together, so EXISTS never counts half of a transaction or an MSET.
        engine.withShards(of: Array(a[1...])) {
            for i in 1..<a.count {
                engine.withKey(a[i]) { key, hash, shard in
                    if shard.find(c.db, key, hash, now: c.now) >= 0 { found += 1 }
                }
            }
        }
        c.reply.writeRESPInteger(found)
    }

    static func touch(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var found = 0
        engine.withShards(of: Array(a[1...])) {
            for i in 1..<a.count {
                engine.withKey(a[i]) { key, hash, shard in
                    let slot = shard.find(c.db, key, hash, now: c.now)
                    if slot >= 0 {
                        found += 1
                        if !c.noTouch { shard.touch(shard.entry(shard.tables[c.db], slot), now: c.now) }
                    }
                }
            }
        }
        c.reply.writeRESPInteger(found)
    }

    static func type(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            if slot < 0 {
                c.reply.writeRESPSimpleString("none")
            } else {
                c.reply.writeRESPSimpleString(shard.entry(shard.tables[c.db], slot).type.name)
            }
        }
    }

    // MARK: Moving keys

    /// Writes a copy of entry `source` as `key` into `shard` (slot -1 inserts). Both shards are locked.
    ///
    /// A collection value is shared (the new entry takes its own reference and the memory charge moves to
    /// `shard`, for RENAME and MOVE, whose callers then remove the source) or, with `duplicate`, deep-copied (COPY).
    @discardableResult
    func copyEntry(
        _ source: Entry,
        from sourceShard: Shard,
        to shard: Shard,
        db: Int,
        key: UnsafeRawBufferPointer,
        hash: UInt64,
        slot: Int,
        expiry: Int64?,
        duplicate: Bool = false
    ) -> Entry {
        if source.type != .string {
            let object = source.object
            sourceShard.recharge(object)
            let stored = shard.storeObject(
                db,
                key: key,
                hash: hash,
                slot: slot,
                object: duplicate ? object.copy() : object,
                expiry: expiry,
                access: source.access
            )
            // Sharing: the charge moves with the object; removing the source entry discharges `sourceShard`.
            return stored.entry
        }
        let value = UnsafeRawBufferPointer(source.value)
        let flags = source.encodingFlags
        let stored = shard.store(
            db,
            key: key,
            hash: hash,
            slot: slot,
            type: source.type,
            valueLength: value.count,
            expiry: expiry,
            access: source.access
        ) { target in
            if value.count > 0 { target.baseAddress!.copyMemory(from: value.baseAddress!, byteCount: value.count) }
        }
        stored.entry.flags |= flags
        return stored.entry
    }

    /// Locks the shards of two keys (in order) and runs `body` with both keys resolved.
    func withTwoKeys<R>(
        _ first: ByteBuffer,
        _ second: ByteBuffer,
        _ body: (
            _ k1: UnsafeRawBufferPointer, _ h1: UInt64, _ s1: Shard,
            _ k2: UnsafeRawBufferPointer, _ h2: UInt64, _ s2: Shard
        ) throws -> R
    ) rethrows -> R {
        try first.withUnsafeReadableBytes { k1 in
            try second.withUnsafeReadableBytes { k2 in
                let h1 = hasher.hash(k1)
                let h2 = hasher.hash(k2)
                let s1 = shard(for: h1)
                let s2 = shard(for: h2)
                if s1 === s2 {
                    s1.lock.lock()
                } else if s1.index < s2.index {
                    s1.lock.lock()
                    s2.lock.lock()
                } else {
                    s2.lock.lock()
                    s1.lock.lock()
                }
                defer {
                    s1.lock.unlock()
                    if s1 !== s2 { s2.lock.unlock() }
                }
                return try body(k1, h1, s1, k2, h2, s2)
            }
        }
    }

    static func renameGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, nx: Bool) throws {
        try engine.withTwoKeys(a[1], a[2]) { k1, _, s1, k2, h2, s2 in
            let sameKey = k1.elementsEqual(k2)
            let slot = s1.find(c.db, k1, engine.hasher.hash(k1), now: c.now)
            guard slot >= 0 else { throw CommandError.noSuchKey }
            if sameKey {
                c.journal = .nothing
                return nx ? c.reply.writeRESPInteger(0) : c.reply.writeRESPSimpleString("OK")
            }
            let destination = s2.find(c.db, k2, h2, now: c.now)
            if destination >= 0 && nx {
                c.journal = .nothing
                return c.reply.writeRESPInteger(0)
            }
            let source = s1.entry(s1.tables[c.db], slot)
            engine.copyEntry(
                source,
                from: s1,
                to: s2,
                db: c.db,
                key: k2,
                hash: h2,
                slot: destination,
                expiry: source.hasExpiry ? source.expiry : nil
            )
            // The destination insert may have resized s2's table, but never s1's unless they are the same shard.
            let sourceSlot = s1 === s2 ? s1.find(c.db, k1, engine.hasher.hash(k1), now: c.now) : slot
            s1.remove(c.db, sourceSlot)
            nx ? c.reply.writeRESPInteger(1) : c.reply.writeRESPSimpleString("OK")
        }
    }

    static func rename(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try renameGeneric(engine, a, &c, nx: false)
    }

    static func renamenx(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try renameGeneric(engine, a, &c, nx: true)
    }

    static func copy(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var targetDB = c.db
        var replace = false
        var j = 3
        while j < a.count {
            if a[j].isCaseInsensitive("replace") {
                replace = true
            } else if a[j].isCaseInsensitive("db") && j < a.count - 1 {
                let db = try int32(a[j + 1])
                guard db >= 0 && db < engine.databases else { throw CommandError.dbIndexOutOfRange }
                targetDB = db
                j += 1
            } else {
                throw CommandError.syntax
            }
            j += 1
        }
        if targetDB == c.db && a[1].readableBytesView.elementsEqual(a[2].readableBytesView) {
            throw CommandError.sameObject
        }
        let sourceDB = c.db
        engine.withTwoKeys(a[1], a[2]) { k1, h1, s1, k2, h2, s2 in
            let slot = s1.find(sourceDB, k1, h1, now: c.now)
            guard slot >= 0 else {
                c.journal = .nothing
                return c.reply.writeRESPInteger(0)
            }
            var destination = s2.find(targetDB, k2, h2, now: c.now)
            if destination >= 0 {
                guard replace else {
                    c.journal = .nothing
                    return c.reply.writeRESPInteger(0)
                }
                s2.remove(targetDB, destination)
                destination = -1
            }
            // Re-find the source: removing the destination may have shrunk a shared table.
            let sourceSlot = s1.find(sourceDB, k1, h1, now: c.now)
            let source = s1.entry(s1.tables[sourceDB], sourceSlot)
            let copied = engine.copyEntry(
                source,
                from: s1,
                to: s2,
                db: targetDB,
                key: k2,
                hash: h2,
                slot: destination,
                expiry: source.hasExpiry ? source.expiry : nil,
                duplicate: true
            )
            copied.flags |= Entry.unsharedFlag
            // Only the destination changed (in the target database): report it, not the source.
            c.reportedOwnChanges = true
            if !engine.observers.isEmpty { engine.notifyKeyChanged(db: targetDB, key: k2, hash: h2) }
            c.reply.writeRESPInteger(1)
        }
    }

    static func move(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let targetDB = try int32(a[2])
        guard targetDB >= 0 && targetDB < engine.databases else { throw CommandError.dbIndexOutOfRange }
        guard targetDB != c.db else { throw CommandError.sameObject }
        let sourceDB = c.db
        engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(sourceDB, key, hash, now: c.now)
            guard slot >= 0, shard.find(targetDB, key, hash, now: c.now) < 0 else {
                c.journal = .nothing
                return c.reply.writeRESPInteger(0)
            }
            let source = shard.entry(shard.tables[sourceDB], slot)
            engine.copyEntry(
                source,
                from: shard,
                to: shard,
                db: targetDB,
                key: key,
                hash: hash,
                slot: -1,
                expiry: source.hasExpiry ? source.expiry : nil
            )
            shard.remove(sourceDB, slot)
            if !engine.observers.isEmpty { engine.notifyKeyChanged(db: targetDB, key: key, hash: hash) }
            c.reply.writeRESPInteger(1)
        }
    }

    static func swapdb(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let first = try int32(a[1], CommandError("ERR invalid first DB index"))
        let second = try int32(a[2], CommandError("ERR invalid second DB index"))
        guard first >= 0 && first < engine.databases && second >= 0 && second < engine.databases else {
            throw CommandError.dbIndexOutOfRange
        }
        engine.withAllShards {
            engine.notifyDatabasesWillChange(.swap(first, second))
            for shard in engine.shards {
                shard.tables.swapAt(first, second)
            }
        }
        c.reply.writeRESPSimpleString("OK")
    }

    static func select(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let db = try int32(a[1])
        guard db >= 0 && db < engine.databases else { throw CommandError.dbIndexOutOfRange }
        c.db = db
        c.reply.writeRESPSimpleString("OK")
    }

    // MARK: Expiry

    static func expireGeneric(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        unitSeconds: Bool,
        absolute: Bool,
        command: String
    ) throws {
        var nx = false
        var xx = false
        var gt = false
        var lt = false
        for j in 3..<max(3, a.count) {
            let opt = a[j]
            if opt.isCaseInsensitive("nx") {
                nx = true
            } else if opt.isCaseInsensitive("xx") {
                xx = true
            } else if opt.isCaseInsensitive("gt") {
                gt = true
            } else if opt.isCaseInsensitive("lt") {
                lt = true
            } else {
                throw CommandError.formatted("ERR Unsupported option \(cString(opt, limit: Int.max))")
            }
        }
        if nx && (xx || gt || lt) {
            throw CommandError("ERR NX and XX, GT or LT options at the same time are not compatible")
        }
        if gt && lt { throw CommandError("ERR GT and LT options at the same time are not compatible") }
        var when = try integer(a[2])
        if unitSeconds {
            if when > Int64.max / 1000 || when < Int64.min / 1000 { throw CommandError.invalidExpireTime(command) }
            when *= 1000
        }
        let base: Int64 = absolute ? 0 : c.now
        if when > Int64.max - base { throw CommandError.invalidExpireTime(command) }
        when += base
        c.journal = .nothing
        engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            guard slot >= 0 else { return c.reply.writeRESPInteger(0) }
            let current = Self.expiry(shard, c.db, slot)
            if nx && current != nil { return c.reply.writeRESPInteger(0) }
            if xx && current == nil { return c.reply.writeRESPInteger(0) }
            if gt && (current == nil || when <= current!) { return c.reply.writeRESPInteger(0) }
            if lt, let current, when >= current { return c.reply.writeRESPInteger(0) }
            if when <= c.now {
                shard.remove(c.db, slot)
                c.journal = .commands([[JournalWords.del, a[1]]])
            } else {
                shard.setExpiry(c.db, slot, when)
                c.journal = .commands([[JournalWords.pexpireat, a[1], JournalWords.number(when)]])
            }
            c.reply.writeRESPInteger(1)
        }
    }

    static func expire(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try expireGeneric(engine, a, &c, unitSeconds: true, absolute: false, command: "expire")
    }

    static func pexpire(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try expireGeneric(engine, a, &c, unitSeconds: false, absolute: false, command: "pexpire")
    }

    static func expireat(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try expireGeneric(engine, a, &c, unitSeconds: true, absolute: true, command: "expireat")
    }

    static func pexpireat(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try expireGeneric(engine, a, &c, unitSeconds: false, absolute: true, command: "pexpireat")
    }

    static func ttlGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, milliseconds: Bool, absolute: Bool) {
        engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            guard slot >= 0 else { return c.reply.writeRESPInteger(-2) }
            guard let expiry = Self.expiry(shard, c.db, slot) else { return c.reply.writeRESPInteger(-1) }
            var ttl = absolute ? expiry : expiry - c.now
            if ttl < 0 { ttl = 0 }
            // Rounded to seconds as Redis does; unsigned so an expiry at Int64.max cannot overflow.
            c.reply.writeRESPInteger(Int(milliseconds ? ttl : Int64((UInt64(ttl) &+ 500) / 1000)))
        }
    }

    static func ttl(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ttlGeneric(engine, a, &c, milliseconds: false, absolute: false)
    }

    static func pttl(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ttlGeneric(engine, a, &c, milliseconds: true, absolute: false)
    }

    static func expiretime(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ttlGeneric(engine, a, &c, milliseconds: false, absolute: true)
    }

    static func pexpiretime(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ttlGeneric(engine, a, &c, milliseconds: true, absolute: true)
    }

    static func persist(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            guard slot >= 0, Self.expiry(shard, c.db, slot) != nil else {
                c.journal = .nothing
                return c.reply.writeRESPInteger(0)
            }
            shard.setExpiry(c.db, slot, nil)
            c.reply.writeRESPInteger(1)
        }
    }

    // MARK: Iteration

    static func keys(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var out = ByteBuffer()
        var count = 0
        // Every shard stays locked for the whole walk (as Redis's single thread does), so KEYS never returns half
        // of an EXEC or an MSET.
        a[1].withUnsafeReadableBytes { pattern in
            let all = GlobPattern.isMatchAll(pattern)
            engine.withAllShards {
                for shard in engine.shards {
                    let table = shard.tables[c.db]
                    for slot in 0..<table.capacity where table.isLive(slot) {
                        let e = shard.entry(table, slot)
                        if e.hasExpiry && e.expiry <= c.now { continue }
                        let key = e.key
                        if all || GlobPattern.matches(pattern: pattern, string: key) {
                            out.writeRESPBulkString(key)
                            count += 1
                        }
                    }
                }
            }
        }
        c.reply.writeRESPArrayHeader(count)
        c.reply.writeBuffer(&out)
    }

    /// Parses a SCAN cursor as C's strtoul does (Redis's parseScanCursorOrReply).
    static func scanCursor(_ argument: ByteBuffer) throws -> UInt64 {
        let invalid = CommandError("ERR invalid cursor")
        var bytes = argument.readableBytesView[...]
        guard let first = bytes.first else { return 0 }
        if first == 0x20 || (first >= 9 && first <= 13) { throw invalid }
        var negative = false
        if first == UInt8(ascii: "+") || first == UInt8(ascii: "-") {
            negative = first == UInt8(ascii: "-")
            bytes = bytes.dropFirst()
        }
        guard !bytes.isEmpty else { throw invalid }
        var value: UInt64 = 0
        for byte in bytes {
            guard byte >= 48 && byte <= 57 else { throw invalid }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(byte - 48))
            if o1 || o2 { throw invalid }
            value = s
        }
        return negative ? 0 &- value : value
    }

    static func scan(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let cursor = try scanCursor(a[1])
        let options = try ScanOptions(a, from: 2, acceptsType: true)
        let (count, pattern, typeName) = (options.count, options.pattern, options.typeName)

        var shardIndex = Int(cursor & UInt64(Engine.shardCount - 1))
        var tableCursor = Int(truncatingIfNeeded: cursor >> 5)
        var out = ByteBuffer()
        var emitted = 0
        var visited = 0
        let maxVisits = count * 10
        let now = c.now
        let db = c.db
        while shardIndex < Engine.shardCount && emitted < count && visited < maxVisits {
            let shard = engine.shards[shardIndex]
            shard.lock.withLock {
                let table = shard.tables[db]
                var expired: [Int] = []
                repeat {
                    table.forEachKey(home: tableCursor, hasher: engine.hasher, slab: shard.slab) { slot in
                        let e = shard.entry(table, slot)
                        if e.hasExpiry && e.expiry <= now {
                            expired.append(slot)
                            return
                        }
                        if let typeName {
                            guard typeName.withUnsafeReadableBytes({ Self.typeNameMatches($0, e.type) }) else { return }
                        }
                        let key = e.key
                        if let pattern {
                            guard pattern.withUnsafeReadableBytes({ GlobPattern.matches(pattern: $0, string: key) })
                            else { return }
                        }
                        out.writeRESPBulkString(key)
                        emitted += 1
                    }
                    visited += 1
                    tableCursor = KeyTable.nextCursor(tableCursor, mask: table.mask)
                } while tableCursor != 0 && emitted < count && visited < maxVisits
                // Reclaim expired keys met on the way; removing may reorder slots, so do it after the walk.
                if !expired.isEmpty {
                    var keys: [[UInt8]] = []
                    for slot in expired { keys.append(Array(shard.entry(table, slot).key)) }
                    for key in keys {
                        key.withUnsafeBytes { k in
                            _ = shard.find(db, k, engine.hasher.hash(k), now: now)
                        }
                    }
                }
            }
            if tableCursor == 0 {
                shardIndex += 1
            }
        }
        let next: UInt64 = shardIndex >= Engine.shardCount ? 0 : (UInt64(tableCursor) << 5) | UInt64(shardIndex)
        c.reply.writeRESPArrayHeader(2)
        c.reply.writeRESPBulkString(String(next))
        c.reply.writeRESPArrayHeader(emitted)
        c.reply.writeBuffer(&out)
    }

    static func typeNameMatches(_ name: UnsafeRawBufferPointer, _ type: ValueType) -> Bool {
        let expected = type.name
        guard name.count == expected.utf8CodeUnitCount else { return false }
        for i in 0..<name.count {
            let b = name[i]
            if (b &- 65 < 26 ? b | 0x20 : b) != expected.utf8Start[i] { return false }
        }
        return true
    }

    static func randomkey(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        // Pick shards at random in proportion to their key counts; retry when the key found has expired.
        for _ in 0..<100 {
            var total = 0
            for shard in engine.shards { total += shard.lock.withLock { shard.tables[c.db].count } }
            guard total > 0 else { return c.reply.writeRESPNull(c.protocolVersion) }
            var pick = Int.random(in: 0..<total)
            for shard in engine.shards {
                let found: Bool = shard.lock.withLock {
                    let table = shard.tables[c.db]
                    if pick >= table.count {
                        pick -= table.count
                        return false
                    }
                    guard table.count > 0 else { return false }
                    while true {
                        let slot = Int.random(in: 0..<table.capacity)
                        guard table.isLive(slot) else { continue }
                        let e = shard.entry(table, slot)
                        if e.hasExpiry && e.expiry <= c.now {
                            shard.deleteByEngine(c.db, slot, reason: .expired)
                            return true
                        }
                        c.reply.writeRESPBulkString(e.key)
                        pick = -1
                        return true
                    }
                }
                if found { break }
            }
            if pick == -1 { return }
        }
        c.reply.writeRESPNull(c.protocolVersion)
    }

    static func dbsize(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        // All shards at once: a count never includes half of an EXEC or an MSET.
        let count = engine.withAllShards { engine.keyCount(db: c.db) }
        c.reply.writeRESPInteger(count)
    }

    // MARK: Flushing

    /// FLUSHDB/FLUSHALL's optional ASYNC|SYNC argument.
    static func checkFlushArguments(_ a: [ByteBuffer]) throws {
        if a.count > 2 { throw CommandError.syntax }
        if a.count == 2 && !a[1].isCaseInsensitive("async") && !a[1].isCaseInsensitive("sync") {
            throw CommandError.syntax
        }
    }

    /// Removes every key of every database.
    public func flushAll() {
        withAllShards {
            notifyDatabasesWillChange(.flushAll)
            for shard in shards {
                for db in 0..<databases { shard.flush(db) }
            }
        }
    }

    /// Removes every key of `db`.
    public func flush(db: Int) {
        withAllShards {
            notifyDatabasesWillChange(.flush(db: db))
            for shard in shards { shard.flush(db) }
        }
    }

    static func flushdb(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try checkFlushArguments(a)
        engine.flush(db: c.db)
        c.reply.writeRESPSimpleString("OK")
    }

    static func flushall(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try checkFlushArguments(a)
        engine.flushAll()
        c.reply.writeRESPSimpleString("OK")
    }

    // MARK: OBJECT

    static func objectLookup(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        _ body: (Entry, inout CommandContext) throws -> Void
    ) throws {
        try engine.withKey(a[2]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            guard slot >= 0 else { return c.reply.writeRESPNull(c.protocolVersion) }
            try body(shard.entry(shard.tables[c.db], slot), &c)
        }
    }

    static func objectEncoding(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try objectLookup(engine, a, &c) { e, c in
            switch e.type {
            case .string: c.reply.writeRESPBulkString(Self.stringEncoding(e))
            default: c.reply.writeRESPBulkString(e.object.encodingName)
            }
        }
    }

    static func objectRefcount(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let shared = engine.settings.sharedIntegers
        try objectLookup(engine, a, &c) { e, c in
            var refcount = 1
            if shared && e.type == .string && e.flags & Entry.unsharedFlag == 0 && Self.stringEncoding(e) == "int",
                let v = RedisNumber.parseInt64(UnsafeRawBufferPointer(e.value)), v >= 0 && v < 10000
            {
                refcount = Int(Int32.max)
            }
            c.reply.writeRESPInteger(refcount)
        }
    }

    static func objectIdletime(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let lfu = engine.settings.lfuPolicy
        let s3fifo = engine.evictionPolicy == .allkeysS3FIFO
        try objectLookup(engine, a, &c) { e, c in
            if lfu {
                throw CommandError(
                    "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching "
                        + "between policies at runtime LRU and LFU data will take some time to adjust."
                )
            }
            if s3fifo {
                // S3-FIFO keeps a frequency and queue position in the access field, not a clock.
                throw CommandError("ERR The S3-FIFO maxmemory policy is selected, idle time not tracked.")
            }
            let clock = engine.lruClock(c.now)
            let stored = e.access
            let idle = clock >= stored ? clock - stored : (0xFF_FFFF - stored) + clock
            c.reply.writeRESPInteger(Int(idle))
        }
    }

    static func objectFreq(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let lfu = engine.settings.lfuPolicy
        try objectLookup(engine, a, &c) { e, c in
            guard lfu else {
                throw CommandError(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when "
                        + "switching between policies at runtime LRU and LFU data will take some time to adjust."
                )
            }
            let decay = engine.eviction.lfuDecayTime
            c.reply.writeRESPInteger(Int(LFU.decayed(e.access, now: c.now, decayTime: decay)))
        }
    }

    static func objectHelp(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        writeHelp(
            "OBJECT",
            [
                "ENCODING <key>",
                "    Report how the value stored at <key> is represented internally.",
                "FREQ <key>",
                "    Report the logarithmic access-frequency counter of <key> (LFU policies only).",
                "IDLETIME <key>",
                "    Report the seconds since <key> was last read or written (not with LFU policies).",
                "REFCOUNT <key>",
                "    Report the reference count of the value stored at <key>.",
            ],
            &c
        )
    }

    /// Writes a HELP reply in Redis's shape: a header line, the given lines, then the HELP line.
    public static func writeHelp(_ command: String, _ lines: [String], _ c: inout CommandContext) {
        let all = ["\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"] + lines + [
            "HELP", "    Print this help.",
        ]
        c.reply.writeRESPArrayHeader(all.count)
        for line in all { c.reply.writeRESPSimpleString(line) }
    }
}
