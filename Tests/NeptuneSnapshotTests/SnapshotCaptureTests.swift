#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import NeptuneCache
import NeptuneTestSupport
import Synchronization
import Testing

/// The point-in-time capture: shards are copied under their lock and serialized afterwards, so changes made after
/// the capture point never reach the snapshot, whoever triggers the copy.
@Suite struct SnapshotCaptureTests {
    /// Loads the records of every shard of `capture` into a fresh engine.
    static func restore(_ capture: KeyspaceCapture, clock: ManualClock) throws -> Engine {
        let restored = Engine(clock: clock)
        var keys = 0
        var end: UInt64? = nil
        var records: [UInt8] = []
        for index in 0..<Engine.shardCount { records += capture.takeShard(index) }
        records += SnapshotRecord.endMarker(count: UInt64(capture.keyCount))
        let consumed = try records.withUnsafeBytes { try restored.loadSnapshotRecords($0, keysLoaded: &keys, endCount: &end) }
        #expect(consumed == records.count)
        #expect(keys == capture.keyCount)
        #expect(capture.keysCaptured == capture.keyCount)
        restored.isLoading = false
        return restored
    }

    /// Small, large (out-of-page) and collection values, changed in every way after the capture point by commands
    /// that copy their shards first: the capture still holds the state at the capture point.
    @Test func writesAfterTheCapturePointDoNotReachTheCapture() throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        let large = String(repeating: "x", count: 10_000)
        for i in 0..<500 {
            session.run("SET", "s\(i)", "value-\(i)")
            session.run("SET", "big\(i % 20)", "\(large)\(i % 20)")
            session.run("HSET", "h\(i % 50)", "f\(i)", "\(i)")
            session.run("SADD", "set\(i % 30)", "\(i)")
            session.run("SET", "e\(i % 40)", "\(i)", "PX", "1000000")
        }
        session.run("SELECT", "3")
        session.run("SET", "other-db", "3")
        session.run("SELECT", "0")
        let before = SnapshotFixture.dump(engine)
        let capture = engine.beginCapture { 7 }
        #expect(capture.sequence == 7)
        // Every kind of change, touching every shard before the snapshot thread takes any.
        for i in 0..<500 {
            session.run("SET", "s\(i)", "changed-\(i)")
            session.run("DEL", "big\(i % 20)")
            session.run("SET", "new-big\(i % 20)", large)
            session.run("HSET", "h\(i % 50)", "f\(i)", "changed")
            session.run("SREM", "set\(i % 30)", "\(i)")
            session.run("SET", "n\(i)", "new")
        }
        session.run("FLUSHDB")
        let restored = try Self.restore(capture, clock: clock)
        #expect(SnapshotFixture.dump(restored) == before)
        #expect(SnapshotFixture.dump(engine) != before)
    }

    /// Commands keep changing the keyspace on other threads while the snapshot side copies, serializes and recycles
    /// its shard buffers the way the snapshotter does: the result is exactly the state at the capture point, taken
    /// with every shard locked. `copyFirst`: every shard copied before any is serialized.
    @Test(arguments: [false, true]) func concurrentWritesDuringACaptureDoNotReachIt(copyFirst: Bool) throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        let large = String(repeating: "y", count: 6_000)
        for i in 0..<4_000 {
            session.run("SET", "k\(i)", "v\(i)")
            if i % 50 == 0 { session.run("SET", "big\(i)", large) }
            if i % 100 == 0 { session.run("HSET", "h\(i % 700)", "f\(i)", "\(i)") }
        }
        let base = engine.changeCount()
        let stop = StopFlag()
        // Plain threads, not tasks: they must run whatever the cooperative pool is doing.
        let writers = (0..<2).map { writer in
            WriterThread { [engine, large] in
                var session = EngineSession(engine: engine)
                var n = 0
                while !stop.flag.load(ordering: .relaxed) && n < 300_000 {
                    let i = (n &* 7919 &+ writer) % 5_000
                    switch n % 5 {
                    case 0: session.run("SET", "k\(i)", "w\(writer)-\(n)")
                    case 1: session.run("DEL", "k\(i)")
                    case 2: session.run("SET", "big\(i % 4_000 / 50 * 50)", "\(large)\(n)")
                    case 3: session.run("HSET", "h\(i % 700)", "f\(n)", "w")
                    default: session.run("APPEND", "n\(i)", "x")
                    }
                    n += 1
                }
                return n
            }
        }
        // Let the writers get going, so that the capture point falls in the middle of their stream.
        while engine.changeCount() < base + 2_000 { usleep(1000) }
        var expected: [String: String] = [:]
        let capture = engine.beginCapture {
            expected = SnapshotFixture.dump(engine)
            return 9
        }
        let restored = Engine(clock: clock)
        var records: [UInt8] = []
        var keys = 0
        var end: UInt64? = nil
        var out: [UInt8] = []
        var taken: [KeyspaceCapture.CapturedShard] = []
        func serializeTaken() {
            for shard in taken {
                // Small flushes, so that a shard's records are handed over in several pieces.
                capture.serialize(shard, into: &out, flushBytes: 4096) { records += $0 }
                capture.recycle(shard)
            }
            taken.removeAll()
        }
        for index in 0..<Engine.shardCount {
            if index == Engine.shardCount / 2 {
                // Half-way, make sure the writers changed something meanwhile (bounded wait).
                let mark = engine.changeCount()
                var waited = 0
                while engine.changeCount() == mark && waited < 5_000 {
                    usleep(1000)
                    waited += 1
                }
            }
            guard let shard = capture.take(index) else { continue }
            taken.append(shard)
            if !copyFirst { serializeTaken() }
        }
        serializeTaken()
        #expect(capture.slices >= Engine.shardCount)
        records += out
        capture.releaseBuffers()
        let changesDuringCapture = engine.changeCount() - capture.changesAtCapture
        stop.flag.store(true, ordering: .relaxed)
        var commands = 0
        for writer in writers { commands += writer.join() }
        records += SnapshotRecord.endMarker(count: UInt64(capture.keyCount))
        let consumed = try records.withUnsafeBytes { try restored.loadSnapshotRecords($0, keysLoaded: &keys, endCount: &end) }
        restored.isLoading = false
        #expect(consumed == records.count)
        #expect(keys == capture.keyCount)
        #expect(capture.keysCaptured == capture.keyCount)
        #expect(commands > 2_000)
        #expect(changesDuringCapture > 0)
        #expect(SnapshotFixture.dump(restored) == expected)
        #expect(SnapshotFixture.dump(engine) != expected)
    }

    /// An abandoned capture releases the shard copies already taken, and a later capture is complete.
    @Test func cancelledCaptureThenACompleteOne() throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        for i in 0..<300 { session.run("SET", "k\(i)", "\(i)") }
        let first = engine.beginCapture { 1 }
        for i in 0..<300 { session.run("SET", "k\(i)", "after") }
        first.cancel()
        #expect(first.takeShard(0).isEmpty)
        let expected = SnapshotFixture.dump(engine)
        let second = engine.beginCapture { 2 }
        let restored = try Self.restore(second, clock: clock)
        #expect(SnapshotFixture.dump(restored) == expected)
    }
}
