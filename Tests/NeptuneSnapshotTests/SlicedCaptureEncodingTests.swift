#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NeptuneCache
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// A background save's serialization and compression run in the helpers' steps (neptune-server's event loops, in
/// their idle time), resumable record by record, while the writing thread only writes; records too large for a
/// loop's step, and helpers that stall, are left to the writing thread. The file is still exactly the keyspace at
/// the capture point.
@Suite struct SlicedCaptureEncodingTests {
    /// Serializing a copied shard in steps of one record each (and with a tiny time budget) gives the same bytes as
    /// serializing it at once, the entries commands took before changing them included, and each step appends at
    /// least one record.
    @Test func steppedSerializationEqualsSerializationAtOnce() {
        let engine = SnapshotFixture.populatedEngine()
        var session = EngineSession(engine: engine)
        let capture = engine.beginCapture { 1 }
        // Changed after the capture point: their old entries go to the shards' side buffers.
        for i in 0..<200 { session.run("SET", "key:\(i)", "changed") }
        session.run("HSET", "big-hash", "field0", "changed")
        var stepped = 0
        var records = 0
        for index in 0..<Engine.shardCount {
            guard let shard = capture.take(index) else { continue }
            var whole: [UInt8] = []
            let before = capture.keysCaptured
            capture.serialize(shard, into: &whole, flushBytes: .max) { _ in }
            records += capture.keysCaptured - before
            var steps: [UInt8] = []
            var cursor = KeyspaceCapture.SerializationCursor()
            var calls = 0
            while capture.serialize(shard, from: &cursor, into: &steps, limitBytes: 1, budgetNanoseconds: 0)
                != .complete
            {
                calls += 1
                #expect(calls < 1_000_000)
                if calls >= 1_000_000 { break }
            }
            #expect(steps == whole, "shard \(index)")
            stepped += calls + 1
            capture.recycle(shard)
        }
        // One record per call (the last call appends the shard's last record, or none for an empty part).
        #expect(stepped >= records)
        #expect(records == capture.keyCount)
    }

    /// A step with a limit for one record stops before a larger record (the 3 MB string, the 600-field hash) and
    /// goes on from it once allowed.
    @Test func aStepStopsBeforeALargeRecord() throws {
        let engine = SnapshotFixture.populatedEngine()
        let capture = engine.beginCapture { 1 }
        var large = 0
        var out: [UInt8] = []
        for index in 0..<Engine.shardCount {
            guard let shard = capture.take(index) else { continue }
            var cursor = KeyspaceCapture.SerializationCursor()
            while true {
                let before = out.count
                let stop = capture.serialize(
                    shard, from: &cursor, into: &out, limitBytes: 1 << 20, budgetNanoseconds: 1_000_000_000,
                    largeRecordBytes: 4096
                )
                if stop == .complete { break }
                if stop == .largeRecord {
                    large += 1
                    // Allowed: the large record goes out first.
                    let next = capture.serialize(
                        shard, from: &cursor, into: &out, limitBytes: 1, budgetNanoseconds: 1_000_000_000
                    )
                    #expect(out.count - before > 4096)
                    if next == .complete { break }
                }
            }
            capture.recycle(shard)
        }
        #expect(large == 2)
        #expect(capture.keysCaptured == capture.keyCount)
        let restored = try SlicedCaptureTests.load(out, count: capture.keyCount, clock: ManualClock())
        #expect(SnapshotFixture.dump(restored) == SnapshotFixture.dump(engine))
    }

    /// A thread acting as an event loop calls the capture steps while a BGSAVE runs: it copies, serializes and
    /// compresses (the writing thread steps only for the two large records), and the file loads back as the
    /// keyspace at the capture point. Bounded: 20 seconds.
    @Test func aHelperEncodesABackgroundSave() throws {
        let fileSystem = FaultyFileSystem()
        let engine = SnapshotFixture.populatedEngine()
        var session = EngineSession(engine: engine)
        for i in 0..<3000 { session.run("SET", "more:\(i)", "value-\(i)") }
        let expected = SnapshotFixture.dump(engine)
        let helper = engine.addCaptureHelper {}
        let stop = StopFlag()
        let loop = Self.helperLoop(engine, stop: stop)
        let snapshotter = SnapshotFixture.snapshotter(engine, fileSystem)
        // No stall fallback while the helper runs (it gives up after 20 s): however long the scheduler leaves it
        // waiting, the writing thread steps only for the large records, so the counts below do not depend on the
        // machine's load.
        snapshotter.encoderStallNanoseconds = 25_000_000_000
        try snapshotter.saveInBackground()
        snapshotter.waitUntilIdle()
        stop.flag.store(true, ordering: .relaxed)
        let steps = loop.join()
        engine.removeCaptureHelper(helper)
        let status = snapshotter.status
        #expect(status.lastSaveSucceeded)
        #expect(steps > 0)
        #expect(status.lastEncodeStepsByHelpers > 0)
        // The 3 MB string and the 600-field hash are serialized by the writing thread, not in a loop's step.
        #expect(status.lastEncodeStepsByThread >= 1)
        #expect(status.lastEncodeStepsByThread < status.lastEncodeStepsByHelpers)
        let loaded = Engine(clock: ManualClock())
        let report = try SnapshotReader.load(path: "/data/dump.nsnap", fileSystem: fileSystem, engine: loaded)
        #expect(report.keysLoaded == expected.count)
        #expect(SnapshotFixture.dump(loaded) == expected)
        #expect(fileSystem.contents("/data/dump.nsnap.tmp") == nil)
    }

    /// A registered helper that never steps (a loop stuck in a long command): the saving thread copies and the
    /// writing thread serializes and compresses once the helpers made no progress for a while; the file is complete.
    @Test func aStalledHelperLeavesTheEncodingToTheWritingThread() throws {
        let fileSystem = FaultyFileSystem()
        let engine = SnapshotFixture.populatedEngine()
        let expected = SnapshotFixture.dump(engine)
        let helper = engine.addCaptureHelper {}
        let snapshotter = SnapshotFixture.snapshotter(engine, fileSystem)
        try snapshotter.saveInBackground()
        snapshotter.waitUntilIdle()
        engine.removeCaptureHelper(helper)
        let status = snapshotter.status
        #expect(status.lastSaveSucceeded)
        #expect(status.lastEncodeStepsByHelpers == 0)
        #expect(status.lastEncodeStepsByThread > 0)
        let loaded = Engine(clock: ManualClock())
        _ = try SnapshotReader.load(path: "/data/dump.nsnap", fileSystem: fileSystem, engine: loaded)
        #expect(SnapshotFixture.dump(loaded) == expected)
    }

    /// A write that fails while the helpers encode fails the save (no file installed, the temporary removed) and
    /// leaves the keyspace ready for the next save, which (on a healthy disk) succeeds with every key.
    @Test func aFailedWriteDuringAnEncodedSaveFailsItCleanly() throws {
        let fileSystem = FaultyFileSystem()
        let engine = SnapshotFixture.populatedEngine()
        let expected = SnapshotFixture.dump(engine)
        let helper = engine.addCaptureHelper {}
        let stop = StopFlag()
        let loop = Self.helperLoop(engine, stop: stop)
        let snapshotter = SnapshotFixture.snapshotter(engine, fileSystem)
        // The metadata and the frame header are written; the first compressed bytes fail.
        fileSystem.failAfter(operations: 3)
        try snapshotter.saveInBackground()
        snapshotter.waitUntilIdle()
        #expect(!snapshotter.status.lastSaveSucceeded)
        #expect(fileSystem.contents("/data/dump.nsnap") == nil)
        #expect(fileSystem.contents("/data/dump.nsnap.tmp") == nil)
        // The disk stays dead: the next save goes to a healthy one.
        let healthy = FaultyFileSystem()
        let next = SnapshotFixture.snapshotter(engine, healthy)
        try next.saveInBackground()
        next.waitUntilIdle()
        stop.flag.store(true, ordering: .relaxed)
        _ = loop.join()
        engine.removeCaptureHelper(helper)
        #expect(next.status.lastSaveSucceeded)
        #expect(next.status.lastEncodeStepsByHelpers > 0)
        let loaded = Engine(clock: ManualClock())
        _ = try SnapshotReader.load(path: "/data/dump.nsnap", fileSystem: healthy, engine: loaded)
        #expect(SnapshotFixture.dump(loaded) == expected)
    }

    /// A thread that acts as an idle event loop: it makes the capture steps, waiting as long as they ask (at most
    /// 1 ms, polling while there is nothing to do), until `stop` or 20 seconds; returns the steps that did work.
    static func helperLoop(_ engine: Engine, stop: StopFlag) -> WriterThread {
        WriterThread { [engine] in
            let deadline = ContinuousClock.now + .seconds(20)
            var steps = 0
            while !stop.flag.load(ordering: .relaxed) && ContinuousClock.now < deadline {
                let wait = engine.captureStep(idle: true)
                if wait >= 0 { steps += 1 }
                usleep(UInt32(wait < 0 ? 200 : min(wait / 1000, 1000)))
            }
            return steps
        }
    }
}
