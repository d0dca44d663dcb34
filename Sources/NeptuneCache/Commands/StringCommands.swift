import NIOCore
import NIOConcurrencyHelpers
import NeptuneRESP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// How a SET/GETEX expiry argument is given.
enum ExpiryKind {
    case seconds, milliseconds, unixSeconds, unixMilliseconds

    var isSeconds: Bool { self == .seconds || self == .unixSeconds }
    var isRelative: Bool { self == .seconds || self == .milliseconds }
}

/// Command names and tokens used when journaling a command's effect.
enum JournalWords {
    static let set = ByteBuffer(string: "SET")
    static let del = ByteBuffer(string: "DEL")
    static let pxat = ByteBuffer(string: "PXAT")
    static let keepTTL = ByteBuffer(string: "KEEPTTL")
    static let pexpireat = ByteBuffer(string: "PEXPIREAT")
    static let persist = ByteBuffer(string: "PERSIST")

    static func number(_ value: Int64) -> ByteBuffer {
        ByteBuffer(string: String(value))
    }

    /// `SET key value [PXAT ms]`: a string write with its expiry in absolute form.
    static func setCommand(_ key: ByteBuffer, _ value: ByteBuffer, expiry: Int64?) -> [ByteBuffer] {
        var command = [set, key, value]
        if let expiry { command += [pxat, number(expiry)] }
        return command
    }
}

extension Engine {
    // MARK: Helpers shared by string commands

    /// Converts an expiry argument to absolute Unix milliseconds, with Redis's checks and error text.
    static func absoluteExpiry(_ argument: ByteBuffer, _ kind: ExpiryKind, now: Int64, command: String) throws -> Int64 {
        var ms = try integer(argument)
        if ms <= 0 || (kind.isSeconds && ms > Int64.max / 1000) {
            throw CommandError.invalidExpireTime(command)
        }
        if kind.isSeconds { ms *= 1000 }
        if kind.isRelative { ms = ms &+ now }
        if ms <= 0 { throw CommandError.invalidExpireTime(command) }
        return ms
    }

    /// Looks up a key for reading: lazy expiry, hit/miss statistics and the access clock. Returns the slot or -1.
    @inline(__always)
    func lookupRead(
        _ shard: Shard,
        _ db: Int,
        _ key: UnsafeRawBufferPointer,
        _ hash: UInt64,
        _ context: CommandContext
    ) -> Int {
        lookupRead(shard, db, key, hash, now: context.now, noTouch: context.noTouch)
    }

    /// Looks up a key for reading, as ``lookupRead(_:_:_:_:_:)`` does, given the two context fields it needs:
    /// a body that holds its context `inout` calls this one, which does not copy the context (its reply buffer
    /// and host reference) for the call.
    @inline(__always)
    func lookupRead(
        _ shard: Shard,
        _ db: Int,
        _ key: UnsafeRawBufferPointer,
        _ hash: UInt64,
        now: Int64,
        noTouch: Bool
    ) -> Int {
        let slot = shard.find(db, key, hash, now: now)
        if slot < 0 {
            shard.keyspaceMisses += 1
        } else {
            shard.keyspaceHits += 1
            if !noTouch {
                shard.touch(shard.entry(shard.tables[db], slot), now: now)
            }
        }
        return slot
    }

    /// Writes `value` as the string at `key` (replacing what `slot` holds, or inserting when -1).
    ///
    /// An entry of the same size class is overwritten in place, so `key` and `value` must not point into the entry
    /// being replaced (they come from the request or a local buffer).
    @discardableResult @inline(__always)
    func putString(
        _ shard: Shard,
        _ db: Int,
        _ key: UnsafeRawBufferPointer,
        _ hash: UInt64,
        slot: Int,
        value: UnsafeRawBufferPointer,
        expiry: Int64?,
        now: Int64,
        encodingFlags: UInt8 = 0
    ) -> Entry {
        let stored = shard.store(
            db,
            key: key,
            hash: hash,
            slot: slot,
            valueLength: value.count,
            expiry: expiry,
            access: lruClock(now),
            reuseCell: true
        ) { target in
            if value.count > 0 { target.baseAddress!.copyMemory(from: value.baseAddress!, byteCount: value.count) }
        }
        stored.entry.flags |= encodingFlags
        return stored.entry
    }

    /// The existing expiry of the key in `slot`, if any.
    @inline(__always)
    static func expiry(_ shard: Shard, _ db: Int, _ slot: Int) -> Int64? {
        let e = shard.entry(shard.tables[db], slot)
        return e.hasExpiry ? e.expiry : nil
    }

    /// OBJECT ENCODING for a string entry, as Redis would have encoded it.
    static func stringEncoding(_ e: Entry) -> String {
        if e.isRaw { return "raw" }
        let value = UnsafeRawBufferPointer(e.value)
        if !e.isNotIntegerEncoded && value.count <= 20 && RedisNumber.parseInt64(value) != nil { return "int" }
        return value.count <= 44 ? "embstr" : "raw"
    }

    // MARK: GET SET and friends

    static func get(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.withKey(a[1]) { key, hash, shard in
            let slot = engine.lookupRead(shard, c.db, key, hash, now: c.now, noTouch: c.noTouch)
            guard slot >= 0 else { return c.reply.writeRESPNull(c.protocolVersion) }
            let e = shard.entry(shard.tables[c.db], slot)
            guard e.type == .string else { throw CommandError.wrongType }
            c.reply.writeRESPBulkString(UnsafeRawBufferPointer(e.value))
        }
    }

    /// Parses SET's or GETEX's options (Redis's parseExtendedStringArgumentsOrReply).
    struct StringOptions {
        var nx = false
        var xx = false
        var get = false
        var keepTTL = false
        var persist = false
        var expiryKind: ExpiryKind?
        var expiryArgument: ByteBuffer?

        /// No options.
        init() {}

        init(_ a: [ByteBuffer], from start: Int, isSet: Bool) throws {
            var j = start
            while j < a.count {
                let opt = a[j]
                let hasNext = j < a.count - 1
                if isSet && opt.isCaseInsensitive("nx") && !xx {
                    nx = true
                } else if isSet && opt.isCaseInsensitive("xx") && !nx {
                    xx = true
                } else if isSet && opt.isCaseInsensitive("get") {
                    get = true
                } else if isSet && opt.isCaseInsensitive("keepttl") && !persist && expiryKind == nil {
                    keepTTL = true
                } else if !isSet && opt.isCaseInsensitive("persist") && expiryKind == nil && !keepTTL {
                    persist = true
                } else if let kind = Self.expiryKind(opt), !keepTTL, !persist,
                    expiryKind == nil || expiryKind == kind, hasNext
                {
                    expiryKind = kind
                    expiryArgument = a[j + 1]
                    j += 1
                } else {
                    throw CommandError.syntax
                }
                j += 1
            }
        }

        static func expiryKind(_ opt: ByteBuffer) -> ExpiryKind? {
            if opt.isCaseInsensitive("ex") { return .seconds }
            if opt.isCaseInsensitive("px") { return .milliseconds }
            if opt.isCaseInsensitive("exat") { return .unixSeconds }
            if opt.isCaseInsensitive("pxat") { return .unixMilliseconds }
            return nil
        }
    }

    /// The shared body of SET, SETEX, PSETEX, SETNX-like paths.
    static func setGeneric(
        _ engine: Engine,
        key: ByteBuffer,
        value: ByteBuffer,
        options: StringOptions,
        command: String,
        _ c: inout CommandContext,
        okReply: Bool = true,
        journalAsReceived: Bool = false
    ) throws {
        var expiry: Int64?
        if let kind = options.expiryKind, let argument = options.expiryArgument {
            expiry = try absoluteExpiry(argument, kind, now: c.now, command: command)
        }
        try engine.withKey(key) { k, hash, shard in
            let slot = shard.find(c.db, k, hash, now: c.now)
            if options.get {
                if slot >= 0 {
                    let e = shard.entry(shard.tables[c.db], slot)
                    guard e.type == .string else { throw CommandError.wrongType }
                    c.reply.writeRESPBulkString(UnsafeRawBufferPointer(e.value))
                } else {
                    c.reply.writeRESPNull(c.protocolVersion)
                }
            }
            let found = slot >= 0
            if (options.nx && found) || (options.xx && !found) {
                if !options.get { c.reply.writeRESPNull(c.protocolVersion) }
                c.journal = .nothing
                return
            }
            if options.keepTTL && found && expiry == nil {
                expiry = Self.expiry(shard, c.db, slot)
            }
            if !journalAsReceived || expiry != nil {
                c.journal = .commands([JournalWords.setCommand(key, value, expiry: expiry)])
            }
            value.withUnsafeReadableBytes { v in
                _ = engine.putString(shard, c.db, k, hash, slot: slot, value: v, expiry: expiry, now: c.now)
            }
            if !options.get && okReply { c.reply.writeRESPSimpleString("OK") }
        }
    }

    static func set(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let options = a.count == 3 ? StringOptions() : try StringOptions(a, from: 3, isSet: true)
        // A plain `SET key value` is its own deterministic effect: journal it as received, which spares building
        // the command again.
        try setGeneric(
            engine,
            key: a[1],
            value: a[2],
            options: options,
            command: "set",
            &c,
            journalAsReceived: a.count == 3
        )
    }

    static func setnx(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        engine.withKey(a[1]) { k, hash, shard in
            let slot = shard.find(c.db, k, hash, now: c.now)
            if slot >= 0 {
                c.journal = .nothing
                return c.reply.writeRESPInteger(0)
            }
            a[2].withUnsafeReadableBytes { v in
                _ = engine.putString(shard, c.db, k, hash, slot: -1, value: v, expiry: nil, now: c.now)
            }
            c.reply.writeRESPInteger(1)
        }
    }

    static func setex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var options = try StringOptions([], from: 0, isSet: true)
        options.expiryKind = .seconds
        options.expiryArgument = a[2]
        try setGeneric(engine, key: a[1], value: a[3], options: options, command: "setex", &c)
    }

    static func psetex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var options = try StringOptions([], from: 0, isSet: true)
        options.expiryKind = .milliseconds
        options.expiryArgument = a[2]
        try setGeneric(engine, key: a[1], value: a[3], options: options, command: "psetex", &c)
    }

    static func getset(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var options = try StringOptions([], from: 0, isSet: true)
        options.get = true
        try setGeneric(engine, key: a[1], value: a[2], options: options, command: "getset", &c)
    }

    static func getdel(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.withKey(a[1]) { key, hash, shard in
            let slot = engine.lookupRead(shard, c.db, key, hash, c)
            guard slot >= 0 else {
                c.journal = .nothing
                return c.reply.writeRESPNull(c.protocolVersion)
            }
            let e = shard.entry(shard.tables[c.db], slot)
            guard e.type == .string else { throw CommandError.wrongType }
            c.reply.writeRESPBulkString(UnsafeRawBufferPointer(e.value))
            shard.remove(c.db, slot)
        }
    }

    static func getex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        // Redis's order: options, then the key (missing → nil, wrong type → WRONGTYPE), then the expiry argument.
        let options = try StringOptions(a, from: 2, isSet: false)
        try engine.withKey(a[1]) { key, hash, shard in
            c.journal = .nothing
            let slot = engine.lookupRead(shard, c.db, key, hash, c)
            guard slot >= 0 else { return c.reply.writeRESPNull(c.protocolVersion) }
            let e = shard.entry(shard.tables[c.db], slot)
            guard e.type == .string else { throw CommandError.wrongType }
            var expiry: Int64?
            if let kind = options.expiryKind, let argument = options.expiryArgument {
                expiry = try absoluteExpiry(argument, kind, now: c.now, command: "getex")
            }
            c.reply.writeRESPBulkString(UnsafeRawBufferPointer(e.value))
            if let expiry, let kind = options.expiryKind {
                if !kind.isRelative && expiry <= c.now {
                    shard.remove(c.db, slot)
                    c.journal = .commands([[JournalWords.del, a[1]]])
                } else {
                    shard.setExpiry(c.db, slot, expiry)
                    c.journal = .commands([[JournalWords.pexpireat, a[1], JournalWords.number(expiry)]])
                }
            } else if options.persist {
                shard.setExpiry(c.db, slot, nil)
                c.journal = .commands([[JournalWords.persist, a[1]]])
            }
        }
    }

    static func mget(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.reply.writeRESPArrayHeader(a.count - 1)
        // All the keys' shards are locked together, so MGET never sees half of a transaction or an MSET.
        engine.withShards(of: Array(a[1...])) {
            for i in 1..<a.count {
                engine.withKey(a[i]) { key, hash, shard in
                    let slot = engine.lookupRead(shard, c.db, key, hash, now: c.now, noTouch: c.noTouch)
                    let e = slot >= 0 ? shard.entry(shard.tables[c.db], slot) : nil
                    if let e, e.type == .string {
                        c.reply.writeRESPBulkString(UnsafeRawBufferPointer(e.value))
                    } else {
                        c.reply.writeRESPNull(c.protocolVersion)
                    }
                }
            }
        }
    }

    static func mset(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count % 2 == 1 else { throw CommandError.wrongArity("mset") }
        let keys = stride(from: 1, to: a.count, by: 2).map { a[$0] }
        engine.withShards(of: keys) {
            for i in stride(from: 1, to: a.count, by: 2) {
                engine.storeUnlocked(c.db, key: a[i], value: a[i + 1], now: c.now)
            }
        }
        c.reply.writeRESPSimpleString("OK")
    }

    static func msetnx(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count % 2 == 1 else { throw CommandError.wrongArity("msetnx") }
        let keys = stride(from: 1, to: a.count, by: 2).map { a[$0] }
        let stored = engine.withShards(of: keys) { () -> Bool in
            for key in keys where engine.existsUnlocked(c.db, key, now: c.now) {
                return false
            }
            for i in stride(from: 1, to: a.count, by: 2) {
                engine.storeUnlocked(c.db, key: a[i], value: a[i + 1], now: c.now)
            }
            return true
        }
        if !stored { c.journal = .nothing }
        c.reply.writeRESPInteger(stored ? 1 : 0)
    }

    /// Sets a string value with the key's shard already locked by the caller (no TTL kept).
    func storeUnlocked(_ db: Int, key: ByteBuffer, value: ByteBuffer, now: Int64) {
        key.withUnsafeReadableBytes { k in
            let hash = hasher.hash(k)
            let shard = shard(for: hash)
            let slot = shard.find(db, k, hash, now: now)
            value.withUnsafeReadableBytes { v in
                _ = putString(shard, db, k, hash, slot: slot, value: v, expiry: nil, now: now)
            }
        }
    }

    /// Whether a live key exists, with its shard already locked by the caller.
    func existsUnlocked(_ db: Int, _ key: ByteBuffer, now: Int64) -> Bool {
        key.withUnsafeReadableBytes { k in
            let hash = hasher.hash(k)
            return shard(for: hash).find(db, k, hash, now: now) >= 0
        }
    }

    static func append(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let maxLength = engine.settings.protoMaxBulkLength
        try engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            try a[2].withUnsafeReadableBytes { suffix in
                guard slot >= 0 else {
                    engine.putString(shard, c.db, key, hash, slot: -1, value: suffix, expiry: nil, now: c.now)
                    return c.reply.writeRESPInteger(suffix.count)
                }
                let e = shard.entry(shard.tables[c.db], slot)
                guard e.type == .string else { throw CommandError.wrongType }
                let old = UnsafeRawBufferPointer(e.value)
                let total = old.count + suffix.count
                guard total <= maxLength else { throw CommandError.stringTooLong }
                let expiry = e.hasExpiry ? e.expiry : nil
                let stored = shard.store(
                    c.db,
                    key: key,
                    hash: hash,
                    slot: slot,
                    valueLength: total,
                    expiry: expiry,
                    access: engine.lruClock(c.now)
                ) { target in
                    if old.count > 0 { target.baseAddress!.copyMemory(from: old.baseAddress!, byteCount: old.count) }
                    if suffix.count > 0 {
                        (target.baseAddress! + old.count).copyMemory(from: suffix.baseAddress!, byteCount: suffix.count)
                    }
                }
                stored.entry.isRaw = true
                c.reply.writeRESPInteger(total)
            }
        }
    }

    static func strlen(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.withKey(a[1]) { key, hash, shard in
            let slot = engine.lookupRead(shard, c.db, key, hash, c)
            guard slot >= 0 else { return c.reply.writeRESPInteger(0) }
            let e = shard.entry(shard.tables[c.db], slot)
            guard e.type == .string else { throw CommandError.wrongType }
            c.reply.writeRESPInteger(e.valueLength)
        }
    }

    // MARK: Counters

    /// The string in `slot` (if any) parsed by `parse`, and its expiry; WRONGTYPE or `invalid` when it doesn't parse.
    static func existingNumber<T>(
        _ shard: Shard,
        _ db: Int,
        _ slot: Int,
        invalid: CommandError,
        _ parse: (UnsafeRawBufferPointer) -> T?
    ) throws -> (value: T, expiry: Int64?)? {
        guard slot >= 0 else { return nil }
        let e = shard.entry(shard.tables[db], slot)
        guard e.type == .string else { throw CommandError.wrongType }
        guard let value = parse(UnsafeRawBufferPointer(e.value)) else { throw invalid }
        return (value, e.hasExpiry ? e.expiry : nil)
    }

    static func incrementBy(_ engine: Engine, key: ByteBuffer, by increment: Int64, _ c: inout CommandContext) throws {
        try engine.withKey(key) { k, hash, shard in
            let slot = shard.find(c.db, k, hash, now: c.now)
            let existing = try existingNumber(shard, c.db, slot, invalid: .notInteger) { RedisNumber.parseInt64($0) }
            let expiry = existing?.expiry
            let (result, overflow) = (existing?.value ?? 0).addingReportingOverflow(increment)
            if overflow { throw CommandError.overflow }
            var digits = (0 as UInt64, 0 as UInt64, 0 as UInt64)  // 24 bytes: room for any Int64
            let length = withUnsafeMutableBytes(of: &digits) { buffer in
                RedisNumber.formatInt64(result, into: buffer)
            }
            withUnsafeBytes(of: &digits) { buffer in
                let value = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
                engine.putString(shard, c.db, k, hash, slot: slot, value: value, expiry: expiry, now: c.now)
            }
            c.reply.writeRESPInteger(Int(result))
        }
    }

    static func incr(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try incrementBy(engine, key: a[1], by: 1, &c)
    }

    static func decr(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try incrementBy(engine, key: a[1], by: -1, &c)
    }

    static func incrby(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try incrementBy(engine, key: a[1], by: try integer(a[2]), &c)
    }

    static func decrby(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let decrement = try integer(a[2])
        guard decrement != Int64.min else { throw CommandError("ERR decrement would overflow") }
        try incrementBy(engine, key: a[1], by: -decrement, &c)
    }

    static func incrbyfloat(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.withKey(a[1]) { k, hash, shard in
            let slot = shard.find(c.db, k, hash, now: c.now)
            let existing = try existingNumber(shard, c.db, slot, invalid: .notFloat) { RedisNumber.parseLongDouble($0) }
            let current = existing?.value ?? 0
            let expiry = existing?.expiry
            guard let increment = a[2].withUnsafeReadableBytes({ RedisNumber.parseLongDouble($0) }) else {
                throw CommandError.notFloat
            }
            let result = current + increment
            guard !result.isNaN && !result.isInfinite else {
                throw CommandError("ERR increment would produce NaN or Infinity")
            }
            let text = RedisNumber.formatLongDouble(result, humanFriendly: true)
            c.journal = .commands([[JournalWords.set, a[1], ByteBuffer(bytes: text), JournalWords.keepTTL]])
            text.withUnsafeBytes { value in
                let e = engine.putString(shard, c.db, k, hash, slot: slot, value: value, expiry: expiry, now: c.now)
                e.isNotIntegerEncoded = true
            }
            c.reply.writeRESPBulkString(text)
        }
    }

    // MARK: Ranges

    static func getrange(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var start = try integer(a[2])
        var end = try integer(a[3])
        try engine.withKey(a[1]) { key, hash, shard in
            let slot = engine.lookupRead(shard, c.db, key, hash, c)
            guard slot >= 0 else { return c.reply.writeRESPBulkString("") }
            let e = shard.entry(shard.tables[c.db], slot)
            guard e.type == .string else { throw CommandError.wrongType }
            let value = UnsafeRawBufferPointer(e.value)
            let length = Int64(value.count)
            if start < 0 && end < 0 && start > end { return c.reply.writeRESPBulkString("") }
            if start < 0 { start = length + start }
            if end < 0 { end = length + end }
            if start < 0 { start = 0 }
            if end < 0 { end = 0 }
            if end >= length { end = length - 1 }
            if start > end || length == 0 { return c.reply.writeRESPBulkString("") }
            c.reply.writeRESPBulkString(UnsafeRawBufferPointer(rebasing: value[Int(start)...Int(end)]))
        }
    }

    static func setrange(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let offset = try integer(a[2])
        guard offset >= 0 else { throw CommandError("ERR offset is out of range") }
        let maxLength = engine.settings.protoMaxBulkLength
        try engine.withKey(a[1]) { key, hash, shard in
            let slot = shard.find(c.db, key, hash, now: c.now)
            try a[3].withUnsafeReadableBytes { patch in
                var old = UnsafeRawBufferPointer(start: nil, count: 0)
                var expiry: Int64?
                if slot >= 0 {
                    let e = shard.entry(shard.tables[c.db], slot)
                    guard e.type == .string else { throw CommandError.wrongType }
                    old = UnsafeRawBufferPointer(e.value)
                    expiry = e.hasExpiry ? e.expiry : nil
                }
                if patch.count == 0 {
                    c.journal = .nothing
                    return c.reply.writeRESPInteger(old.count)
                }
                let (end, overflow) = offset.addingReportingOverflow(Int64(patch.count))
                guard !overflow && end <= Int64(maxLength) else { throw CommandError.stringTooLong }
                let total = max(old.count, Int(end))
                let stored = shard.store(
                    c.db,
                    key: key,
                    hash: hash,
                    slot: slot,
                    valueLength: total,
                    expiry: expiry,
                    access: engine.lruClock(c.now)
                ) { target in
                    let base = target.baseAddress!
                    if old.count > 0 { base.copyMemory(from: old.baseAddress!, byteCount: old.count) }
                    if Int(offset) > old.count { memset(base + old.count, 0, Int(offset) - old.count) }
                    (base + Int(offset)).copyMemory(from: patch.baseAddress!, byteCount: patch.count)
                }
                stored.entry.isRaw = true
                c.reply.writeRESPInteger(total)
            }
        }
    }
}
