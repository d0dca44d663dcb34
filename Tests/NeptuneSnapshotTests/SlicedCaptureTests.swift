#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// The sliced capture: shards are copied a few slots per lock hold while commands keep changing them, taking each key
/// before they change it; the snapshot is still exactly the keyspace at the capture point.
@Suite struct SlicedCaptureTests {
    /// Loads serialized records into a fresh engine, whose clock is at the capture's start (so no key has expired).
    static func load(_ records: [UInt8], count: Int, clock _: ManualClock) throws -> Engine {
        let restored = Engine(clock: ManualClock())
        var bytes = records
        bytes += SnapshotRecord.endMarker(count: UInt64(count))
        var keys = 0
        var end: UInt64? = nil
        let consumed = try bytes.withUnsafeBytes { try restored.loadSnapshotRecords($0, keysLoaded: &keys, endCount: &end) }
        #expect(consumed == bytes.count)
        #expect(keys == count)
        restored.isLoading = false
        return restored
    }

    /// Strings (small, with expiry, larger than a slab class), hashes (both encodings), sets, sorted sets and lists
    /// in databases 0 and 2.
    static func populate(_ session: inout EngineSession, keys: Int) {
        let large = String(repeating: "L", count: 5_000)
        for i in 0..<keys {
            session.run("SET", "k\(i)", "v\(i)")
            if i % 7 == 0 { session.run("PEXPIRE", "k\(i)", "\(100_000_000 + i)") }
            if i % 97 == 0 { session.run("SET", "big\(i)", "\(large)\(i)") }
            if i % 10 == 0 { session.run("HSET", "h\(i % 60)", "f\(i)", "\(i)") }
            if i % 10 == 1 { session.run("SADD", "s\(i % 40)", "m\(i)") }
            if i % 10 == 2 { session.run("ZADD", "z\(i % 40)", "\(i)", "m\(i)") }
            if i % 10 == 3 { session.run("RPUSH", "l\(i % 40)", "i\(i)") }
        }
        // Collections that expire during the capture (lazily, see ``change(_:step:keys:clock:)``).
        for j in 0..<20 {
            session.run("HSET", "eh\(j)", "a", "1", "b", "2")
            session.run("PEXPIRE", "eh\(j)", "50000")
        }
        // One hash past the listpack limits (hashtable encoding).
        for f in 0..<300 { session.run("HSET", "wide", "field\(f)", String(repeating: "w", count: 80)) }
        session.run("SELECT", "2")
        for i in 0..<200 { session.run("SET", "k\(i)", "db2-\(i)") }
        session.run("SELECT", "0")
    }

    /// One change of every kind, chosen by `step`: overwrite, insert, delete, APPEND, expiry set and removed,
    /// collection changes (the snapshot may hold the very object), RENAME, MOVE and COPY to other databases, a
    /// key expiring lazily; bursts of inserts and deletes that make tables grow and shrink.
    static func change(_ session: inout EngineSession, step: Int, keys: Int, clock: ManualClock) {
        let i = (step &* 7919) % keys
        switch step % 14 {
        case 0: session.run("SET", "k\(i)", "changed-\(step)")
        case 1: session.run("SET", "new\(step)", "inserted")
        case 2: session.run("DEL", "k\(i)")
        case 3: session.run("APPEND", "k\(i)", "+")
        case 4: session.run("PEXPIRE", "k\(i)", "5000000")
        case 5: session.run("PERSIST", "k\(i)")
        case 6: session.run("HSET", "h\(i % 60)", "f\(i)", "changed")
        case 7: session.run("SREM", "s\(i % 40)", "m\(i)")
        case 8: session.run("ZINCRBY", "z\(i % 40)", "1000", "m\(i)")
        case 9: session.run("LPOP", "l\(i % 40)")
        case 10: session.run("RENAME", "k\(i)", "renamed\(step)")
        case 11: session.run("MOVE", "k\(i)", "2")
        case 12: session.run("COPY", "k\(i)", "copy\(step)", "DB", "3")
        default: session.run("HSET", "wide", "field\(step % 300)", "changed")
        }
        if step % 30 == 10 {
            // Tables grow, then (15 steps later) shrink again: entries not yet taken move, behind the walk too.
            for j in 0..<600 { session.run("SET", "grow\(step)-\(j)", "g") }
        } else if step % 30 == 25 {
            for j in 0..<600 { session.run("DEL", "grow\(step - 15)-\(j)") }
        } else if step % 150 == 149 {
            // Removes most keys, so that tables shrink (entries move).
            for j in 0..<keys where j % 5 != 0 { session.run("DEL", "k\(j)") }
            for j in 0..<keys where j % 5 != 0 { session.run("SET", "k\(j)", "back-\(step)") }
        }
        if step == 5 {
            // The collections with a short expiry expire and are deleted as they are read.
            clock.advance(milliseconds: 60_000)
            for j in 0..<20 { session.run("HLEN", "eh\(j)") }
        }
        if step % 40 == 39 {
            // A key with a short expiry, then read once expired: deleted by lazy expiry.
            session.run("SET", "short\(step)", "x", "PX", "1")
            clock.advance(milliseconds: 2)
            session.run("GET", "short\(step)")
            session.run("GET", "k\(i)")
        }
    }

    /// Tiny slices with a change after every one: the table walks restart after resizes, commands take the keys the
    /// walk has not reached, the walk pins collections that commands then copy; the snapshot is exactly the
    /// keyspace at the capture point, and the keyspace has moved on.
    @Test(arguments: [3, 64]) func changesBetweenSlicesDoNotReachTheCapture(slotsPerSlice: Int) throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        let keys = 1_500
        Self.populate(&session, keys: keys)
        let expected = SnapshotFixture.dump(engine)
        let capture = engine.beginCapture { 41 }
        capture.slotsPerSlice = slotsPerSlice
        #expect(capture.sequence == 41)
        #expect(capture.keyCount == expected.count)
        var step = 0
        var records: [UInt8] = []
        for index in 0..<Engine.shardCount {
            let shard = capture.take(index) {
                Self.change(&session, step: step, keys: keys, clock: clock)
                step += 1
            }
            guard let shard else { continue }
            capture.serialize(shard, into: &records, flushBytes: .max) { _ in }
            capture.recycle(shard)
        }
        #expect(capture.keysCaptured > 0)
        #expect(step > (slotsPerSlice == 3 ? 500 : 20))
        #expect(capture.keysCaptured == capture.keyCount)
        #expect(capture.keysTakenByCommands > 0)
        #expect(capture.shardsFinishedByCommands == 0)
        if slotsPerSlice == 3 { #expect(capture.restarts > 0) }
        let restored = try Self.load(records, count: capture.keyCount, clock: clock)
        #expect(SnapshotFixture.dump(restored) == expected)
        #expect(SnapshotFixture.dump(engine) != expected)
        // The next capture (the mark flipped back) is complete too.
        let now = SnapshotFixture.dump(engine)
        let next = engine.beginCapture { 42 }
        var again: [UInt8] = []
        for index in 0..<Engine.shardCount { again += next.takeShard(index) }
        #expect(SnapshotFixture.dump(try Self.load(again, count: next.keyCount, clock: clock)) == now)
    }

    /// Keyless writes in the middle of a sliced capture (SWAPDB, FLUSHDB, FLUSHALL, and the engine's own flush
    /// that the embedded store calls without the dispatcher) finish the shards they lock at once; the snapshot is
    /// still the capture point's.
    @Test(arguments: ["SWAPDB", "FLUSHDB", "FLUSHALL", "Engine.flush"])
    func keylessWritesFinishTheShards(command: String) throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        Self.populate(&session, keys: 800)
        let expected = SnapshotFixture.dump(engine)
        let capture = engine.beginCapture { 3 }
        capture.slotsPerSlice = 8
        var records: [UInt8] = []
        var step = 0
        for index in 0..<Engine.shardCount {
            let shard = capture.take(index) {
                if step == 0 {
                    switch command {
                    case "SWAPDB": session.run("SWAPDB", "0", "2")
                    case "FLUSHDB": session.run("FLUSHDB")
                    case "Engine.flush": engine.flush(db: 0)
                    default: session.run("FLUSHALL")
                    }
                }
                Self.change(&session, step: step, keys: 800, clock: clock)
                step += 1
            }
            guard let shard else { continue }
            capture.serialize(shard, into: &records, flushBytes: .max) { _ in }
            capture.recycle(shard)
        }
        #expect(capture.shardsFinishedByCommands == Engine.shardCount)
        #expect(capture.keysCaptured == capture.keyCount)
        #expect(SnapshotFixture.dump(try Self.load(records, count: capture.keyCount, clock: clock)) == expected)
    }

    /// Threads keep writing (every kind of change, bursts that resize tables) while the snapshot side copies in
    /// small slices and serializes shard by shard; the result equals the keyspace read with every shard locked at
    /// the capture point. Bounded: at most 8 rounds and 20 seconds.
    @Test func concurrentWritersDuringSlicedCaptures() throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        let keys = 3_000
        Self.populate(&session, keys: keys)
        let stop = StopFlag()
        let writers = (0..<2).map { writer in
            WriterThread { [engine] in
                var session = EngineSession(engine: engine)
                var step = writer * 100_003
                var n = 0
                while !stop.flag.load(ordering: .relaxed) && n < 2_000_000 {
                    // A clock of its own: the engine's time does not move, so no key expires under the check.
                    Self.change(&session, step: step, keys: keys, clock: ManualClock())
                    step += 1
                    n += 1
                }
                return n
            }
        }
        let deadline = ContinuousClock.now + .seconds(20)
        var rounds = 0
        while rounds < 8 && ContinuousClock.now < deadline {
            var expected: [String: String] = [:]
            let capture = engine.beginCapture {
                expected = SnapshotFixture.dump(engine)
                return UInt64(rounds)
            }
            capture.slotsPerSlice = rounds % 2 == 0 ? 16 : 512
            var records: [UInt8] = []
            for index in 0..<Engine.shardCount {
                guard let shard = capture.take(index) else { continue }
                capture.serialize(shard, into: &records, flushBytes: .max) { _ in }
                capture.recycle(shard)
            }
            #expect(capture.keysCaptured == capture.keyCount)
            let restored = try Self.load(records, count: capture.keyCount, clock: clock)
            #expect(SnapshotFixture.dump(restored) == expected, "round \(rounds)")
            rounds += 1
        }
        stop.flag.store(true, ordering: .relaxed)
        var commands = 0
        for writer in writers { commands += writer.join() }
        #expect(rounds >= 2)
        #expect(commands > 1_000)
    }

    /// A durable store saving while threads run non-idempotent writes (APPEND, INCR, RPUSH): reopened, the snapshot
    /// plus the journal records after its sequence number give exactly the final state, so the snapshot holds no
    /// write after its sequence number and misses none before.
    @Test func snapshotAndJournalAfterItsSequenceGiveTheFinalState() throws {
        let fileSystem = FaultyFileSystem()
        let store = try NeptuneStore.open(
            directory: "/data",
            options: .init(appendfsync: .no, fileSystem: fileSystem),
            clock: ManualClock()
        )
        for i in 0..<3_000 { _ = store.execute(["SET", "k\(i)", "\(i)"]) }
        let stop = StopFlag()
        let writers = (0..<2).map { writer in
            WriterThread { [store] in
                var n = 0
                while !stop.flag.load(ordering: .relaxed) && n < 400_000 {
                    let i = (n &* 7919 &+ writer) % 3_000
                    switch n % 4 {
                    case 0: _ = store.execute(["APPEND", "k\(i)", "a"])
                    case 1: _ = store.execute(["INCR", "n\(i % 50)"])
                    case 2: _ = store.execute(["RPUSH", "l\(i % 30)", "\(n)"])
                    default: _ = store.execute(["HINCRBY", "h\(i % 30)", "f\(i % 7)", "1"])
                    }
                    n += 1
                }
                return n
            }
        }
        for _ in 0..<3 { try store.saveSnapshot() }
        stop.flag.store(true, ordering: .relaxed)
        for writer in writers { _ = writer.join() }
        let final = SnapshotFixture.dump(store.engine)
        store.close()
        let reopened = try NeptuneStore.open(
            directory: "/data",
            options: .init(appendfsync: .no, fileSystem: FaultyFileSystem(files: fileSystem.crash())),
            clock: ManualClock()
        )
        #expect(SnapshotFixture.dump(reopened.engine) == final)
        reopened.close()
    }
}
