import NIOCore
import NeptuneRESP
import Synchronization

/// One client's MULTI/EXEC and WATCH state.
///
/// Only the owning session changes the queue and the watched keys; other clients' writes only set the atomic
/// dirty flag (through the engine's watch observer, under the watched key's shard lock).
public final class TransactionState: @unchecked Sendable {
    /// True between MULTI and EXEC or DISCARD.
    public internal(set) var inMulti = false
    /// A command failed to queue (unknown command, wrong arity …): EXEC will answer EXECABORT.
    var failed = false
    /// The queued commands, in order.
    var queued: [[ByteBuffer]] = []
    /// The watched keys.
    var watched: [WatchRegistry.WatchedKey] = []
    /// Set when a watched key changes; EXEC then fails.
    let dirty = Atomic<Bool>(false)

    public init() {}

    /// Number of queued commands (CLIENT LIST's `multi`: -1 outside MULTI).
    public var queuedCount: Int { inMulti ? queued.count : -1 }

    /// Number of watched keys (CLIENT LIST's `watch`).
    public var watchedCount: Int { watched.count }

    @inline(__always)
    func flagQueuingError() {
        if inMulti { failed = true }
    }

    func queue(_ arguments: [ByteBuffer]) {
        queued.append(arguments)
    }
}

/// The keys clients WATCH, by shard: each shard's part is read and changed only under that shard's lock, so the
/// observer never takes a lock of its own.
final class WatchRegistry: KeyspaceObserver, @unchecked Sendable {
    struct WatchedKey {
        var db: Int
        var key: [UInt8]
        var hash: UInt64
    }

    private struct Watch {
        var db: Int
        var key: [UInt8]
        var state: TransactionState
    }

    private let shards: [Shard]
    private let clock: any NeptuneClock
    /// Per shard: watches by key hash. Guarded by the shard's lock.
    private var byShard: [[UInt64: [Watch]]]
    /// Per shard: how many watches it holds (a quick emptiness check).
    private var counts: [Int]
    private let registered = Atomic<Bool>(false)

    init(shards: [Shard], clock: any NeptuneClock) {
        self.shards = shards
        self.clock = clock
        self.byShard = Array(repeating: [:], count: shards.count)
        self.counts = Array(repeating: 0, count: shards.count)
    }

    /// Registers the registry as an observer of `engine` the first time anyone watches.
    func activate(_ engine: Engine) {
        if registered.load(ordering: .acquiring) { return }
        if !registered.exchange(true, ordering: .acquiringAndReleasing) {
            engine.addObserver(self)
        }
    }

    @inline(__always)
    private func shardIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash >> Engine.shardShift)
    }

    /// Adds a watch. The caller holds the key's shard lock.
    func add(_ watched: WatchedKey, _ state: TransactionState) {
        let s = shardIndex(watched.hash)
        byShard[s][watched.hash, default: []].append(Watch(db: watched.db, key: watched.key, state: state))
        counts[s] += 1
    }

    /// Removes `state`'s watch of `watched`, taking the key's shard lock (reentrant).
    func remove(_ watched: WatchedKey, _ state: TransactionState) {
        let s = shardIndex(watched.hash)
        shards[s].lock.withLock {
            guard var list = byShard[s][watched.hash] else { return }
            if let i = list.firstIndex(where: { $0.state === state && $0.db == watched.db && $0.key == watched.key }) {
                list.remove(at: i)
                counts[s] -= 1
            }
            byShard[s][watched.hash] = list.isEmpty ? nil : list
        }
    }

    func keyChanged(db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        let s = shardIndex(hash)
        guard counts[s] > 0, let list = byShard[s][hash] else { return }
        for watch in list where watch.db == db && watch.key.elementsEqual(key) {
            watch.state.dirty.store(true, ordering: .releasing)
        }
    }

    func databasesWillChange(_ event: DatabaseEvent) {
        // As Redis: a watch is touched when its key exists (and has not expired) in a database being emptied or
        // in the one swapped in.
        for (s, shard) in shards.enumerated() where counts[s] > 0 {
            for (hash, list) in byShard[s] {
                for watch in list {
                    let touched: Bool
                    switch event {
                    case .flushAll:
                        touched = exists(shard, watch.db, watch.key, hash)
                    case .flush(let db):
                        touched = watch.db == db && exists(shard, db, watch.key, hash)
                    case .swap(let a, let b):
                        touched =
                            (watch.db == a || watch.db == b)
                            && (exists(shard, a, watch.key, hash) || exists(shard, b, watch.key, hash))
                    }
                    if touched { watch.state.dirty.store(true, ordering: .releasing) }
                }
            }
        }
    }

    /// Whether `key` is in `db` and not expired (a key past its expiry that nobody removed yet does not count).
    private func exists(_ shard: Shard, _ db: Int, _ key: [UInt8], _ hash: UInt64) -> Bool {
        key.withUnsafeBytes { bytes in
            let table = shard.tables[db]
            let slot = table.find(bytes, hash: hash, slab: shard.slab)
            guard slot >= 0 else { return false }
            let e = shard.entry(table, slot)
            return !(e.hasExpiry && e.expiry <= clock.milliseconds())
        }
    }
}

extension Engine {
    static let transactionAbortedError = CommandError("EXECABORT Transaction discarded because of previous errors.")

    /// MULTI EXEC DISCARD WATCH UNWATCH.
    static var transactionCommands: [CommandSpec] {
        let flags: Set<String> = ["noscript", "loading", "stale", "fast", "allow_busy"]
        let categories = ["fast", "transaction"]
        return [
            CommandSpec(
                "multi", arity: 1, flags: flags, categories: categories, group: "transactions",
                summary: "Starts a transaction.", since: "1.2.0", body: multi
            ),
            CommandSpec(
                "exec", arity: 1, flags: ["noscript", "loading", "stale", "skip_slowlog"],
                categories: ["slow", "transaction"], group: "transactions",
                summary: "Executes all commands in a transaction.", since: "1.2.0",
                complexity: "Depends on commands in the transaction", body: exec
            ),
            CommandSpec(
                "discard", arity: 1, flags: flags, categories: categories, group: "transactions",
                summary: "Discards a transaction.", since: "2.0.0", complexity: "O(N), when N is the number of queued commands",
                body: discard
            ),
            CommandSpec(
                "watch", arity: -2, flags: flags, keys: (1, -1, 1), categories: categories, group: "transactions",
                summary: "Monitors changes to keys to determine the execution of a transaction.", since: "2.2.0",
                complexity: "O(1) for every key.", body: watch
            ),
            CommandSpec(
                "unwatch", arity: 1, flags: flags, categories: categories, group: "transactions",
                summary: "Forgets about watched keys of a transaction.", since: "2.2.0", body: unwatch
            ),
        ]
    }

    static func multi(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let state = c.transaction ?? TransactionState()
        c.transaction = state
        guard !state.inMulti else { throw CommandError("ERR MULTI calls can not be nested") }
        state.inMulti = true
        state.failed = false
        state.queued = []
        c.reply.writeRESPSimpleString("OK")
    }

    static func discard(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let state = c.transaction, state.inMulti else { throw CommandError("ERR DISCARD without MULTI") }
        engine.endTransaction(state)
        c.reply.writeRESPSimpleString("OK")
    }

    static func watch(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let state = c.transaction ?? TransactionState()
        c.transaction = state
        guard !state.inMulti else { throw CommandError("ERR WATCH inside MULTI is not allowed") }
        engine.watches.activate(engine)
        for i in 1..<a.count {
            engine.withKey(a[i]) { key, hash, shard in
                if state.watched.contains(where: { $0.db == c.db && $0.hash == hash && $0.key.elementsEqual(key) }) {
                    return
                }
                // A key past its expiry is removed now: a watch starts from the key's logical state.
                _ = shard.find(c.db, key, hash, now: c.now)
                let watched = WatchRegistry.WatchedKey(db: c.db, key: Array(key), hash: hash)
                engine.watches.add(watched, state)
                state.watched.append(watched)
            }
        }
        c.reply.writeRESPSimpleString("OK")
    }

    static func unwatch(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        if let state = c.transaction { engine.unwatchAll(state) }
        c.reply.writeRESPSimpleString("OK")
    }

    static func exec(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let state = c.transaction, state.inMulti else { throw CommandError("ERR EXEC without MULTI") }
        if state.failed {
            engine.endTransaction(state)
            throw transactionAbortedError
        }
        let commands = state.queued
        state.inMulti = false
        state.queued = []
        // Every shard the transaction touches stays locked until it ends, so no other client interleaves.
        var mask: UInt64 = 0
        let all: UInt64 = (1 << UInt64(shardCount)) - 1
        for command in commands where mask != all {
            guard let name = command.first, let entry = name.withUnsafeReadableBytes({ engine.commands.entry($0) })
            else { continue }
            if entry.firstKey > 0 && entry.spec.body != nil {
                mask |= engine.shardMask(entry, command)
            } else {
                mask = all
            }
        }
        for watched in state.watched {
            mask |= 1 << (watched.hash >> shardShift)
        }
        let locked = engine.lockForWrite(mask)
        defer { engine.unlockShards(locked) }
        // Redis 7: a watched key that expired since WATCH fails the transaction. Looking it up removes it, and the
        // removal touches the watch.
        let now = engine.clock.milliseconds()
        for watched in state.watched {
            watched.key.withUnsafeBytes { key in
                _ = engine.shard(for: watched.hash).find(watched.db, key, watched.hash, now: now)
            }
        }
        let aborted = state.dirty.load(ordering: .acquiring)
        engine.unwatchAll(state)
        if aborted {
            c.reply.writeRESPNullArray(c.protocolVersion)
            return
        }
        c.reply.writeRESPArrayHeader(commands.count)
        let outerBatch = c.journalBatch
        c.journalBatch = []
        for command in commands {
            engine.execute(command, context: &c)
        }
        let records = c.journalBatch ?? []
        c.journalBatch = outerBatch
        if let journal = engine.journal, !records.isEmpty {
            if records.count == 1 {
                c.journalSequence = journal.append(db: records[0].db, arguments: records[0].arguments)
            } else {
                c.journalSequence = journal.appendTransaction(records)
            }
        }
        // Clients blocked on keys the transaction gave data are served after it, as in Redis.
        engine.serveBlockedClients(locked, now: c.now)
    }

    /// Ends MULTI without running it and forgets the watched keys (DISCARD, EXECABORT).
    func endTransaction(_ state: TransactionState) {
        state.inMulti = false
        state.failed = false
        state.queued = []
        unwatchAll(state)
    }

    /// Forgets every key `state` watches.
    func unwatchAll(_ state: TransactionState) {
        for watched in state.watched {
            watches.remove(watched, state)
        }
        state.watched = []
        state.dirty.store(false, ordering: .releasing)
    }

    /// Drops a session's transaction state: its queue and its watches. Call when a client disconnects or RESETs.
    public func resetTransaction(_ context: inout CommandContext) {
        if let state = context.transaction {
            endTransaction(state)
        }
    }
}
