import NIOCore
import Synchronization

/// A running byte count that shards add their changes to (relaxed: only the sum matters).
final class MemoryCounter: Sendable {
    private let bytes = Atomic<Int>(0)

    @inline(__always)
    func add(_ delta: Int) {
        bytes.wrappingAdd(delta, ordering: .relaxed)
    }

    @inline(__always)
    var value: Int { bytes.load(ordering: .relaxed) }
}

/// One candidate of Redis's eviction pool: the best keys seen by recent samples, kept across evictions.
struct EvictionCandidate {
    var score: UInt64
    var db: Int
    var key: [UInt8]
}

/// The engine's memory limit and eviction state: read with single atomic loads on every command, so a server
/// without `maxmemory` pays nothing more.
final class EvictionController: Sendable {
    static let poolSize = 16
    /// Keys one command may evict before it runs anyway (Redis's time limit, as a count); the server's periodic
    /// task continues from there, so latency stays flat when the limit drops a lot at once.
    static let keysPerCall = 64

    let maxmemory = Atomic<Int>(0)
    let policyIndex = Atomic<Int>(EvictionPolicy.allCases.firstIndex(of: .noeviction)!)
    let samples = Atomic<Int>(5)
    let decayTime = Atomic<Int>(1)
    let used = MemoryCounter()
    /// Bytes the host holds besides the keyspace (its baseline and client buffers), counted in used memory.
    let hostBytes = Atomic<Int>(0)
    let peak = Atomic<Int>(0)
    /// Guards Redis's eviction pool (and serializes the LRU, LFU and TTL policies' evictions).
    let pool = Mutex<[EvictionCandidate]>([])
    let shardCursor = Atomic<Int>(0)
    let dbCursor = Atomic<Int>(0)

    var lfuDecayTime: Int { decayTime.load(ordering: .relaxed) }

    var policy: EvictionPolicy {
        EvictionPolicy.allCases[policyIndex.load(ordering: .relaxed)]
    }
}

/// The outcome of one eviction attempt.
enum EvictionStep {
    case evicted
    /// Nothing the policy may evict (volatile-* without keys with a TTL, or an empty keyspace).
    case nothing
    /// The shards were busy; try again.
    case busy
}

extension Engine {
    /// The reply to a `denyoom` command when memory cannot be freed (Redis's `shared.oomerr`).
    public static let outOfMemoryMessage = "OOM command not allowed when used memory > 'maxmemory'."

    // MARK: Configuration

    /// Sets the memory limit and the eviction policy (`maxmemory`, `maxmemory-policy`, `maxmemory-samples`,
    /// `lfu-log-factor`, `lfu-decay-time`). Changing the policy resets every key's access data.
    ///
    /// - Parameters:
    ///   - maxmemory: The limit in bytes; 0 for none.
    ///   - policy: What to evict when the limit is reached.
    ///   - samples: Keys sampled per eviction by the LRU, LFU and TTL policies.
    ///   - lfuLogFactor: How many accesses it takes to raise an LFU counter (Redis's default 10).
    ///   - lfuDecayTime: Minutes per decrement of an idle key's LFU counter (0: never).
    public func configureEviction(
        maxmemory: Int,
        policy: EvictionPolicy,
        samples: Int = 5,
        lfuLogFactor: Int = 10,
        lfuDecayTime: Int = 1
    ) {
        let tuning = EvictionTuning(mode: policy.accessMode, lfuLogFactor: lfuLogFactor, lfuDecayTime: lfuDecayTime)
        let now = clock.milliseconds()
        withAllShards {
            for shard in shards {
                let modeChanged = shard.tuning.mode != tuning.mode
                shard.tuning = tuning
                shard.clock = clock
                if modeChanged { shard.resetAccessData(now: now) }
                shard.publishMemory(eviction.used)
            }
            eviction.policyIndex.store(EvictionPolicy.allCases.firstIndex(of: policy)!, ordering: .relaxed)
            eviction.samples.store(max(1, samples), ordering: .relaxed)
            eviction.decayTime.store(lfuDecayTime, ordering: .relaxed)
            eviction.maxmemory.store(max(0, maxmemory), ordering: .relaxed)
            eviction.pool.withLock { $0.removeAll() }
        }
        updateSettings { $0.lfuPolicy = policy.isLFU }
    }

    /// The memory limit in bytes (0: none).
    public var maxmemory: Int { eviction.maxmemory.load(ordering: .relaxed) }

    /// The selected eviction policy.
    public var evictionPolicy: EvictionPolicy { eviction.policy }

    /// Bytes the host holds besides the keyspace (server baseline, client buffers); counted in ``usedMemory``.
    public var hostMemoryBytes: Int {
        get { eviction.hostBytes.load(ordering: .relaxed) }
        set { eviction.hostBytes.store(newValue, ordering: .relaxed) }
    }

    /// Bytes in use as the memory limit counts them (Redis's `used_memory`): the keyspace (key-table slots,
    /// entry cells in use, collection objects, eviction bookkeeping) plus ``hostMemoryBytes``. Exact: locks each
    /// shard in turn to bring the count up to date.
    public func usedMemory() -> Int {
        for shard in shards {
            shard.lock.withLock { shard.publishMemory(eviction.used) }
        }
        return currentUsedMemory()
    }

    /// The highest ``usedMemory`` seen (INFO's `used_memory_peak`).
    public var peakMemory: Int { eviction.peak.load(ordering: .relaxed) }

    /// The used-memory count as last published by the shards (no locking).
    @inline(__always)
    func currentUsedMemory() -> Int {
        let used = eviction.used.value + eviction.hostBytes.load(ordering: .relaxed)
        var peak = eviction.peak.load(ordering: .relaxed)
        while used > peak {
            let (exchanged, original) = eviction.peak.compareExchange(expected: peak, desired: used, ordering: .relaxed)
            if exchanged { break }
            peak = original
        }
        return used
    }

    // MARK: Enforcement

    /// Publishes the memory change of the shards in `mask` (held by the caller) after a write.
    @inline(__always)
    func publishMemory(_ mask: UInt64) {
        var m = mask
        while m != 0 {
            shards[m.trailingZeroBitCount].publishMemory(eviction.used)
            m &= m - 1
        }
    }

    /// Redis's performEvictions: while used memory is over `maxmemory`, evicts keys by the policy, at most
    /// ``EvictionController/keysPerCall`` per call. Returns false when memory is over the limit and nothing can be
    /// evicted (noeviction, or volatile-* without keys with a TTL): `denyoom` commands are then refused.
    @discardableResult
    public func evictIfNeeded() -> Bool {
        let limit = eviction.maxmemory.load(ordering: .relaxed)
        guard limit > 0, !isLoading else { return true }
        let used = currentUsedMemory()
        guard used > limit else { return true }
        let policy = eviction.policy
        switch policy {
        case .noeviction:
            return false
        case .allkeysS3FIFO, .allkeysRandom, .volatileRandom:
            // No shared state besides the shards' own (taken with their locks): event loops evict in parallel.
            var noPool: [EvictionCandidate] = []
            return evictWhileOver(limit, used: used, policy, &noPool)
        case .allkeysLRU, .allkeysLFU, .volatileLRU, .volatileLFU, .volatileTTL:
            return eviction.pool.withLock { pool in evictWhileOver(limit, used: used, policy, &pool) }
        }
    }

    private func evictWhileOver(
        _ limit: Int,
        used: Int,
        _ policy: EvictionPolicy,
        _ pool: inout [EvictionCandidate]
    ) -> Bool {
        var used = used
        var evicted = 0
        var busy = 0
        while used > limit {
            if evicted >= EvictionController.keysPerCall { return true }
            switch evictOne(policy, &pool) {
            case .evicted:
                evicted += 1
            case .nothing:
                return false
            case .busy:
                busy += 1
                if busy > 64 { return true }
            }
            used = currentUsedMemory()
        }
        return true
    }

    /// Before a write that bypasses the dispatcher (the embedded API without a journal): evicts as the dispatcher
    /// does before a command, and throws Redis's OOM error when memory is over the limit and nothing may go.
    @inline(__always)
    func evictBeforeDirectWrite() throws {
        guard eviction.maxmemory.load(ordering: .relaxed) > 0 else { return }
        guard evictIfNeeded() else { throw CommandError.outOfMemory }
    }

    /// After a write that bypassed the dispatcher: publishes the memory change of `shard` (locked by the caller).
    @inline(__always)
    func publishDirectWrite(_ shard: Shard) {
        if eviction.maxmemory.load(ordering: .relaxed) > 0 { shard.publishMemory(eviction.used) }
    }

    /// Evicts one key by `policy`.
    func evictOne(_ policy: EvictionPolicy, _ pool: inout [EvictionCandidate]) -> EvictionStep {
        switch policy {
        case .noeviction:
            return .nothing
        case .allkeysRandom, .volatileRandom:
            return evictRandom(volatileOnly: policy.isVolatile)
        case .allkeysS3FIFO:
            return evictS3FIFO()
        case .allkeysLRU, .volatileLRU, .allkeysLFU, .volatileLFU, .volatileTTL:
            return evictFromPool(policy, &pool)
        }
    }

    /// The next shard in round-robin order, locked without waiting; nil if it is busy.
    private func nextShard() -> Shard? {
        let index = eviction.shardCursor.wrappingAdd(1, ordering: .relaxed).oldValue & (Self.shardCount - 1)
        let shard = shards[index]
        return shard.lock.tryLock() ? shard : nil
    }

    /// The next shard in turn or a random one, whichever holds more keys, locked without waiting; nil if busy.
    ///
    /// Inserts fall on shards at random while evictions take turns, so without the comparison (the power of two
    /// choices) the shards' sizes would drift apart, and the hot keys of a crowded shard would go before the cold
    /// keys of another.
    private func nextShardHoldingMore() -> Shard? {
        guard let shard = nextShard() else { return nil }
        let other = shards[Int(truncatingIfNeeded: shard.nextRandom() >> 32) & (Self.shardCount - 1)]
        guard other !== shard && other.lock.tryLock() else { return shard }
        if other.keyCount > shard.keyCount {
            shard.lock.unlock()
            return other
        }
        other.lock.unlock()
        return shard
    }

    /// Deletes the key in `slot` as evicted and publishes the freed memory. The caller holds the shard's lock.
    private func evict(_ shard: Shard, _ db: Int, _ slot: Int) {
        shard.deleteByEngine(db, slot, reason: .evicted)
        shard.publishMemory(eviction.used)
    }

    private func evictRandom(volatileOnly: Bool) -> EvictionStep {
        var busy = false
        for _ in 0..<Self.shardCount {
            guard let shard = nextShardHoldingMore() else {
                busy = true
                continue
            }
            defer { shard.lock.unlock() }
            let start = eviction.dbCursor.wrappingAdd(1, ordering: .relaxed).oldValue
            for i in 0..<databases {
                let db = (start &+ i) % databases
                var victim = -1
                shard.sample(db, count: 1, volatileOnly: volatileOnly) { slot, _ in victim = slot }
                if victim >= 0 {
                    evict(shard, db, victim)
                    return .evicted
                }
            }
        }
        return busy ? .busy : .nothing
    }

    /// Evicts by S3-FIFO from one shard (see ``nextShardHoldingMore()``).
    private func evictS3FIFO() -> EvictionStep {
        var busy = false
        for _ in 0..<Self.shardCount {
            guard let shard = nextShardHoldingMore() else {
                busy = true
                continue
            }
            defer { shard.lock.unlock() }
            let start = eviction.dbCursor.load(ordering: .relaxed)
            for i in 0..<databases {
                let db = (start &+ i) % databases
                let victim = shard.s3Victim(db)
                if victim >= 0 {
                    if i > 0 { eviction.dbCursor.store(db, ordering: .relaxed) }
                    evict(shard, db, victim)
                    return .evicted
                }
            }
        }
        return busy ? .busy : .nothing
    }

    /// Redis's eviction pool: sample keys of every database, keep the 16 best candidates by score (idle time,
    /// 255 - LFU counter, or time to expiry reversed) and evict the best one that still exists.
    private func evictFromPool(_ policy: EvictionPolicy, _ pool: inout [EvictionCandidate]) -> EvictionStep {
        let samples = eviction.samples.load(ordering: .relaxed)
        let decayTime = eviction.decayTime.load(ordering: .relaxed)
        let now = clock.milliseconds()
        let volatileOnly = policy.isVolatile
        var attempts = 0
        var busy = false
        while attempts < 2 * Self.shardCount {
            attempts += 1
            // Populate from one shard (shards are random slices of every database).
            guard let shard = nextShardHoldingMore() else {
                busy = true
                continue
            }
            var sampled = false
            for db in 0..<databases {
                shard.sample(db, count: samples, volatileOnly: volatileOnly) { _, e in
                    sampled = true
                    let score: UInt64
                    switch policy {
                    case .volatileTTL:
                        score = UInt64.max &- UInt64(bitPattern: e.expiry)
                    case .allkeysLFU, .volatileLFU:
                        score = 255 - UInt64(LFU.decayed(e.access, now: now, decayTime: decayTime))
                    default:
                        let clock = UInt32(truncatingIfNeeded: now / 1000) & 0xFF_FFFF
                        let stored = e.access
                        let idle = clock >= stored ? clock - stored : 0xFF_FFFF - stored + clock
                        score = UInt64(idle) * 1000
                    }
                    Self.insertCandidate(&pool, EvictionCandidate(score: score, db: db, key: Array(e.key)))
                }
            }
            shard.lock.unlock()
            if !sampled && pool.isEmpty { continue }
            // Evict the best candidate that still exists.
            while let candidate = pool.popLast() {
                let result: Bool? = candidate.key.withUnsafeBytes { key in
                    let hash = hasher.hash(key)
                    let owner = self.shard(for: hash)
                    guard owner.lock.tryLock() else { return nil }
                    defer { owner.lock.unlock() }
                    let slot = owner.tables[candidate.db].find(key, hash: hash, slab: owner.slab)
                    guard slot >= 0 else { return false }
                    if volatileOnly && !owner.entry(owner.tables[candidate.db], slot).hasExpiry { return false }
                    evict(owner, candidate.db, slot)
                    return true
                }
                switch result {
                case true?: return .evicted
                case false?: continue
                case nil:
                    pool.append(candidate)
                    return .busy
                }
            }
        }
        return busy ? .busy : .nothing
    }

    /// Inserts a candidate into the pool kept sorted by ascending score (best last), at most 16 long, without
    /// duplicates (Redis's evictionPoolPopulate).
    static func insertCandidate(_ pool: inout [EvictionCandidate], _ candidate: EvictionCandidate) {
        if let existing = pool.firstIndex(where: { $0.db == candidate.db && $0.key == candidate.key }) {
            pool.remove(at: existing)
        }
        if pool.count == EvictionController.poolSize {
            guard candidate.score > pool[0].score else { return }
            pool.removeFirst()
        }
        var index = pool.count
        while index > 0 && pool[index - 1].score > candidate.score { index -= 1 }
        pool.insert(candidate, at: index)
    }

    /// Keys evicted so far (INFO's `evicted_keys`).
    public var evictedKeys: Int {
        var total = 0
        for shard in shards { shard.lock.withLock { total += shard.evictedKeys } }
        return total
    }
}

extension CommandError {
    /// `OOM command not allowed when used memory > 'maxmemory'.`: a command that may grow memory, refused because
    /// memory is over `maxmemory` and the policy may evict nothing.
    public static let outOfMemory = CommandError(Engine.outOfMemoryMessage)
}
