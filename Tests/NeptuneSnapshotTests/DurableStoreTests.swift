import Dispatch
import NeptuneCache
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// The embedded face opened durably: recovery at open, writes acknowledged per `appendfsync`, clean close.
@Suite struct DurableStoreTests {
    static let directory = "/data"

    static func open(_ fileSystem: FaultyFileSystem, _ policy: Journal.FsyncPolicy = .always) throws -> NeptuneStore {
        try NeptuneStore.open(
            directory: directory,
            options: .init(appendfsync: policy, fileSystem: fileSystem),
            clock: ManualClock()
        )
    }

    @Test(arguments: [Journal.FsyncPolicy.always, .everysec, .no])
    func closeAndReopenKeepsEverything(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let store = try Self.open(fileSystem, policy)
        try store.set("a", "1")
        try store.set("b", "2", ttl: .seconds(100))
        #expect(try store.increment("n", by: 5) == 5)
        #expect(try store.delete("b") == 1)
        store.close()
        // After close, writes are refused and reads keep working.
        #expect(throws: CommandError.self) { try store.set("c", "3") }
        #expect(try store.get("a") == Array("1".utf8))
        // Power loss right after close loses nothing: close made everything durable.
        let reopened = try Self.open(FaultyFileSystem(files: fileSystem.crash()), policy)
        #expect(try reopened.get("a") == Array("1".utf8))
        #expect(try reopened.get("b") == nil)
        #expect(try reopened.get("n") == Array("5".utf8))
        reopened.close()
    }

    /// Threads write through the typed API until the disk dies at every possible point; after power loss, the
    /// reopened store has every write that returned, and no key that was never written.
    @Test func everyAcknowledgedWriteSurvivesACrash() throws {
        var acknowledgedTotal = 0
        for crashPoint in stride(from: 2, through: 80, by: 3) {
            let fileSystem = FaultyFileSystem()
            fileSystem.failAfter(operations: crashPoint)
            let acknowledged = Mutex<[String: Int64]>([:])
            let issued = Mutex<Set<String>>([])
            if let store = try? Self.open(fileSystem) {
                DispatchQueue.concurrentPerform(iterations: 4) { thread in
                    for i in 0..<30 {
                        let key = "t\(thread)-\(i)"
                        issued.withLock { _ = $0.insert(key) }
                        do {
                            try store.set(key, "\(i)")
                            acknowledged.withLock { $0[key] = Int64(i) }
                            let count = try store.increment("count-\(thread)")
                            acknowledged.withLock { $0["count-\(thread)"] = count }
                        } catch {
                            #expect("\(error)".hasPrefix("MISCONF Errors writing to the AOF file"))
                            return
                        }
                    }
                }
                store.close()
            }
            let image = fileSystem.crash { _, unsynced in crashPoint % 2 == 0 ? unsynced / 2 : 0 }
            let reopened = try Self.open(FaultyFileSystem(files: image))
            let written = acknowledged.withLock { $0 }
            acknowledgedTotal += written.count
            for (key, value) in written {
                let stored = try reopened.get(key).flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
                if key.hasPrefix("count-") {
                    // An increment journaled but not acknowledged may be there too.
                    #expect((stored ?? 0) >= value, "crash point \(crashPoint): \(key)")
                } else {
                    #expect(stored == value, "crash point \(crashPoint): \(key)")
                }
            }
            let names = issued.withLock { $0 }
            for key in try reopened.keys() {
                let name = String(decoding: key, as: UTF8.self)
                #expect(names.contains(name) || name.hasPrefix("count-"), "\(name) was never written")
            }
            reopened.close()
        }
        #expect(acknowledgedTotal > 200)
    }

    /// A snapshot, then more writes, then power loss: the reopened store has both (snapshot + journal after it),
    /// and the snapshot deleted the journal segments it covers.
    @Test func snapshotPlusJournalAfterItSurviveACrash() throws {
        let fileSystem = FaultyFileSystem()
        let store = try Self.open(fileSystem)
        for i in 0..<50 { try store.set("before-\(i)", "\(i)") }
        try store.saveSnapshot()
        for i in 0..<20 { try store.set("after-\(i)", "\(i)") }
        #expect(try store.delete("before-0") == 1)
        let image = fileSystem.crash()  // no close: power loss
        #expect(image["\(Self.directory)/dump.nsnap"] != nil)
        #expect(image["\(Self.directory)/appendonlydir/journal.00000001"] == nil)
        let reopened = try Self.open(FaultyFileSystem(files: image))
        #expect(reopened.count() == 69)
        #expect(try reopened.get("before-49") == Array("49".utf8))
        #expect(try reopened.get("after-19") == Array("19".utf8))
        #expect(try reopened.get("before-0") == nil)
        reopened.close()
    }

    /// `appendonly no`: only snapshots keep data, as with Redis's RDB alone; close takes one.
    @Test func snapshotsAloneWithoutAJournal() throws {
        let fileSystem = FaultyFileSystem()
        let options = NeptuneStore.DurabilityOptions(appendonly: false, fileSystem: fileSystem)
        let store = try NeptuneStore.open(directory: Self.directory, options: options, clock: ManualClock())
        try store.set("a", "1")
        try store.saveSnapshot()
        try store.set("b", "2")
        // Power loss before close: only the snapshot's data is there.
        let crashed = try NeptuneStore.open(
            directory: Self.directory,
            options: .init(appendonly: false, fileSystem: FaultyFileSystem(files: fileSystem.crash())),
            clock: ManualClock()
        )
        #expect(try crashed.get("a") == Array("1".utf8))
        #expect(try crashed.get("b") == nil)
        crashed.close()
        // A clean close saves: everything is there.
        store.close()
        let reopened = try NeptuneStore.open(
            directory: Self.directory,
            options: .init(appendonly: false, fileSystem: FaultyFileSystem(files: fileSystem.crash())),
            clock: ManualClock()
        )
        #expect(try reopened.get("b") == Array("2".utf8))
        reopened.close()
        #expect(throws: CommandError.self) { try NeptuneStore().saveSnapshot() }
    }

    @Test func damagedJournalIsNotOpened() throws {
        var bytes = JournalFormatTests.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "2"])])
        bytes[12] ^= 0x01
        let path = "\(Self.directory)/appendonlydir/journal.00000001"
        let fileSystem = FaultyFileSystem(files: [path: bytes])
        let failure = #expect(throws: JournalRecovery.Failure.self) { try Self.open(fileSystem) }
        #expect(failure?.description.contains("\(path) is corrupt at offset 8") == true)
        #expect(fileSystem.contents(path) == bytes)
    }
}
