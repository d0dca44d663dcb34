import Dispatch
import Foundation
import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// Snapshots taken while writers run, and crashes at every step of installing one.
@Suite struct SnapshotDurabilityTests {
    static let journalDirectory = SnapshotFixture.journalDirectory

    /// An engine journaling to `fileSystem` (after recovering what it holds), with a snapshotter attached.
    static func open(
        _ fileSystem: FaultyFileSystem,
        policy: Journal.FsyncPolicy,
        clock: ManualClock = ManualClock()
    ) throws -> (Engine, Journal, Snapshotter) {
        let engine = Engine(clock: clock)
        let snapshotter = SnapshotFixture.snapshotter(engine, fileSystem)
        let journal = try #require(try snapshotter.start(appendonly: true, appendfsync: policy).journal)
        return (engine, journal, snapshotter)
    }

    /// Waits until `sequence` is durable; false if the journal failed first.
    static func waitDurable(_ journal: Journal, _ sequence: UInt64) -> Bool {
        let done = DispatchSemaphore(value: 0)
        let durable = Atomic<Bool>(false)
        journal.whenDurable(sequence) { ok in
            durable.store(ok, ordering: .relaxed)
            done.signal()
        }
        done.wait()
        return durable.load(ordering: .relaxed)
    }

    /// Writers change keys while two snapshots are taken; afterwards the last snapshot plus the journal records
    /// after its sequence number rebuild exactly the live state.
    @Test func snapshotDuringConcurrentWritesPlusJournalEqualsLiveState() throws {
        let fileSystem = FaultyFileSystem()
        let clock = ManualClock()
        let (engine, journal, snapshotter) = try Self.open(fileSystem, policy: .no, clock: clock)
        var setup = EngineSession(engine: engine)
        for i in 0..<5000 { setup.run("SET", "k\(i)", "\(i)") }
        let writersDone = Atomic<Int>(0)
        let operations = Atomic<Int>(0)
        let snapshotsDone = Atomic<Bool>(false)
        let sequences = Mutex<[UInt64]>([])
        // Real threads: concurrentPerform may run fewer iterations at once than there are workers.
        let work: @Sendable (Int) -> Void = { worker in
            if worker == 4 {
                // The snapshot thread: two snapshots while the others write.
                defer { snapshotsDone.store(true, ordering: .relaxed) }
                while operations.load(ordering: .relaxed) < 2000 { usleep(100) }
                for _ in 0..<2 {
                    try? snapshotter.save()
                    let status = snapshotter.status
                    #expect(status.lastSaveSucceeded)
                }
                return
            }
            var session = EngineSession(engine: engine)
            var random = SystemRandomNumberGenerator()
            var n = 0
            while n < 3000 || !snapshotsDone.load(ordering: .relaxed) {
                n += 1
                operations.add(1, ordering: .relaxed)
                let key = "k\(Int.random(in: 0..<6000, using: &random))"
                switch n % 5 {
                case 0: session.run("SET", key, "w\(worker)-\(n)")
                case 1: session.run("INCR", key)
                case 2: session.run("DEL", key)
                case 3: session.run("HSET", "h\(key)", "f\(n % 7)", "\(n)")
                default:
                    session.run("PEXPIRE", key, "100000000")
                    session.run("SADD", "s\(key)", "\(n % 11)")
                }
            }
            sequences.withLock { $0.append(session.context.journalSequence) }
            writersDone.add(1, ordering: .relaxed)
        }
        for worker in 0..<5 {
            Thread.detachNewThread { work(worker) }
        }
        while writersDone.load(ordering: .relaxed) < 4 || !snapshotsDone.load(ordering: .relaxed) { usleep(1000) }
        #expect(writersDone.load(ordering: .relaxed) == 4)
        journal.close()
        let live = SnapshotFixture.dump(engine)

        // The snapshot fell in the middle of the writes: it does not hold everything, the journal after it does.
        let snapshot = try #require(fileSystem.contents("/data/dump.nsnap"))
        let (metadata, _) = try SnapshotReader.readMetadata(snapshot, path: "dump")
        #expect(metadata.sequence > 5000)
        #expect(metadata.sequence < sequences.withLock { $0.max() ?? 0 })
        // Segments whose records are all covered by the snapshot are gone.
        let segments = try JournalRecovery.segments(in: Self.journalDirectory, fileSystem: fileSystem)
        #expect(segments.count == 1)

        let restored = Engine(clock: clock)
        let report = try SnapshotFixture.snapshotter(restored, fileSystem).recover(journal: true)
        restored.isLoading = false
        #expect(report.snapshot?.metadata.sequence == metadata.sequence)
        #expect(report.journal!.records > 0)
        #expect(SnapshotFixture.dump(restored) == live)
    }

    /// Runs writes, a first snapshot, more writes, then a second snapshot with the disk dying after `failAfter`
    /// file operations, and a few more writes. Returns the values of acknowledged writes and the crash image.
    static func crashDuringSave(failAfter: Int?, torn: Bool) throws -> (acknowledged: [String: String], image: [String: [UInt8]], operations: Int) {
        let fileSystem = FaultyFileSystem()
        let (engine, journal, snapshotter) = try Self.open(fileSystem, policy: .always)
        var session = EngineSession(engine: engine)
        var acknowledged: [String: String] = [:]
        func write(_ key: String, _ value: String) {
            session.context.journalSequence = 0
            guard session.raw("SET", key, value) == "+OK\r\n", session.context.journalSequence > 0 else { return }
            if waitDurable(journal, session.context.journalSequence) { acknowledged[key] = value }
        }
        for i in 0..<40 { write("a\(i)", "first-\(i)") }
        try snapshotter.save()
        for i in 0..<40 { write("b\(i)", "second-\(i)") }
        for i in 0..<10 { write("a\(i)", "changed-\(i)") }
        let before = fileSystem.operationCount
        if let failAfter { fileSystem.failAfter(operations: failAfter) }
        try? snapshotter.save()
        let operations = fileSystem.operationCount - before
        for i in 0..<10 { write("c\(i)", "third-\(i)") }
        journal.close()
        let image = fileSystem.crash { path, unsynced in torn ? unsynced / 2 : 0 }
        return (acknowledged, image, operations)
    }

    /// Kill the disk at every step of a snapshot install (temp file writes, fsync, rename, directory fsync, segment
    /// deletion), lose power, restart: every acknowledged write is there.
    @Test(arguments: [false, true])
    func crashAtEveryStepOfASnapshotInstallKeepsAcknowledgedWrites(torn: Bool) throws {
        let clean = try Self.crashDuringSave(failAfter: nil, torn: torn)
        #expect(clean.operations > 5)
        #expect(clean.acknowledged.count == 90)
        var checked = 0
        for failAfter in 1...(clean.operations + 3) {
            let run = try Self.crashDuringSave(failAfter: failAfter, torn: torn)
            let restored = Engine(clock: ManualClock())
            let restarted = FaultyFileSystem(files: run.image)
            _ = try SnapshotFixture.snapshotter(restored, restarted).recover(journal: true)
            restored.isLoading = false
            var session = EngineSession(engine: restored)
            for (key, value) in run.acknowledged {
                #expect(session.run("GET", key) == .bulkString(Array(value.utf8)), "fail after \(failAfter): \(key)")
            }
            checked += run.acknowledged.count
        }
        #expect(checked > 90 * clean.operations / 2)
    }

    /// A snapshot without a journal (`appendonly no`) is the whole recovery; stale journal segments are ignored at
    /// start and deleted by the next snapshot.
    @Test func snapshotAloneWithoutJournal() throws {
        let fileSystem = FaultyFileSystem(files: ["\(Self.journalDirectory)/journal.00000001": JournalFormat.magic])
        let engine = SnapshotFixture.populatedEngine()
        let snapshotter = SnapshotFixture.snapshotter(engine, fileSystem)
        try snapshotter.save()
        #expect(try JournalRecovery.segments(in: Self.journalDirectory, fileSystem: fileSystem).isEmpty)
        let restored = Engine(clock: ManualClock())
        let report = try SnapshotFixture.snapshotter(restored, FaultyFileSystem(files: fileSystem.crash())).recover(journal: false)
        restored.isLoading = false
        #expect(report.snapshot?.keysLoaded == 2011)
        #expect(SnapshotFixture.dump(restored) == SnapshotFixture.dump(engine))
    }

    /// Keys that expired while the server was down are dropped after the load and counted.
    @Test func expiredKeysAreDroppedAfterLoading() throws {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        session.run("SET", "short", "1", "PX", "1000")
        session.run("SET", "long", "1", "EX", "1000")
        session.run("SET", "forever", "1")
        let fileSystem = FaultyFileSystem()
        try SnapshotFixture.snapshotter(engine, fileSystem).save()
        clock.advance(seconds: 10)
        let restored = Engine(clock: clock)
        let snapshotter = SnapshotFixture.snapshotter(restored, fileSystem)
        let report = try snapshotter.recover(journal: false)
        restored.isLoading = false
        #expect(report.keysExpired == 1)
        #expect(snapshotter.status.lastLoadKeysLoaded == 3)
        #expect(snapshotter.status.lastLoadKeysExpired == 1)
        #expect(restored.keyCount(db: 0) == 2)
    }

    /// A damaged snapshot stops recovery with the file and offset: never an empty or partial start.
    @Test func corruptSnapshotRefusesRecovery() throws {
        let fileSystem = FaultyFileSystem()
        try SnapshotFixture.snapshotter(SnapshotFixture.populatedEngine(), fileSystem).save()
        var bytes = try #require(fileSystem.contents("/data/dump.nsnap"))
        bytes[bytes.count / 2] ^= 0x10
        let damaged = FaultyFileSystem(files: ["/data/dump.nsnap": bytes])
        let engine = Engine(clock: ManualClock())
        do {
            _ = try SnapshotFixture.snapshotter(engine, damaged).recover(journal: true)
            Issue.record("recovery accepted a damaged snapshot")
        } catch {
            #expect(error.description.contains("snapshot file /data/dump.nsnap at offset"))
        }
        #expect(engine.isLoading)
    }

    /// Start-up (shared by the server and the embedded store): the snapshot and the journal after it are loaded,
    /// the journal is open and attached before `beforeServing` runs, and loading ends only after it.
    @Test func startRecoversAttachesTheJournalThenServes() throws {
        let fileSystem = FaultyFileSystem()
        let (engine, journal, snapshotter) = try Self.open(fileSystem, policy: .always)
        var session = EngineSession(engine: engine)
        session.run("SET", "a", "1")
        try snapshotter.save()
        session.run("SET", "b", "2")
        journal.close()

        let restored = Engine(clock: ManualClock())
        let restarted = SnapshotFixture.snapshotter(restored, FaultyFileSystem(files: fileSystem.crash()))
        var loadingWhenWired = false
        var journalWhenWired: Journal? = nil
        let start = try restarted.start(appendonly: true, appendfsync: .always) { journal in
            loadingWhenWired = restored.isLoading
            journalWhenWired = journal
        }
        #expect(loadingWhenWired)
        #expect(journalWhenWired != nil && journalWhenWired === start.journal)
        #expect(!restored.isLoading)
        #expect(start.report.snapshot?.keysLoaded == 1)
        #expect(start.report.journal?.records == 1)
        var check = EngineSession(engine: restored)
        #expect(check.run("MGET", "a", "b") == .array([.bulkString(Array("1".utf8)), .bulkString(Array("2".utf8))]))
        // New writes go to the journal that start opened.
        let sequence = start.journal!.durableSequence
        check.run("SET", "c", "3")
        #expect(Self.waitDurable(start.journal!, sequence + 1))
        start.journal!.close()
    }

    /// With `appendonly no` start loads the snapshot only and opens no journal; a damaged journal makes start
    /// throw and leaves the engine loading (never served partial), without calling `beforeServing`.
    @Test func startWithoutJournalAndWithADamagedOne() throws {
        let fileSystem = FaultyFileSystem()
        let (engine, journal, _) = try Self.open(fileSystem, policy: .always)
        var session = EngineSession(engine: engine)
        session.run("SET", "a", "1")
        session.run("SET", "b", "2")
        journal.close()
        let files = fileSystem.crash()

        let plain = Engine(clock: ManualClock())
        let withoutJournal = try SnapshotFixture.snapshotter(plain, FaultyFileSystem(files: files))
            .start(appendonly: false, appendfsync: .always)
        #expect(withoutJournal.journal == nil)
        #expect(!plain.isLoading)
        #expect(plain.keyCount(db: 0) == 0)

        var damaged = files
        let segment = try #require(damaged.keys.first { $0.hasPrefix(Self.journalDirectory + "/journal.") })
        damaged[segment]![JournalFormat.magic.count + JournalFormat.recordHeaderSize + 2] ^= 0x40
        let refused = Engine(clock: ManualClock())
        var wired = false
        do {
            _ = try SnapshotFixture.snapshotter(refused, FaultyFileSystem(files: damaged))
                .start(appendonly: true, appendfsync: .always) { _ in wired = true }
            Issue.record("start accepted a damaged journal")
        } catch {
            #expect(error.description.contains(segment))
        }
        #expect(!wired)
        #expect(refused.isLoading)
    }
}
