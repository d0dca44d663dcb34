public import NIOCore
import NeptuneRESP
import Synchronization
import NIOConcurrencyHelpers

/// Engine settings that can change at runtime (CONFIG SET).
public struct EngineSettings: Sendable {
    /// Largest string a command may build (APPEND, SETRANGE): `proto-max-bulk-len`.
    public var protoMaxBulkLength: Int = 512 * 1024 * 1024
    /// Whether an LFU eviction policy is selected (OBJECT FREQ vs IDLETIME).
    public var lfuPolicy: Bool = false
    /// Whether the eviction policy forbids shared integers (reported by OBJECT REFCOUNT).
    public var sharedIntegers: Bool = true
    /// When small collections leave their compact encodings (`hash-max-listpack-entries` ...).
    public var collectionLimits = CollectionLimits()

    public init() {}
}

/// The Neptune engine: a keyspace of `databases` databases split into shards by key hash, and the command table
/// that runs Redis commands against it. Thread-safe: every command locks the shards it touches, so event loops run
/// commands in parallel. Both faces use it: the server feeds it decoded commands, and ``NeptuneStore`` calls it
/// in-process.
public final class Engine: Sendable {
    /// Number of shards (a power of two); the top bits of a key's hash pick its shard.
    public static let shardCount = 32
    static let shardShift: UInt64 = 59

    public let databases: Int
    let shards: [Shard]
    let hasher: KeyHasher
    public let clock: any NeptuneClock
    public let commands: CommandRegistry
    private let _settings: Mutex<EngineSettings>
    let startTime: Int64
    /// The durability journal, if any; attached before serving and never changed while commands run (so reads
    /// need no exclusivity check).
    @exclusivity(unchecked) nonisolated(unsafe) public private(set) var journal: (any MutationJournal)?
    /// Keyspace observers (WATCH, blocked clients, indexes); changed only under every shard's lock, so a thread
    /// holding any shard lock reads a stable value.
    nonisolated(unsafe) var observers: [any KeyspaceObserver] = [] {
        didSet {
            observerList.replace(with: observers)
            observerReferences = observerList.references
        }
    }
    /// Owns ``observerReferences``.
    private let observerList = ObserverList()
    /// `observers` again, unretained, for the write path's notifications (see ``ObserverList``).
    nonisolated(unsafe) private(set) var observerReferences = UnsafeMutableBufferPointer<Unmanaged<ObserverList.Box>>(start: nil, count: 0)
    /// The keys clients WATCH; registered as an observer on the first WATCH.
    let watches: WatchRegistry
    /// FT.* secondary indexes; registered as an observer on the first FT.CREATE.
    let searchIndexes: SearchIndexes
    /// Clients blocked on keys (BLPOP …); registered as an observer before the first blocking command runs.
    let blocking = BlockingRegistry()
    private let _loading = Atomic<Bool>(false)
    private let _writesRefused = Atomic<Bool>(false)
    /// A snapshot capture is in progress: write commands let it take the keys they change first.
    let capturing = Atomic<Bool>(false)
    /// Pin ids of captures (``KeyspaceCapture``).
    let captureIDs = Atomic<UInt32>(0)
    /// Threads that copy a background capture's shards between their own work (``addCaptureHelper(wake:)``).
    let captureHelpers = CaptureHelpers()

    /// Whether a snapshot capture is in progress.
    var isCapturing: Bool { capturing.load(ordering: .relaxed) }
    private let _writeRefusal = Mutex<String?>(nil)
    /// Memory limit, accounting and eviction (Eviction/Engine+Eviction.swift).
    let eviction = EvictionController()

    /// Creates an engine.
    /// - Parameters:
    ///   - databases: Number of databases (SELECT 0..<databases).
    ///   - clock: Time source for expiry.
    ///   - hashSeed: Seed of the key hash; random by default.
    public init(databases: Int = 16, clock: any NeptuneClock = SystemClock(), hashSeed: UInt64? = nil) {
        precondition(databases >= 1)
        self.databases = databases
        self.clock = clock
        let hasher = KeyHasher(seed: hashSeed ?? UInt64.random(in: .min ... .max))
        self.hasher = hasher
        self.shards = (0..<Self.shardCount).map { Shard(index: $0, databases: databases, hasher: hasher) }
        self.commands = CommandRegistry()
        self._settings = Mutex(EngineSettings())
        self.startTime = clock.milliseconds()
        self.watches = WatchRegistry(shards: shards, clock: clock)
        self.searchIndexes = SearchIndexes(shards: shards, clock: clock)
        commands.register(Self.builtinCommands)
        commands.register(Self.collectionCommands)
        commands.register(Self.transactionCommands)
        commands.register(Self.searchCommands)
        commands.register(Self.blockingCommands)
        for shard in shards { shard.clock = clock }
    }

    public var settings: EngineSettings {
        get { _settings.withLock { $0 } }
        set { _settings.withLock { $0 = newValue } }
    }

    public func updateSettings(_ body: (inout EngineSettings) -> Void) {
        _settings.withLock { body(&$0) }
    }

    /// Attaches the journal that records every change. Call before commands run (after recovery).
    public func attachJournal(_ journal: (any MutationJournal)?) {
        withAllShards {
            self.journal = journal
            for shard in shards { shard.journal = journal }
        }
    }

    /// The error write commands (and PING, as in Redis) get while the host refuses writes, e.g. Redis's
    /// `stop-writes-on-bgsave-error` MISCONF after a failed snapshot; nil when writes are accepted.
    public var writeRefusal: String? {
        get { _writesRefused.load(ordering: .relaxed) ? _writeRefusal.withLock { $0 } : nil }
        set {
            _writeRefusal.withLock { $0 = newValue }
            _writesRefused.store(newValue != nil, ordering: .relaxed)
        }
    }

    /// True while a journal or snapshot is being loaded: expiry is suspended so replay is deterministic, and the
    /// server answers other clients with `-LOADING`.
    public var isLoading: Bool {
        get { _loading.load(ordering: .acquiring) }
        set { _loading.store(newValue, ordering: .releasing) }
    }

    /// Replays one journaled command during recovery (expiry suspended, reply discarded).
    /// - Throws: ``CommandError`` if the command fails, which means the journal does not match this engine.
    public func replay(db: Int, arguments: [ByteBuffer]) throws {
        var context = CommandContext(db: db, reply: ByteBuffer())
        context.replaying = true
        execute(arguments, context: &context)
        if context.reply.readableBytes > 0, context.reply.getInteger(at: context.reply.readerIndex, as: UInt8.self) == 45 {
            let text = String(decoding: context.reply.readableBytesView.dropFirst().dropLast(2), as: UTF8.self)
            if !text.hasPrefix("WRONGTYPE") { throw CommandError(text) }
        }
    }

    // MARK: Dispatch

    /// Runs one command and appends its reply (or error) to `context.reply`.
    ///
    /// Looks the command up, checks arity and authentication as Redis does, then runs it.
    /// - Returns: The full name of the command that ran (`get`, `client|list`), or nil if none was found.
    @discardableResult
    public func execute(_ arguments: [ByteBuffer], context: inout CommandContext) -> String? {
        guard let first = arguments.first else { return nil }
        guard var entry = first.withUnsafeReadableBytes({ commands.entry($0) }) else {
            context.reply.writeRESPError(Self.unknownCommandMessage(arguments))
            context.transaction?.flagQueuingError()
            return nil
        }
        if !entry.hasBody {
            // A container command: the subcommand decides.
            guard arguments.count >= 2 else {
                context.reply.writeRESPError(CommandError.wrongArity(entry.spec.name).message)
                context.transaction?.flagQueuingError()
                return entry.spec.name
            }
            guard let sub = arguments[1].withUnsafeReadableBytes({ entry.subcommand($0) }) else {
                let subName = Self.cString(arguments[1], limit: 128)
                context.reply.writeRESPError(
                    "ERR unknown subcommand '\(subName)'. Try \(entry.spec.name.uppercased()) HELP."
                )
                context.transaction?.flagQueuingError()
                return entry.spec.name
            }
            entry = sub
        }
        let arity = entry.spec.arity
        if (arity > 0 && arity != arguments.count) || arguments.count < -arity {
            context.reply.writeRESPError(CommandError.wrongArity(entry.spec.name).message)
            context.transaction?.flagQueuingError()
            return entry.spec.name
        }
        if !context.isAuthenticated && !entry.spec.allowsUnauthenticated {
            context.reply.writeRESPError(CommandError.noAuth.message)
            context.transaction?.flagQueuingError()
            return entry.spec.name
        }
        if context.isSubscribed && context.protocolVersion == .v2 && !entry.allowedWhileSubscribed {
            context.reply.writeRESPError(
                "ERR Can't execute '\(entry.spec.name)': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
                    + "are allowed in this context"
            )
            context.transaction?.flagQueuingError()
            return entry.spec.name
        }
        if !entry.allowedWhileLoading && !context.replaying && isLoading {
            context.reply.writeRESPError(CommandError.loading.message)
            context.transaction?.flagQueuingError()
            return entry.spec.name
        }
        if let transaction = context.transaction, transaction.inMulti, !entry.runsInsideMulti {
            transaction.queue(arguments)
            context.reply.writeRESPSimpleString("QUEUED")
            return entry.spec.name
        }
        context.now = context.replaying ? Int64.min : (context.timeSnapshot ?? clock.milliseconds())
        // maxmemory: evict before any command (as Redis does); refuse commands that may grow memory if that fails.
        if eviction.maxmemory.load(ordering: .relaxed) > 0 && !context.replaying && !evictIfNeeded()
            && entry.denyOOM
        {
            context.reply.writeRESPError(Self.outOfMemoryMessage)
            return entry.spec.name
        }
        guard entry.isWrite else {
            do {
                try entry.body(self, arguments, &context)
            } catch {
                Self.writeError(error, &context)
            }
            return entry.spec.name
        }
        if _writesRefused.load(ordering: .relaxed), let message = writeRefusal {
            context.reply.writeRESPError(message)
            context.transaction?.flagQueuingError()
            return entry.spec.name
        }
        if let journal, !journal.acceptsWrites {
            context.reply.writeRESPError(journal.refusalMessage)
            return entry.spec.name
        }
        // Lock every shard the command touches, run it and journal it before unlocking: for each key the journal
        // order is the apply order. The body's own locking of the same shards is reentrant.
        let topLevel = context.journalBatch == nil
        if entry.isBlocking && topLevel { blocking.activate(self) }
        // At top level the mask widens to the shards blocked BLMOVE clients push to, so that clients this write
        // serves are served before the locks are released. Inside EXEC, EXEC holds (and widened) the locks.
        let mask = topLevel ? lockForWrite(shardMask(entry, arguments)) : lockShards(shardMask(entry, arguments))
        defer { unlockShards(mask) }
        if capturing.load(ordering: .relaxed) { prepareCapture(entry, arguments, mask) }
        context.journal = .asReceived
        context.reportedOwnChanges = false
        do {
            try entry.body(self, arguments, &context)
        } catch {
            Self.writeError(error, &context)
            return entry.spec.name
        }
        if eviction.maxmemory.load(ordering: .relaxed) > 0 { publishMemory(mask) }
        if case .nothing = context.journal {
        } else if mask != 0 {
            shards[mask.trailingZeroBitCount].changes &+= 1
        }
        if context.journalBatch != nil {
            // Inside EXEC: the transaction's records are appended together when it ends.
            switch context.journal {
            case .asReceived:
                context.journalBatch!.append((context.db, arguments))
            case .nothing:
                break
            case .commands(let commands):
                for command in commands { context.journalBatch!.append((context.db, command)) }
            }
        } else if let journal {
            switch context.journal {
            case .asReceived:
                context.journalSequence = journal.append(db: context.db, arguments: arguments)
            case .nothing:
                break
            case .commands(let commands):
                for command in commands {
                    context.journalSequence = journal.append(db: context.db, arguments: command)
                }
            }
        }
        if !observers.isEmpty && !context.reportedOwnChanges {
            notifyWrite(entry, arguments, context)
        }
        // Clients blocked on keys this command gave data are served now, before any other client runs.
        if topLevel { serveBlockedClients(mask, now: context.now) }
        return entry.spec.name
    }

    static func writeError(_ error: any Error, _ context: inout CommandContext) {
        if let error = error as? CommandError {
            context.reply.writeRESPError(error.message)
        } else {
            context.reply.writeRESPError("ERR \(error)")
        }
    }

    /// The shards a write command touches, as a bit mask (every shard for keyless writes such as FLUSHALL).
    @inline(__always)
    func shardMask(_ entry: CommandRegistry.Entry, _ arguments: [ByteBuffer]) -> UInt64 {
        if entry.movableKeys { return (1 << UInt64(Self.shardCount)) - 1 }
        guard entry.firstKey > 0 && entry.firstKey < arguments.count else {
            return entry.firstKey > 0 ? 0 : (1 << UInt64(Self.shardCount)) - 1
        }
        let last = entry.lastKey < 0 ? arguments.count + entry.lastKey : min(entry.lastKey, arguments.count - 1)
        var mask: UInt64 = 0
        var i = entry.firstKey
        while i <= last {
            let hash = arguments[i].withUnsafeReadableBytes { hasher.hash($0) }
            mask |= 1 << (hash >> Self.shardShift)
            i += max(1, entry.keyStep)
        }
        return mask
    }

    /// Locks the shards of `mask` in index order and returns `mask`.
    @inline(__always)
    @discardableResult
    func lockShards(_ mask: UInt64) -> UInt64 {
        var m = mask
        while m != 0 {
            shards[m.trailingZeroBitCount].lock.lock()
            m &= m - 1
        }
        return mask
    }

    @inline(__always)
    func unlockShards(_ mask: UInt64) {
        var m = mask
        while m != 0 {
            let i = 63 - m.leadingZeroBitCount
            shards[i].lock.unlock()
            m &= ~(1 << UInt64(i))
        }
    }

    /// Redis's reply to an unknown command name.
    public static func unknownCommandMessage(_ arguments: [ByteBuffer]) -> String {
        var args = ""
        for argument in arguments.dropFirst() {
            if args.utf8.count >= 128 { break }
            let room = 128 - args.utf8.count
            args += "'" + Self.cString(argument, limit: room) + "' "
        }
        return "ERR unknown command '\(Self.cString(arguments[0], limit: 128))', with args beginning with: \(args)"
    }

    /// The bytes up to the first NUL (as C's `%s` prints them), at most `limit`.
    static func cString(_ buffer: ByteBuffer, limit: Int) -> String {
        let bytes = buffer.readableBytesView.prefix { $0 != 0 }.prefix(limit)
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Keyspace access

    @inline(__always)
    func shard(for hash: UInt64) -> Shard {
        shards[Int(truncatingIfNeeded: hash >> Self.shardShift)]
    }

    /// Locks the shard of `key` and runs `body` with the key's bytes, hash and shard.
    @inline(__always)
    func withKey<R>(
        _ key: ByteBuffer,
        _ body: (UnsafeRawBufferPointer, UInt64, Shard) throws -> R
    ) rethrows -> R {
        try key.withUnsafeReadableBytes { bytes in
            let hash = hasher.hash(bytes)
            let shard = shard(for: hash)
            shard.lock.lock()
            defer { shard.lock.unlock() }
            return try body(bytes, hash, shard)
        }
    }

    /// Locks every shard, in index order, for keyspace-wide commands.
    func withAllShards<R>(_ body: () throws -> R) rethrows -> R {
        for shard in shards { shard.lock.lock() }
        defer { for shard in shards.reversed() { shard.lock.unlock() } }
        return try body()
    }

    /// Locks the shards of `keys` (each once, in index order).
    func withShards<R>(of keys: [ByteBuffer], _ body: () throws -> R) rethrows -> R {
        var indices: [Int] = []
        indices.reserveCapacity(keys.count)
        for key in keys {
            let hash = key.withUnsafeReadableBytes { hasher.hash($0) }
            indices.append(Int(truncatingIfNeeded: hash >> Self.shardShift))
        }
        let ordered = Set(indices).sorted()
        for i in ordered { shards[i].lock.lock() }
        defer { for i in ordered.reversed() { shards[i].lock.unlock() } }
        return try body()
    }

    /// The 24-bit LRU clock (seconds) stored in entries on access (other policies' data is derived in
    /// ``Shard/store(_:key:hash:slot:type:valueLength:expiry:access:touchExisting:fill:)`` and ``Shard/touch(_:now:)``).
    @inline(__always)
    func lruClock(_ now: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: now / 1000) & 0xFF_FFFF
    }

    // MARK: Statistics

    /// Number of keys in `db` (including expired keys not yet reclaimed, as Redis's DBSIZE).
    public func keyCount(db: Int) -> Int {
        var total = 0
        for shard in shards {
            shard.lock.withLock { total += shard.tables[db].count }
        }
        return total
    }

    /// Per-database key and volatile-key counts, for INFO keyspace.
    public func keyspaceSummary() -> [(db: Int, keys: Int, expires: Int)] {
        var keys = [Int](repeating: 0, count: databases)
        var expires = [Int](repeating: 0, count: databases)
        for shard in shards {
            shard.lock.withLock {
                for db in 0..<databases {
                    keys[db] += shard.tables[db].count
                    expires[db] += shard.tables[db].volatileCount
                }
            }
        }
        return (0..<databases).filter { keys[$0] > 0 }.map { ($0, keys[$0], expires[$0]) }
    }

    /// Counters for INFO stats.
    public struct Statistics: Sendable {
        public var keyspaceHits = 0
        public var keyspaceMisses = 0
        public var expiredKeys = 0
        /// Bytes held by the keyspace (slot arrays, entry cells in use, objects, eviction bookkeeping).
        public var memoryBytes = 0
        /// Keys removed by the eviction policy.
        public var evictedKeys = 0
    }

    public func statistics() -> Statistics {
        var stats = Statistics()
        for shard in shards {
            shard.lock.withLock {
                stats.keyspaceHits += shard.keyspaceHits
                stats.keyspaceMisses += shard.keyspaceMisses
                stats.expiredKeys += shard.expiredKeys
                stats.memoryBytes += shard.memoryBytes
                stats.evictedKeys += shard.evictedKeys
                shard.publishMemory(eviction.used)
            }
        }
        return stats
    }

    /// CONFIG RESETSTAT.
    public func resetStatistics() {
        for shard in shards {
            shard.lock.withLock {
                shard.keyspaceHits = 0
                shard.keyspaceMisses = 0
                shard.expiredKeys = 0
                shard.evictedKeys = 0
            }
        }
    }

    // MARK: Active expiry

    /// Removes every expired key now (after loading). Returns how many were removed.
    @discardableResult
    public func purgeExpired() -> Int {
        let now = clock.milliseconds()
        var removed = 0
        for shard in shards {
            shard.lock.withLock {
                for db in 0..<databases {
                    let table = shard.tables[db]
                    guard table.volatileCount > 0 else { continue }
                    var expiredKeys: [[UInt8]] = []
                    for slot in 0..<table.capacity where table.isLive(slot) {
                        let e = shard.entry(table, slot)
                        if e.hasExpiry && e.expiry <= now { expiredKeys.append(Array(e.key)) }
                    }
                    for key in expiredKeys {
                        key.withUnsafeBytes { k in
                            if shard.find(db, k, hasher.hash(k), now: now) < 0 { removed += 1 }
                        }
                    }
                }
            }
        }
        return removed
    }

    /// One step of the active expiry sweep: examines at most `budget` slots per shard and database holding keys
    /// with a TTL and deletes the expired ones. Returns (slots examined, keys removed). The caller (a periodic
    /// service) repeats while the removed fraction is high, bounded by its CPU budget.
    @discardableResult
    public func sweepExpired(budget: Int = 64) -> (examined: Int, removed: Int) {
        if isLoading { return (0, 0) }
        let now = clock.milliseconds()
        var examined = 0
        var removed = 0
        for shard in shards {
            shard.lock.withLock {
                for db in 0..<databases {
                    let r = shard.sweepExpired(db, budget: budget, now: now)
                    examined += r.examined
                    removed += r.removed
                }
            }
        }
        return (examined, removed)
    }
}
