import Dispatch
import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

@Suite struct EvictionTests {
    static let oom = "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    let clock = ManualClock()

    /// An engine whose limit is `headroom` bytes above what it holds now.
    func engine(policy: EvictionPolicy, headroom: Int = 200_000, samples: Int = 5) -> Engine {
        let engine = Engine(clock: clock, hashSeed: 42)
        engine.configureEviction(maxmemory: engine.usedMemory() + headroom, policy: policy, samples: samples)
        return engine
    }

    func fill(_ s: inout EngineSession, prefix: String, count: Int, ttl: Bool = false) {
        for i in 0..<count {
            if ttl {
                s.run("SET", "\(prefix)\(i)", String(repeating: "v", count: 20), "EX", String(1000 + i))
            } else {
                s.run("SET", "\(prefix)\(i)", String(repeating: "v", count: 20))
            }
        }
    }

    func exists(_ s: inout EngineSession, prefix: String, count: Int) -> Int {
        var found = 0
        for i in 0..<count where s.raw("EXISTS", "\(prefix)\(i)") == ":1\r\n" { found += 1 }
        return found
    }

    @Test func noevictionRefusesDenyoomCommandsOnly() {
        let engine = engine(policy: .noeviction, headroom: 20_000)
        var s = EngineSession(engine: engine)
        var refused = 0
        for i in 0..<2000 where s.raw("SET", "k\(i)", "0123456789") == Self.oom { refused += 1 }
        #expect(refused > 0)
        let kept = engine.keyCount(db: 0)
        #expect(kept + refused == 2000)
        #expect(s.raw("SET", "another", "x") == Self.oom)
        #expect(s.raw("INCR", "counter") == Self.oom)
        // Reads and commands without denyoom still run; nothing was lost.
        #expect(s.raw("GET", "k0") == "$10\r\n0123456789\r\n")
        #expect(s.raw("DEL", "k0") == ":1\r\n")
        #expect(s.raw("EXPIRE", "k1", "100") == ":1\r\n")
        #expect(engine.keyCount(db: 0) == kept - 1)
        #expect(engine.statistics().evictedKeys == 0)
    }

    @Test(arguments: [
        EvictionPolicy.allkeysLRU, .allkeysLFU, .allkeysRandom, .allkeysS3FIFO, .volatileLRU, .volatileLFU,
        .volatileRandom, .volatileTTL,
    ])
    func usedMemoryStaysWithinTheLimitUnderWrites(policy: EvictionPolicy) {
        let engine = engine(policy: policy, headroom: 300_000)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "key:", count: 20_000, ttl: policy.isVolatile)
        let limit = engine.maxmemory
        #expect(engine.usedMemory() <= limit + limit / 20)
        #expect(engine.statistics().evictedKeys > 0)
        #expect(engine.keyCount(db: 0) + engine.statistics().evictedKeys == 20_000)
        // The most recent write is always there.
        #expect(s.raw("EXISTS", "key:19999") == ":1\r\n")
    }

    @Test(arguments: [EvictionPolicy.volatileLRU, .volatileLFU, .volatileRandom, .volatileTTL])
    func volatilePoliciesEvictOnlyKeysWithATTL(policy: EvictionPolicy) {
        let engine = engine(policy: policy, headroom: 100_000)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "persistent:", count: 500)
        fill(&s, prefix: "volatile:", count: 5000, ttl: true)
        #expect(engine.statistics().evictedKeys > 0)
        #expect(exists(&s, prefix: "persistent:", count: 500) == 500)
        // Once no key has a TTL, nothing may go: OOM as in Redis.
        s.run("FLUSHALL")
        engine.configureEviction(maxmemory: engine.usedMemory() + 30_000, policy: policy)
        var refused = 0
        for i in 0..<3000 where s.raw("SET", "p\(i)", "0123456789") == Self.oom { refused += 1 }
        #expect(refused > 0)
        #expect(engine.keyCount(db: 0) + refused == 3000)
    }

    @Test func volatileTTLEvictsTheSoonestExpiringFirst() {
        let engine = engine(policy: .volatileTTL, headroom: 60_000, samples: 10)
        var s = EngineSession(engine: engine)
        // key i expires after 1000 + i seconds: the low numbers should go first.
        fill(&s, prefix: "t:", count: 3000, ttl: true)
        let evicted = 3000 - engine.keyCount(db: 0)
        #expect(evicted > 0)
        let earlyKept = exists(&s, prefix: "t:", count: 300)
        #expect(earlyKept < 300 / 4)
    }

    @Test func allkeysLRUKeepsRecentlyReadKeys() {
        let engine = engine(policy: .allkeysLRU, headroom: 150_000, samples: 10)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "hot:", count: 200)
        clock.advance(seconds: 10)
        fill(&s, prefix: "cold:", count: 1000)
        for _ in 0..<5 {
            clock.advance(seconds: 10)
            for i in 0..<200 { s.run("GET", "hot:\(i)") }
            fill(&s, prefix: "new\(clock.milliseconds()):", count: 1000)
        }
        #expect(engine.statistics().evictedKeys > 1000)
        #expect(exists(&s, prefix: "hot:", count: 200) > 190)
        #expect(exists(&s, prefix: "cold:", count: 1000) < 500)
    }

    @Test func allkeysLFUCounterAndObjectFreq() {
        let engine = engine(policy: .allkeysLFU, headroom: 1_000_000)
        var s = EngineSession(engine: engine)
        s.run("SET", "k", "v")
        #expect(s.raw("OBJECT", "FREQ", "k") == ":5\r\n")
        #expect(s.raw("OBJECT", "IDLETIME", "k").hasPrefix("-ERR An LFU maxmemory policy is selected"))
        s.run("GET", "k")
        #expect(s.raw("OBJECT", "FREQ", "k") == ":6\r\n")  // from 5 the first step is certain
        for _ in 0..<2000 { s.run("GET", "k") }
        guard case .integer(let hot) = s.run("OBJECT", "FREQ", "k") else {
            Issue.record("no integer")
            return
        }
        // Logarithmic: 2000 hits give about 5 + sqrt(2 * 2000 / 10) ≈ 25, far below 255.
        #expect(hot > 12 && hot < 40)
        // lfu-decay-time 1: one point per idle minute.
        clock.advance(seconds: 600)
        #expect(s.raw("OBJECT", "FREQ", "k") == ":\(hot - 10)\r\n")
        // Overwriting keeps (and bumps) the counter, as Redis keeps LFU data on overwrite.
        s.run("SET", "k", "w")
        guard case .integer(let after) = s.run("OBJECT", "FREQ", "k") else { return }
        #expect(after >= hot - 10)
    }

    @Test func lfuKeepsFrequentKeysUnderPressure() {
        let engine = engine(policy: .allkeysLFU, headroom: 150_000, samples: 10)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "hot:", count: 200)
        for _ in 0..<20 { for i in 0..<200 { s.run("GET", "hot:\(i)") } }
        fill(&s, prefix: "scan:", count: 6000)
        #expect(exists(&s, prefix: "hot:", count: 200) > 190)
    }

    @Test func objectFreqAndIdletimeErrors() {
        let engine = engine(policy: .allkeysLRU)
        var s = EngineSession(engine: engine)
        s.run("SET", "k", "v")
        #expect(
            s.raw("OBJECT", "FREQ", "k")
                == "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that "
                + "when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n"
        )
        clock.advance(seconds: 7)
        #expect(s.raw("OBJECT", "IDLETIME", "k") == ":7\r\n")
        s.run("GET", "k")
        #expect(s.raw("OBJECT", "IDLETIME", "k") == ":0\r\n")
        engine.configureEviction(maxmemory: 0, policy: .allkeysS3FIFO)
        #expect(s.raw("OBJECT", "IDLETIME", "k").hasPrefix("-ERR The S3-FIFO maxmemory policy is selected"))
        #expect(s.raw("OBJECT", "FREQ", "k").hasPrefix("-ERR An LFU maxmemory policy is not selected"))
    }

    @Test func loweringTheLimitEvictsOnTheNextWrite() {
        let engine = engine(policy: .allkeysLRU, headroom: 2_000_000)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "k:", count: 5000)
        #expect(engine.statistics().evictedKeys == 0)
        let used = engine.usedMemory()
        engine.configureEviction(maxmemory: used - 100_000, policy: .allkeysLRU)
        // One write evicts a bounded number of keys; a few writes bring memory under the new limit.
        for i in 0..<100 { s.run("SET", "n:\(i)", "x") }
        #expect(engine.statistics().evictedKeys > 0)
        #expect(engine.usedMemory() <= engine.maxmemory)
    }

    @Test func s3fifoKeepsHotKeysThroughAScan() {
        let engine = engine(policy: .allkeysS3FIFO, headroom: 200_000)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "hot:", count: 500)
        for _ in 0..<3 { for i in 0..<500 { s.run("GET", "hot:\(i)") } }
        // A one-time scan several times the cache's size.
        fill(&s, prefix: "scan:", count: 20_000)
        #expect(exists(&s, prefix: "hot:", count: 500) > 480)
        #expect(engine.statistics().evictedKeys > 15_000)
    }

    /// S3-FIFO's queues and ghost filter cost a few bytes per key, so it holds nearly as many keys as LRU (whose
    /// data lives in the entry's access field) at the same limit.
    @Test func s3fifoBookkeepingCostsFewBytesPerKey() {
        var held: [EvictionPolicy: Int] = [:]
        for policy in [EvictionPolicy.allkeysLRU, .allkeysS3FIFO] {
            let engine = Engine(clock: clock, hashSeed: 42)
            engine.configureEviction(maxmemory: engine.usedMemory() + 1_000_000, policy: policy)
            var s = EngineSession(engine: engine)
            for i in 0..<60_000 {
                s.run("SET", "key:\(i)", String(repeating: "v", count: 32))
                if i % 3 == 0 { s.run("GET", "key:\(i / 2)") }
            }
            #expect(engine.statistics().evictedKeys > 30_000)
            // Eviction runs before each write, so the last write may overshoot by its own size.
            #expect(engine.usedMemory() <= engine.maxmemory + 200)
            held[policy] = engine.keyCount(db: 0)
        }
        let lru = held[.allkeysLRU]!
        let s3fifo = held[.allkeysS3FIFO]!
        #expect(s3fifo * 100 >= lru * 93, "s3fifo holds \(s3fifo) keys, LRU \(lru)")
    }

    /// Evictions take keys from the shards holding more, so shards stay balanced although inserts fall on them
    /// at random.
    @Test(arguments: [EvictionPolicy.allkeysS3FIFO, .allkeysLRU, .allkeysRandom])
    func evictionKeepsShardsBalanced(policy: EvictionPolicy) {
        let engine = engine(policy: policy, headroom: 600_000)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "b:", count: 60_000)
        let counts = engine.shards.map { shard in shard.lock.withLock { shard.keyCount } }
        let mean = counts.reduce(0, +) / counts.count
        #expect(engine.statistics().evictedKeys > 40_000)
        #expect(counts.min()! * 100 >= mean * 85 && counts.max()! * 100 <= mean * 115, "\(counts)")
    }

    /// The embedded API's direct writes (no journal attached, so no dispatcher) evict as commands do.
    @Test func embeddedDirectWritesEvict() throws {
        let store = NeptuneStore(clock: clock)
        store.engine.configureEviction(maxmemory: store.engine.usedMemory() + 200_000, policy: .allkeysS3FIFO)
        for i in 0..<20_000 { try store.set("direct:\(i)", String(repeating: "v", count: 20)) }
        for i in 0..<2_000 { try store.increment("counter:\(i)") }
        let limit = store.engine.maxmemory
        #expect(store.engine.evictedKeys > 10_000)
        #expect(store.engine.usedMemory() <= limit + limit / 100)
        #expect(store.count() + store.engine.evictedKeys == 22_000)
        #expect(try store.get("counter:1999") == Array("1".utf8))
        // Deletions and flushes give the memory back to the count at once.
        try store.flush()
        #expect(store.engine.usedMemory() < limit - 150_000)
    }

    /// Under noeviction a direct write over the limit fails with Redis's OOM error and changes nothing.
    @Test func embeddedDirectWritesGetOOMUnderNoeviction() throws {
        let store = NeptuneStore(clock: clock)
        store.engine.configureEviction(maxmemory: store.engine.usedMemory() + 20_000, policy: .noeviction)
        var written = 0
        var refusal: (any Error)?
        for i in 0..<2_000 {
            do {
                try store.set("k:\(i)", "0123456789")
                written += 1
            } catch {
                refusal = error
                break
            }
        }
        #expect(refusal as? CommandError == .outOfMemory)
        #expect(store.count() == written)
        #expect(throws: CommandError.outOfMemory) { try store.increment("counter") }
        #expect(try store.get("k:0") == Array("0123456789".utf8))
        #expect(try store.delete("k:0") == 1)
    }

    /// Writers on several threads evict in parallel (S3-FIFO and random take no global lock) and together keep
    /// memory at the limit without losing count of a key.
    @Test(arguments: [EvictionPolicy.allkeysS3FIFO, .allkeysRandom, .allkeysLRU])
    func concurrentWritersEvictWithinTheLimit(policy: EvictionPolicy) {
        let engine = engine(policy: policy, headroom: 300_000)
        DispatchQueue.concurrentPerform(iterations: 4) { thread in
            var s = EngineSession(engine: engine)
            for i in 0..<10_000 { s.run("SET", "t\(thread):\(i)", String(repeating: "v", count: 20)) }
        }
        let limit = engine.maxmemory
        #expect(engine.statistics().evictedKeys > 20_000)
        #expect(engine.keyCount(db: 0) + engine.statistics().evictedKeys == 40_000)
        #expect(engine.usedMemory() <= limit + limit / 100)
    }

    @Test func evictionsAreJournaledAsDel() {
        let engine = engine(policy: .allkeysRandom, headroom: 30_000)
        let journal = RecordingJournal()
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        fill(&s, prefix: "j:", count: 2000)
        let evicted = engine.statistics().evictedKeys
        #expect(evicted > 0)
        let dels = journal.records.withLock { $0.filter { String(decoding: $0.arguments[0], as: UTF8.self) == "DEL" } }
        #expect(dels.count == evicted)
        // Replaying the journal gives the same keyspace.
        let replica = Engine(clock: clock, hashSeed: 7)
        for record in journal.records.withLock({ $0 }) {
            try? replica.replay(db: record.db, arguments: record.arguments.map { ByteBuffer(bytes: $0) })
        }
        #expect(replica.keyCount(db: 0) == engine.keyCount(db: 0))
    }

    @Test func noTouchLeavesAccessDataAlone() {
        let engine = engine(policy: .allkeysLFU)
        var s = EngineSession(engine: engine)
        s.run("SET", "k", "v")
        s.context.noTouch = true
        for _ in 0..<50 { s.run("GET", "k") }
        #expect(s.raw("OBJECT", "FREQ", "k") == ":5\r\n")
    }
}
