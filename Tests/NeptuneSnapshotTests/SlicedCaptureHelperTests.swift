import NeptuneCache
import NeptuneTestSupport
import Synchronization
import Testing

/// Helpers (neptune-server's event loops) copy a background capture's shards between their own work, through
/// `Engine.captureStep`, while the saving thread only waits and hands the copies on; the snapshot is still exactly
/// the keyspace at the capture point.
@Suite struct SlicedCaptureHelperTests {
    /// An engine with 600 keys of every kind, their expected dump, one registered helper that does nothing when
    /// woken, and a capture begun at `sequence`.
    struct Fixture {
        let clock: ManualClock
        let engine: Engine
        var session: EngineSession
        let expected: [String: String]
        let helper: Int
        let capture: KeyspaceCapture
    }

    static func captureWithHelper(sequence: UInt64) -> Fixture {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        SlicedCaptureTests.populate(&session, keys: 600)
        let expected = SnapshotFixture.dump(engine)
        let helper = engine.addCaptureHelper {}
        let capture = engine.beginCapture { sequence }
        return Fixture(clock: clock, engine: engine, session: session, expected: expected, helper: helper, capture: capture)
    }

    /// Without a capture wanting help, a helper's step does nothing.
    @Test func aStepWithoutCaptureDoesNothing() {
        let engine = Engine(clock: ManualClock())
        var session = EngineSession(engine: engine)
        session.run("SET", "a", "1")
        #expect(engine.captureStep() == -1)
        let helper = engine.addCaptureHelper {}
        // A capture that does not enable its helpers (SAVE) is not helped either.
        let capture = engine.beginCapture { 1 }
        #expect(engine.captureStep() == -1)
        #expect(capture.takeShard(0).count >= 0)
        capture.cancel()
        engine.removeCaptureHelper(helper)
        // With no helper registered, a capture cannot be helped: its thread copies by itself.
        let next = engine.beginCapture { 2 }
        #expect(next.enableHelpers() == false)
        next.cancel()
    }

    /// One thread acts as an event loop: it runs commands (every kind of change, bursts that resize tables) and,
    /// between them, the capture steps; the saving thread takes the shards with `assisted`. The helper copies
    /// (the saving thread copies only if the helper stalls), it is woken when shards are released, and the
    /// snapshot equals the keyspace at the capture point. Bounded: 4 rounds, 20 seconds.
    @Test func aHelperCopiesBetweenItsCommands() throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        let keys = 3_000
        SlicedCaptureTests.populate(&session, keys: keys)
        let wakes = Atomic<Int>(0)
        let helper = engine.addCaptureHelper { wakes.add(1, ordering: .relaxed) }
        let stop = StopFlag()
        let loop = WriterThread { [engine] in
            var session = EngineSession(engine: engine)
            var step = 0
            var steps = 0
            while !stop.flag.load(ordering: .relaxed) && step < 5_000_000 {
                // A clock of its own: the engine's time does not move, so no key expires under the check.
                SlicedCaptureTests.change(&session, step: step, keys: keys, clock: ManualClock())
                step += 1
                if engine.captureStep(budgetNanoseconds: 1) >= 0 { steps += 1 }
            }
            return steps
        }
        let deadline = ContinuousClock.now + .seconds(20)
        var rounds = 0
        var helperSlices = 0
        while rounds < 4 && ContinuousClock.now < deadline {
            var expected: [String: String] = [:]
            let capture = engine.beginCapture {
                expected = SnapshotFixture.dump(engine)
                return UInt64(rounds)
            }
            capture.slotsPerSlice = rounds % 2 == 0 ? 16 : 512
            #expect(capture.enableHelpers())
            var records: [UInt8] = []
            for index in 0..<Engine.shardCount {
                guard let shard = capture.take(index, assisted: true) else { continue }
                capture.serialize(shard, into: &records, flushBytes: .max) { _ in }
                capture.recycle(shard)
            }
            capture.disableHelpers()
            #expect(capture.keysCaptured == capture.keyCount)
            #expect(capture.slices == capture.slicesByHelpers + capture.slicesByFallback)
            helperSlices += capture.slicesByHelpers
            let restored = try SlicedCaptureTests.load(records, count: capture.keyCount, clock: clock)
            #expect(SnapshotFixture.dump(restored) == expected, "round \(rounds)")
            rounds += 1
        }
        stop.flag.store(true, ordering: .relaxed)
        let steps = loop.join()
        engine.removeCaptureHelper(helper)
        #expect(rounds >= 2)
        #expect(helperSlices > 0)
        #expect(steps > 0)
        #expect(wakes.load(ordering: .relaxed) >= rounds * Engine.shardCount)
        #expect(engine.captureStep() == -1)
    }

    /// The helpers' pacing: a helper copies when idle and is then told to wait (sleep for its I/O) rather than to
    /// step again at once; a helper that is serving requests does not copy until no step was made for the floor,
    /// then it copies regardless (a saturated loop still finishes). The snapshot is complete and exact.
    @Test func aHelperCopiesWhenIdleAndPausesBetweenSteps() throws {
        let fixture = Self.captureWithHelper(sequence: 3)
        let (clock, engine, expected, helper, capture) =
            (fixture.clock, fixture.engine, fixture.expected, fixture.helper, fixture.capture)
        capture.slotsPerSlice = 4
        // No floor while the checks below run: a busy helper never copies.
        capture.helperFloorNanoseconds = .max
        #expect(capture.enableHelpers())
        var checked = false
        var busyWaits: [Int64] = []
        var idleWaits: [Int64] = []
        var slicesWhenBusy = -1
        var records: [UInt8] = []
        for index in 0..<Engine.shardCount {
            let shard = capture.take(index, assisted: true) {
                if !checked {
                    checked = true
                    let before = capture.slicesByHelpers
                    idleWaits.append(engine.captureStep(idle: true, budgetNanoseconds: 1))
                    #expect(capture.slicesByHelpers == before + 1)
                    for _ in 0..<5 { busyWaits.append(engine.captureStep(idle: false, budgetNanoseconds: 1)) }
                    slicesWhenBusy = capture.slicesByHelpers - before - 1
                    // The floor reached: a busy helper copies too.
                    capture.helperFloorNanoseconds = 0
                    _ = engine.captureStep(idle: false, budgetNanoseconds: 1)
                    #expect(capture.slicesByHelpers == before + 2)
                }
                for _ in 0..<50 { _ = engine.captureStep(idle: true, budgetNanoseconds: 1) }
            }
            guard let shard else { continue }
            capture.serialize(shard, into: &records, flushBytes: .max) { _ in }
            capture.recycle(shard)
        }
        capture.disableHelpers()
        engine.removeCaptureHelper(helper)
        #expect(checked)
        #expect(slicesWhenBusy == 0)
        // After a step the helper pauses (at least the minimum wait), never polls at once; busy, it waits too.
        #expect(idleWaits.allSatisfy { $0 >= 20_000 }, "\(idleWaits)")
        #expect(busyWaits.allSatisfy { $0 > 0 }, "\(busyWaits)")
        #expect(capture.slicesByHelpers > 0)
        #expect(capture.keysCaptured == capture.keyCount)
        #expect(SnapshotFixture.dump(try SlicedCaptureTests.load(records, count: capture.keyCount, clock: clock)) == expected)
    }

    /// A helper that never steps (an event loop stuck in a long command, or gone): the saving thread copies by
    /// itself once no helper made progress for a while, and the snapshot is complete and exact.
    @Test func aStalledHelperLeavesTheCopyToTheSavingThread() throws {
        var fixture = Self.captureWithHelper(sequence: 7)
        let (clock, engine, expected, helper, capture) =
            (fixture.clock, fixture.engine, fixture.expected, fixture.helper, fixture.capture)
        #expect(capture.enableHelpers())
        var records: [UInt8] = []
        var step = 0
        for index in 0..<Engine.shardCount {
            let shard = capture.take(index, assisted: true) {
                if step % 3 == 0 { SlicedCaptureTests.change(&fixture.session, step: step, keys: 600, clock: clock) }
                step += 1
            }
            guard let shard else { continue }
            capture.serialize(shard, into: &records, flushBytes: .max) { _ in }
            capture.recycle(shard)
        }
        capture.disableHelpers()
        engine.removeCaptureHelper(helper)
        #expect(capture.slicesByHelpers == 0)
        #expect(capture.slicesByFallback > 0)
        #expect(capture.keysCaptured == capture.keyCount)
        #expect(SnapshotFixture.dump(try SlicedCaptureTests.load(records, count: capture.keyCount, clock: clock)) == expected)
    }

    /// Cancelling an assisted capture mid-copy: helpers stop copying, every entry still gets the capture's mark, and
    /// the next capture is complete.
    @Test func cancellingAnAssistedCaptureLeavesTheNextOneComplete() throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        SlicedCaptureTests.populate(&session, keys: 600)
        let helper = engine.addCaptureHelper {}
        let capture = engine.beginCapture { 1 }
        capture.slotsPerSlice = 8
        #expect(capture.enableHelpers())
        // Releases shards 0-2 to the helpers; the helper copies part of them.
        let first = capture.take(0, assisted: true) { _ = engine.captureStep(budgetNanoseconds: 1) }
        #expect(first != nil)
        #expect(engine.captureStep(budgetNanoseconds: 1) > 0)
        capture.cancel()
        #expect(engine.captureStep() == -1)
        capture.disableHelpers()
        let now = SnapshotFixture.dump(engine)
        let next = engine.beginCapture { 2 }
        var records: [UInt8] = []
        for index in 0..<Engine.shardCount { records += next.takeShard(index) }
        engine.removeCaptureHelper(helper)
        #expect(SnapshotFixture.dump(try SlicedCaptureTests.load(records, count: next.keyCount, clock: clock)) == now)
    }
}
