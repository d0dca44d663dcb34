import NIOCore
import NeptuneCache
import NeptuneTestSupport
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
