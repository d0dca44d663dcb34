import NIOConcurrencyHelpers
import NIOCore
public import NeptuneRESP

/// Neptune embedded in a Swift program: the same engine the server runs, called in-process with no socket.
///
/// Thread-safe: call it from any thread or task; commands on keys in different shards run in parallel.
/// Keys and values are bytes (`[UInt8]`); `String` overloads use the string's UTF-8 bytes, so two strings that
/// differ only in Unicode normalization are different keys, as in Redis.
///
/// ```swift
/// import NeptuneCache
///
/// let store = NeptuneStore()
/// try store.set("greeting", "hello", ttl: .seconds(60))
/// let value = try store.get("greeting")            // Array("hello".utf8)
/// let hits = try store.increment("counter", by: 5) // 5
/// let reply = store.execute(["STRLEN", "greeting"]) // .integer(5)
/// ```
public final class NeptuneStore: Sendable {
    /// The engine behind this store.
    public let engine: Engine
    /// What keeps the store durable (set by `NeptuneStore.open` in NeptuneSnapshot), nil for an in-memory store.
    public let persistence: (any Sendable)?
    private let closeHandler: (@Sendable () -> Void)?

    /// Creates an in-memory store.
    /// - Parameters:
    ///   - databases: Number of databases (as Redis's `databases`, 16 by default).
    ///   - clock: The time source for expiry; inject a manual clock in tests.
    public init(databases: Int = 16, clock: any NeptuneClock = SystemClock()) {
        self.engine = Engine(databases: databases, clock: clock)
        self.persistence = nil
        self.closeHandler = nil
    }

    /// Wraps an existing engine (for instance the one a server is serving). When the engine has a journal
    /// attached, typed writes go through the command dispatcher so that they are journaled like any command.
    public init(engine: Engine) {
        self.engine = engine
        self.persistence = nil
        self.closeHandler = nil
    }

    /// Wraps an engine kept durable by `persistence`; ``close()`` runs `onClose` (which stops it cleanly).
    public init(engine: Engine, persistence: any Sendable, onClose: @escaping @Sendable () -> Void) {
        self.engine = engine
        self.persistence = persistence
        self.closeHandler = onClose
    }

    // MARK: Raw commands

    /// Runs any command the engine supports and returns its reply, decoded (RESP3 shapes).
    ///
    /// Error replies come back as ``RESPValue/error(_:)``, exactly as a client would see them.
    /// - Parameters:
    ///   - arguments: The command name and its arguments.
    ///   - db: The database to run it in.
    public func execute(_ arguments: [[UInt8]], db: Int = 0) -> RESPValue {
        var context = CommandContext(db: db, protocolVersion: .v3, reply: ByteBuffer())
        let buffers = arguments.map { ByteBuffer(bytes: $0) }
        engine.execute(buffers, context: &context)
        if context.journalSequence > 0, let journal = engine.journal, !journal.waitUntilDurable(context.journalSequence) {
            // Applied in memory but not durable: not acknowledged, as the server closes such a client.
            return .error(journal.refusalMessage)
        }
        var decoder = RESPValueDecoder()
        do {
            return try decoder.decode(buffer: &context.reply) ?? .null
        } catch {
            return .error("ERR reply could not be decoded: \(error)")
        }
    }

    /// Runs a command given as strings (each argument's UTF-8 bytes).
    public func execute(_ arguments: [String], db: Int = 0) -> RESPValue {
        execute(arguments.map { Array($0.utf8) }, db: db)
    }

    // MARK: Strings

    /// The string value of `key`, or nil if absent.
    /// - Throws: ``CommandError/wrongType`` if the key holds another type.
    public func get(_ key: [UInt8], db: Int = 0) throws -> [UInt8]? {
        try engine.getString(key, db: db)
    }

    public func get(_ key: String, db: Int = 0) throws -> [UInt8]? {
        try get(Array(key.utf8), db: db)
    }

    /// Calls `body` with the string value of `key`, borrowed from the store (no copy), and returns its result;
    /// nil if the key is absent.
    ///
    /// The fastest way to read: decode the value straight into your own type. `body` runs while the key's shard
    /// is locked, so keep it short and do not call the store from it; the bytes are valid only during the call.
    ///
    /// ```swift
    /// let length = try store.withValue(of: key) { $0.count }
    /// let text = try store.withValue(of: key) { String(decoding: $0, as: UTF8.self) }
    /// ```
    /// - Throws: ``CommandError/wrongType`` if the key holds another type, or what `body` throws.
    @inlinable
    public func withValue<R>(
        of key: [UInt8],
        db: Int = 0,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        // Inlined into the caller, so `R` is a concrete type there: an unspecialized generic call would look up
        // the metadata of `R?` at run time on every call, which costs about as much as the lookup itself.
        var result: R?
        try _withStringValue(key, db: db) { result = try body($0) }
        return result
    }

    /// ``withValue(of:db:_:)``'s non-generic part: calls `body` with the value if the key holds a string.
    @usableFromInline
    func _withStringValue(_ key: [UInt8], db: Int, _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        _ = try engine.withStringValue(key, db: db, body)
    }

    /// When SET writes.
    public enum SetCondition: Sendable {
        case always
        /// Only if the key does not exist (NX).
        case ifAbsent
        /// Only if the key exists (XX).
        case ifPresent
    }

    /// Sets `key` to `value`.
    /// - Parameters:
    ///   - ttl: Time to live; nil for none (clears an existing TTL unless `keepTTL`).
    ///   - condition: NX/XX semantics.
    ///   - keepTTL: Keep the key's existing TTL (KEEPTTL).
    /// - Returns: Whether the value was written (false when `condition` was not met).
    @discardableResult
    public func set(
        _ key: [UInt8],
        _ value: [UInt8],
        ttl: Duration? = nil,
        condition: SetCondition = .always,
        keepTTL: Bool = false,
        db: Int = 0
    ) throws -> Bool {
        guard engine.journal == nil && !engine.isCapturing else {
            var arguments = [Array("SET".utf8), key, value]
            if let ttl { arguments += [Array("PX".utf8), Array(String(Self.milliseconds(ttl)).utf8)] }
            switch condition {
            case .always: break
            case .ifAbsent: arguments.append(Array("NX".utf8))
            case .ifPresent: arguments.append(Array("XX".utf8))
            }
            if keepTTL { arguments.append(Array("KEEPTTL".utf8)) }
            return try Self.unwrap(execute(arguments, db: db)) { reply in reply.isNull ? false : true }
        }
        return try engine.setString(key, value, ttl: ttl, condition: condition, keepTTL: keepTTL, db: db)
    }

    @discardableResult
    public func set(
        _ key: String,
        _ value: String,
        ttl: Duration? = nil,
        condition: SetCondition = .always,
        keepTTL: Bool = false,
        db: Int = 0
    ) throws -> Bool {
        try set(Array(key.utf8), Array(value.utf8), ttl: ttl, condition: condition, keepTTL: keepTTL, db: db)
    }

    /// Adds `increment` to the integer stored at `key` (0 if absent) and returns the result (INCRBY).
    /// - Throws: ``CommandError`` for a non-integer value, overflow, or a wrong type.
    @discardableResult
    public func increment(_ key: [UInt8], by increment: Int64 = 1, db: Int = 0) throws -> Int64 {
        guard engine.journal == nil && !engine.isCapturing else {
            let reply = execute([Array("INCRBY".utf8), key, Array(String(increment).utf8)], db: db)
            return try Self.unwrap(reply) { $0.intValue.map { Int64($0) } }
        }
        return try engine.incrementInteger(key, by: increment, db: db)
    }

    @discardableResult
    public func increment(_ key: String, by increment: Int64 = 1, db: Int = 0) throws -> Int64 {
        try self.increment(Array(key.utf8), by: increment, db: db)
    }

    /// Adds a floating-point increment (INCRBYFLOAT) and returns the stored text's value.
    @discardableResult
    public func increment(_ key: String, byFloat increment: Double, db: Int = 0) throws -> Double {
        let reply = execute(["INCRBYFLOAT", key, String(increment)], db: db)
        return try Self.unwrap(reply) { Double($0.stringValue ?? "") }
    }

    /// Appends to the string at `key`; returns the new length.
    @discardableResult
    public func append(_ key: String, _ suffix: String, db: Int = 0) throws -> Int {
        try Self.unwrap(execute(["APPEND", key, suffix], db: db)) { $0.intValue.map { Int($0) } }
    }

    /// Values of several keys (nil for absent or non-string keys).
    public func get(_ keys: [[UInt8]], db: Int = 0) throws -> [[UInt8]?] {
        try keys.map { key in
            do { return try get(key, db: db) } catch let error as CommandError where error == .wrongType { return nil }
        }
    }

    // MARK: Keys

    /// Deletes keys; returns how many existed.
    /// - Throws: Redis's `MISCONF` error (a ``CommandError``) if the store is durable and its journal failed: the
    ///   deletion is then not acknowledged.
    @discardableResult
    public func delete(_ keys: [UInt8]..., db: Int = 0) throws -> Int {
        guard engine.journal == nil && !engine.isCapturing else {
            return try Self.unwrap(execute([Array("DEL".utf8)] + keys, db: db)) { $0.intValue }
        }
        return keys.reduce(0) { $0 + (engine.deleteKey($1, db: db) ? 1 : 0) }
    }

    @discardableResult
    public func delete(_ key: String, db: Int = 0) throws -> Int {
        try delete(Array(key.utf8), db: db)
    }

    /// Whether `key` exists.
    public func exists(_ key: [UInt8], db: Int = 0) -> Bool {
        engine.keyExists(key, db: db)
    }

    public func exists(_ key: String, db: Int = 0) -> Bool {
        exists(Array(key.utf8), db: db)
    }

    /// Sets a TTL on `key`; returns false if the key does not exist.
    @discardableResult
    public func expire(_ key: String, after ttl: Duration, db: Int = 0) throws -> Bool {
        let ms = Self.milliseconds(ttl)
        return try Self.unwrap(execute(["PEXPIRE", key, String(ms)], db: db)) { $0.intValue.map { $0 == 1 } }
    }

    /// Removes the TTL of `key`; returns false if it had none or does not exist.
    @discardableResult
    public func persist(_ key: String, db: Int = 0) throws -> Bool {
        try Self.unwrap(execute(["PERSIST", key], db: db)) { $0.intValue.map { $0 == 1 } }
    }

    /// A key's remaining time to live.
    public enum TimeToLive: Equatable, Sendable {
        case missing
        case persistent
        case expires(in: Duration)
    }

    /// The remaining TTL of `key` (PTTL).
    public func timeToLive(_ key: String, db: Int = 0) throws -> TimeToLive {
        let ms = try Self.unwrap(execute(["PTTL", key], db: db)) { $0.intValue }
        switch ms {
        case -2: return .missing
        case -1: return .persistent
        default: return .expires(in: .milliseconds(ms))
        }
    }

    /// The type of the value at `key` ("none" if absent).
    public func type(of key: String, db: Int = 0) throws -> String {
        try Self.unwrap(execute(["TYPE", key], db: db)) { $0.stringValue }
    }

    /// Renames a key (RENAME).
    public func rename(_ key: String, to newKey: String, db: Int = 0) throws {
        _ = try Self.unwrap(execute(["RENAME", key, newKey], db: db)) { $0.stringValue }
    }

    /// One SCAN step: the next cursor (0 when done) and the keys of this step.
    public func scan(
        cursor: UInt64 = 0,
        matching pattern: String? = nil,
        count: Int? = nil,
        db: Int = 0
    ) throws -> (cursor: UInt64, keys: [[UInt8]]) {
        var arguments = ["SCAN", String(cursor)]
        if let pattern { arguments += ["MATCH", pattern] }
        if let count { arguments += ["COUNT", String(count)] }
        let reply = execute(arguments, db: db)
        return try Self.unwrap(reply) { value in
            guard case .array(let parts) = value, parts.count == 2,
                let next = parts[0].stringValue.flatMap({ UInt64($0) }),
                case .array(let keys) = parts[1]
            else { return nil }
            return (next, keys.compactMap { if case .bulkString(let k) = $0 { return k } else { return nil } })
        }
    }

    /// Every key matching a glob pattern (walks SCAN to completion).
    public func keys(matching pattern: String = "*", db: Int = 0) throws -> [[UInt8]] {
        var cursor: UInt64 = 0
        var result: [[UInt8]] = []
        repeat {
            let step = try scan(cursor: cursor, matching: pattern, count: 1000, db: db)
            result += step.keys
            cursor = step.cursor
        } while cursor != 0
        return result
    }

    /// Number of keys in `db`.
    public func count(db: Int = 0) -> Int {
        engine.keyCount(db: db)
    }

    /// Removes every key of `db`, or of every database when `db` is nil.
    /// - Throws: Redis's `MISCONF` error (a ``CommandError``) if the store is durable and its journal failed.
    public func flush(db: Int? = nil) throws {
        guard engine.journal == nil && !engine.isCapturing else {
            let reply = db.map { execute(["FLUSHDB"], db: $0) } ?? execute(["FLUSHALL"])
            _ = try Self.unwrap(reply) { $0.stringValue }
            return
        }
        if let db { engine.flush(db: db) } else { engine.flushAll() }
        if engine.maxmemory > 0 { _ = engine.usedMemory() }  // publishes what the flush freed
    }

    /// Closes a durable store (``open(directory:options:clock:logger:)`` in NeptuneSnapshot): writes out and
    /// fsyncs what the journal holds and stops it; later writes are refused. Reads keep working. Does nothing
    /// for an in-memory store.
    public func close() {
        if let closeHandler {
            closeHandler()
        } else {
            engine.journal?.close()
        }
    }

    // MARK: Helpers

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    static func unwrap<T>(_ reply: RESPValue, _ extract: (RESPValue) -> T?) throws -> T {
        if case .error(let message) = reply { throw CommandError(message) }
        guard let value = extract(reply) else { throw CommandError("ERR unexpected reply \(reply)") }
        return value
    }
}

extension Engine {
    func getString(_ key: [UInt8], db: Int) throws -> [UInt8]? {
        try withStringValue(key, db: db) { Array($0) }
    }

    /// Locks the shard of `key` and calls `body` with its string value, borrowed from the entry.
    ///
    /// The time is read precisely only when the key has an expiry; the access clock (seconds) takes the coarse
    /// time, which costs no system call.
    @inline(__always)
    func withStringValue<R>(
        _ key: [UInt8],
        db: Int,
        _ body: (UnsafeRawBufferPointer) throws -> R
    ) throws -> R? {
        try validate(db)
        return try key.withUnsafeBytes { k in
            try withLockedShard(k) { shard, hash in
                guard let e = shard.findEntry(db, k, hash, clock: clock) else {
                    shard.keyspaceMisses &+= 1
                    return nil
                }
                shard.keyspaceHits &+= 1
                guard e.type == .string else { throw CommandError.wrongType }
                shard.touch(e, now: clock.coarseMilliseconds())
                return try body(UnsafeRawBufferPointer(e.value))
            }
        }
    }

    /// Locks the shard of the key `k` and runs `body` with the shard and the key's hash.
    ///
    /// The engine holds its shards, and a shard its lock, for their whole life: both are borrowed, so no retain
    /// and release surround the opaque calls (locking, the clock, `body`); about 80 instructions a call.
    @inline(__always)
    func withLockedShard<R>(_ k: UnsafeRawBufferPointer, _ body: (Shard, UInt64) throws -> R) rethrows -> R {
        let hash = hasher.hash(k)
        return try Unmanaged.passUnretained(shard(for: hash))._withUnsafeGuaranteedRef { shard in
            try Unmanaged.passUnretained(shard.lock)._withUnsafeGuaranteedRef { lock in
                lock.lock()
                defer { lock.unlock() }
                return try body(shard, hash)
            }
        }
    }

    /// What a direct write (one that bypasses the dispatcher) does after changing `key` under its shard's lock:
    /// publishes the memory change and tells the keyspace observers (WATCH, blocked clients, indexes), as the
    /// dispatcher does for commands.
    @inline(__always)
    func finishDirectWrite(_ shard: Shard, db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        publishDirectWrite(shard)
        if !observers.isEmpty { notifyKeyChanged(db: db, key: key, hash: hash) }
    }

    func setString(
        _ key: [UInt8],
        _ value: [UInt8],
        ttl: Duration?,
        condition: NeptuneStore.SetCondition,
        keepTTL: Bool,
        db: Int
    ) throws -> Bool {
        try validate(db)
        var expiry: Int64?
        if let ttl {
            let ms = NeptuneStore.milliseconds(ttl)
            guard ms > 0 else { throw CommandError.invalidExpireTime("set") }
            expiry = clock.milliseconds() + ms
        }
        try evictBeforeDirectWrite()
        // The precise time is only needed for an expiry (read then); the access clock takes the coarse time.
        let now = clock.coarseMilliseconds()
        return key.withUnsafeBytes { k in
            value.withUnsafeBytes { v in
                withLockedShard(k) { shard, hash in
                    // A snapshot still copying this shard takes the key's entry before it changes.
                    shard.prepareToChange(key: k, hash: hash)
                    let slot = shard.find(db, k, hash, clock: clock)
                    switch condition {
                    case .ifAbsent where slot >= 0: return false
                    case .ifPresent where slot < 0: return false
                    default: break
                    }
                    if keepTTL && slot >= 0 && expiry == nil {
                        expiry = Self.expiry(shard, db, slot)
                    }
                    putString(shard, db, k, hash, slot: slot, value: v, expiry: expiry, now: now)
                    finishDirectWrite(shard, db: db, key: k, hash: hash)
                    return true
                }
            }
        }
    }

    /// INCRBY without the dispatcher: the same rules as the command (a strict decimal integer, overflow
    /// refused, the TTL kept), but no argument buffers, no reply to encode and decode.
    func incrementInteger(_ key: [UInt8], by increment: Int64, db: Int) throws -> Int64 {
        try validate(db)
        try evictBeforeDirectWrite()
        let now = clock.milliseconds()
        return try key.withUnsafeBytes { k in
            try withLockedShard(k) { shard, hash in
                shard.prepareToChange(key: k, hash: hash)
                let slot = shard.find(db, k, hash, now: now)
                let existing = try Self.existingNumber(shard, db, slot, invalid: .notInteger) {
                    RedisNumber.parseInt64($0)
                }
                let (result, overflow) = (existing?.value ?? 0).addingReportingOverflow(increment)
                if overflow { throw CommandError.overflow }
                var digits = (0 as UInt64, 0 as UInt64, 0 as UInt64)  // 24 bytes: room for any Int64
                let length = withUnsafeMutableBytes(of: &digits) { RedisNumber.formatInt64(result, into: $0) }
                withUnsafeBytes(of: &digits) { buffer in
                    let value = UnsafeRawBufferPointer(rebasing: buffer[0..<length])
                    putString(shard, db, k, hash, slot: slot, value: value, expiry: existing?.expiry, now: now)
                }
                finishDirectWrite(shard, db: db, key: k, hash: hash)
                return result
            }
        }
    }

    func deleteKey(_ key: [UInt8], db: Int) -> Bool {
        guard db >= 0 && db < databases else { return false }
        let now = clock.milliseconds()
        return key.withUnsafeBytes { k in
            withLockedShard(k) { shard, hash in
                let slot = shard.find(db, k, hash, now: now)
                guard slot >= 0 else { return false }
                shard.prepareToChange(key: k, hash: hash)
                shard.remove(db, slot)
                finishDirectWrite(shard, db: db, key: k, hash: hash)
                return true
            }
        }
    }

    func keyExists(_ key: [UInt8], db: Int) -> Bool {
        guard db >= 0 && db < databases else { return false }
        let now = clock.milliseconds()
        return key.withUnsafeBytes { k in
            withLockedShard(k) { shard, hash in shard.find(db, k, hash, now: now) >= 0 }
        }
    }

    func validate(_ db: Int) throws {
        guard db >= 0 && db < databases else { throw CommandError.dbIndexOutOfRange }
    }
}
