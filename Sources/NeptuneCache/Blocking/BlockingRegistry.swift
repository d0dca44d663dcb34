import NIOCore
import Synchronization

/// The clients blocked on keys, by shard, and the keys that got written since (the "ready" keys).
///
/// Each shard's part is read and changed only under that shard's lock, as the watch registry's is, so the observer
/// callback takes no lock of its own. A client blocked on keys of several shards has one entry per key; whoever
/// ends its wait removes the entries of the shards it holds, and the client's host removes the rest
/// (``Engine/unblock(_:with:)``, ``Engine/forgetBlocked(_:)``); an entry of a client whose wait already ended is
/// skipped and dropped when met.
///
/// Serving happens in the dispatcher, after a write command (or EXEC) has run and been journaled and while it still
/// holds its shard locks: no other client can run in between, so the element a push made available goes to the
/// first blocked client, as in Redis. A BLMOVE client moves its element to a destination key that may live in
/// another shard; each shard therefore publishes the set of shards its blocked BLMOVE clients push to
/// (``moveTargets(of:)``), and writers lock those too (``Engine/lockForWrite(_:)``).
final class BlockingRegistry: KeyspaceObserver, @unchecked Sendable {
    /// One client's wait on one of its keys.
    struct Waiter {
        let client: BlockedClient
        /// Which of the client's keys this entry is for.
        let keyIndex: Int
    }

    /// A key that was written while clients waited on it.
    struct ReadyKey {
        /// Global signal order, so keys are served in the order they got data.
        let order: UInt64
        let db: Int
        let key: [UInt8]
        let hash: UInt64
    }

    /// One shard's part; guarded by that shard's lock.
    final class ShardPart: @unchecked Sendable {
        /// Waiters by key hash, in arrival order.
        var waiters: [UInt64: [Waiter]] = [:]
        /// Number of waiter entries.
        var count = 0
        var ready: [ReadyKey] = []
        /// Per destination shard: how many BLMOVE clients waiting on this shard's keys push there.
        var moveTargetCounts = [Int](repeating: 0, count: Engine.shardCount)
        /// The shards with a non-zero ``moveTargetCounts``, readable without the lock (a writer computing which
        /// shards to lock reads it first, then checks again under the locks).
        let moveTargets = Atomic<UInt64>(0)

        func addMoveTarget(_ shard: Int, _ delta: Int) {
            moveTargetCounts[shard] += delta
            let current = moveTargets.load(ordering: .relaxed)
            let updated = moveTargetCounts[shard] > 0 ? current | (1 << UInt64(shard)) : current & ~(1 << UInt64(shard))
            moveTargets.store(updated, ordering: .relaxed)
        }
    }

    let parts: [ShardPart]
    /// Clients still waiting (INFO's `blocked_clients`).
    let waitingClients = Atomic<Int>(0)
    /// Waiting clients with a deadline (INFO's `clients_in_timeout_table`).
    let clientsWithDeadline = Atomic<Int>(0)
    /// Waiter entries in all shards, stale ones included: zero means nothing to serve, so writes skip the work.
    let entries = Atomic<Int>(0)
    /// BLMOVE entries in all shards: zero means writers need not lock any destination shard.
    let moveEntries = Atomic<Int>(0)
    private let readyOrder = Atomic<UInt64>(0)
    private let registered = Atomic<Bool>(false)

    init() {
        parts = (0..<Engine.shardCount).map { _ in ShardPart() }
    }

    @inline(__always)
    static func shardIndex(_ hash: UInt64) -> Int {
        Int(truncatingIfNeeded: hash >> Engine.shardShift)
    }

    /// Registers the registry as an observer of `engine` the first time a client may block. Takes every shard's
    /// lock, so the caller must hold none.
    func activate(_ engine: Engine) {
        if registered.load(ordering: .acquiring) { return }
        if !registered.exchange(true, ordering: .acquiringAndReleasing) {
            engine.addObserver(self)
        }
    }

    var isActive: Bool { registered.load(ordering: .relaxed) }

    // MARK: Registration

    /// Adds `client` at the end of each of its keys' queues. The caller holds the locks of all its keys' shards.
    func add(_ client: BlockedClient) {
        for (i, key) in client.keys.enumerated() {
            let part = parts[Self.shardIndex(key.hash)]
            part.waiters[key.hash, default: []].append(Waiter(client: client, keyIndex: i))
            part.count += 1
            entries.add(1, ordering: .relaxed)
            if case .listMove(_, let destinationHash, _, _) = client.operation {
                part.addMoveTarget(Self.shardIndex(destinationHash), 1)
                moveEntries.add(1, ordering: .relaxed)
            }
        }
        waitingClients.add(1, ordering: .relaxed)
        if client.deadline != nil { clientsWithDeadline.add(1, ordering: .relaxed) }
    }

    /// Counts `client` as no longer waiting; call once, after a successful ``BlockedClient/claim()``.
    func ended(_ client: BlockedClient) {
        waitingClients.subtract(1, ordering: .relaxed)
        if client.deadline != nil { clientsWithDeadline.subtract(1, ordering: .relaxed) }
    }

    /// Removes `client`'s entry for key `keyIndex`, if present. The caller holds that key's shard lock.
    func remove(_ client: BlockedClient, keyIndex: Int) {
        let key = client.keys[keyIndex]
        let part = parts[Self.shardIndex(key.hash)]
        guard var list = part.waiters[key.hash],
            let i = list.firstIndex(where: { $0.client === client && $0.keyIndex == keyIndex })
        else { return }
        list.remove(at: i)
        part.waiters[key.hash] = list.isEmpty ? nil : list
        part.count -= 1
        entries.subtract(1, ordering: .relaxed)
        if case .listMove(_, let destinationHash, _, _) = client.operation {
            part.addMoveTarget(Self.shardIndex(destinationHash), -1)
            moveEntries.subtract(1, ordering: .relaxed)
        }
    }

    /// Removes every entry of `client`, taking each key's shard lock in turn (reentrant): the caller must hold no
    /// shard lock, or only locks it may take again, since this locks one shard at a time.
    func removeAll(_ client: BlockedClient, shards: [Shard]) {
        for i in client.keys.indices {
            shards[Self.shardIndex(client.keys[i].hash)].lock.withLock { remove(client, keyIndex: i) }
        }
    }

    /// The waiters queued on `key` in `db`, in arrival order. The caller holds the key's shard lock.
    func waiters(db: Int, key: [UInt8], hash: UInt64) -> [Waiter] {
        guard let list = parts[Self.shardIndex(hash)].waiters[hash] else { return [] }
        return list.filter { $0.client.db == db && $0.client.keys[$0.keyIndex].bytes == key }
    }

    // MARK: Destination shards

    /// `mask` plus every shard a BLMOVE client blocked on a key of those shards may push to, repeated until
    /// nothing is added (a move can make another BLMOVE client's key ready). Exact for the shards the caller holds.
    func moveTargets(of mask: UInt64) -> UInt64 {
        var result = mask
        var frontier = mask
        while frontier != 0 {
            var added: UInt64 = 0
            var m = frontier
            while m != 0 {
                added |= parts[m.trailingZeroBitCount].moveTargets.load(ordering: .relaxed)
                m &= m - 1
            }
            frontier = added & ~result
            result |= added
        }
        return result
    }

    // MARK: Ready keys

    /// Takes the ready keys of the shards in `mask`, in signal order. The caller holds those shards' locks.
    func takeReady(_ mask: UInt64) -> [ReadyKey] {
        var taken: [ReadyKey] = []
        var m = mask
        while m != 0 {
            let part = parts[m.trailingZeroBitCount]
            if !part.ready.isEmpty {
                taken.append(contentsOf: part.ready)
                part.ready.removeAll()
            }
            m &= m - 1
        }
        if taken.count > 1 { taken.sort { $0.order < $1.order } }
        return taken
    }

    private func markReady(_ part: ShardPart, db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        if part.ready.contains(where: { $0.hash == hash && $0.db == db && $0.key.elementsEqual(key) }) { return }
        let order = readyOrder.add(1, ordering: .relaxed).newValue
        part.ready.append(ReadyKey(order: order, db: db, key: Array(key), hash: hash))
    }

    // MARK: KeyspaceObserver

    func keyChanged(db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        let part = parts[Self.shardIndex(hash)]
        guard part.count > 0, let list = part.waiters[hash] else { return }
        guard list.contains(where: { $0.client.db == db && $0.client.keys[$0.keyIndex].bytes.elementsEqual(key) })
        else { return }
        markReady(part, db: db, key: key, hash: hash)
    }

    func databasesWillChange(_ event: DatabaseEvent) {
        // SWAPDB can give a waited-on key data (Redis scans the swapped databases for such keys); flushes only
        // remove data. Called under every shard's lock.
        guard case .swap(let a, let b) = event, entries.load(ordering: .relaxed) > 0 else { return }
        for part in parts where part.count > 0 {
            for (hash, list) in part.waiters {
                for waiter in list where waiter.client.db == a || waiter.client.db == b {
                    waiter.client.keys[waiter.keyIndex].bytes.withUnsafeBytes { key in
                        markReady(part, db: waiter.client.db, key: key, hash: hash)
                    }
                }
            }
        }
    }
}
