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

/// Under `everysec` and `no` a writer (an event loop, or an embedded store's caller) writes the pending records
/// itself instead of handing them to the journal thread; the embedded store's writes return only after their
/// record is written (under `always`, fsynced), as a server's reply waits.
@Suite struct JournalInlineWriteTests {
    static let directory = "/data"
    static let journalDirectory = "/data/appendonlydir"

    static func open(_ fileSystem: FaultyFileSystem, _ policy: Journal.FsyncPolicy) throws -> NeptuneStore {
        try NeptuneStore.open(
            directory: directory,
            options: .init(appendfsync: policy, save: [], fileSystem: fileSystem),
            clock: ManualClock()
        )
    }

    /// The records in the journal files as a reader (or a killed process's restart) sees them now.
    static func writtenRecords(_ fileSystem: FaultyFileSystem) throws -> [[String]] {
        var records: [[String]] = []
        for name in try fileSystem.listDirectory(journalDirectory) where name.hasPrefix("journal.") {
            let bytes = fileSystem.contents("\(journalDirectory)/\(name)") ?? []
            let scan = try JournalFormat.scan(bytes, path: name)
            records += scan.records.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } }
        }
        return records
    }

    /// A slow `write`: under `everysec` and `no` the embedded `set` returns only once its record is in the file
    /// (a crash of the process could not lose it), not when it is merely queued for the journal thread.
    @Test(arguments: [Journal.FsyncPolicy.everysec, .no])
    func embeddedWriteReturnsAfterItsRecordIsWritten(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let store = try Self.open(fileSystem, policy)
        defer { store.close() }
        fileSystem.setWriteLatency(microseconds: 100_000)
        let started = ContinuousClock.now
        try store.set("k", "v")
        #expect(ContinuousClock.now - started >= .milliseconds(90))
        #expect(try Self.writtenRecords(fileSystem).contains(["SET", "k", "v"]))
        #expect(try store.increment("n", by: 2) == 2)
        #expect(try Self.writtenRecords(fileSystem).contains(["INCRBY", "n", "2"]))
        #expect(store.execute(["DEL", "k"]) == .integer(1))
        #expect(try Self.writtenRecords(fileSystem).contains(["DEL", "k"]))
    }

    /// Under `always` the embedded write returns only after the fsync covering it: a power loss right after it
    /// returns keeps the write.
    @Test func embeddedWriteUnderAlwaysReturnsAfterTheFsync() throws {
        let fileSystem = FaultyFileSystem()
        let store = try Self.open(fileSystem, .always)
        defer { store.close() }
        fileSystem.setSyncLatency(microseconds: 100_000)
        let started = ContinuousClock.now
        try store.set("k", "v")
        #expect(ContinuousClock.now - started >= .milliseconds(90))
        let reopened = try Self.open(FaultyFileSystem(files: fileSystem.crash()), .always)
        #expect(try reopened.get("k") == Array("v".utf8))
        reopened.close()
    }

    /// A write that fails is not acknowledged: the call throws Redis's MISCONF error, later writes are refused
    /// with it too, reads keep working, and what was acknowledged before is in the file.
    @Test(arguments: [Journal.FsyncPolicy.always, .everysec, .no])
    func aFailedWriteIsNotAcknowledgedAndLaterWritesAreRefused(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let store = try Self.open(fileSystem, policy)
        defer { store.close() }
        try store.set("before", "1")
        fileSystem.failAfter(operations: 1)
        #expect {
            try store.set("k", "v")
        } throws: { error in
            "\(error)".hasPrefix("MISCONF Errors writing to the AOF file: ")
        }
        #expect {
            try store.set("later", "v")
        } throws: { error in
            "\(error)".hasPrefix("MISCONF Errors writing to the AOF file: ")
        }
        let refused = store.execute(["DEL", "before"])
        if case .error(let message) = refused {
            #expect(message.hasPrefix("MISCONF"))
        } else {
            Issue.record("DEL was acknowledged with a failed journal: \(refused)")
        }
        #expect(try store.get("before") == Array("1".utf8))
        #expect(try Self.writtenRecords(fileSystem).contains(["SET", "before", "1"]))
        #expect(try !Self.writtenRecords(fileSystem).contains(["SET", "later", "v"]))
    }

    /// Threads writing inline at once: every record reaches the file exactly once and in sequence order, and
    /// each thread's own writes are there when its calls return.
    @Test(arguments: [Journal.FsyncPolicy.everysec, .no])
    func concurrentInlineWritersKeepTheRecordsInOrder(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let path = "\(Self.journalDirectory)/journal.00000001"
        try fileSystem.createDirectory(Self.directory)
        try fileSystem.createDirectory(Self.journalDirectory)
        let journal = try Journal(
            path: path, fileSystem: fileSystem, policy: policy, nextSequence: 1, logger: JournalGroupCommitTests.logger
        )
        let threads = 6
        let perThread = 200
        let missing = Atomic<Int>(0)
        JournalGroupCommitTests.onThreads(threads) { thread in
            for i in 0..<perThread {
                let sequence = journal.append(
                    db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k\(thread)-\(i)")]
                )
                if i % 2 == 0 {
                    // The event loop's way: never wait for the file.
                    if journal.writeBuffered(upTo: sequence, wait: false) == nil {
                        _ = journal.waitUntilDurable(sequence)
                    }
                } else {
                    #expect(journal.waitUntilDurable(sequence))
                }
                if journal.durableSequence < sequence { missing.add(1, ordering: .relaxed) }
            }
        }
        #expect(missing.load(ordering: .relaxed) == 0)
        let scan = try JournalFormat.scan(fileSystem.contents(path) ?? [], path: path, expectedSequence: 1)
        #expect(scan.records.count == threads * perThread)
        #expect(scan.records.map(\.sequence) == (1...UInt64(threads * perThread)).map { $0 })
        journal.close()
    }

    /// Under `everysec` the journal thread still fsyncs records that callers wrote themselves, within about a
    /// second, even when it was asleep with nothing to do.
    @Test func inlineWritesAreFsyncedWithinASecondUnderEverysec() throws {
        let fileSystem = FaultyFileSystem()
        let path = "\(Self.journalDirectory)/journal.00000001"
        try fileSystem.createDirectory(Self.directory)
        try fileSystem.createDirectory(Self.journalDirectory)
        let journal = try Journal(
            path: path, fileSystem: fileSystem, policy: .everysec, nextSequence: 1,
            logger: JournalGroupCommitTests.logger
        )
        defer { journal.close() }
        // Let the writer fall asleep with nothing unsynced.
        Thread.sleep(forTimeInterval: 1.2)
        let sequence = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k")])
        #expect(journal.writeBuffered(upTo: sequence, wait: true) == true)
        var durable = false
        for _ in 0..<60 where !durable {
            Thread.sleep(forTimeInterval: 0.05)
            let image = fileSystem.crash()
            durable = (try? JournalFormat.scan(image[path] ?? [], path: path).records.count) == 1
        }
        #expect(durable)
    }

    /// Under `always` nothing is written inline: the caller must wait for the writer thread's fsync.
    @Test func alwaysNeverWritesInline() throws {
        let fileSystem = FaultyFileSystem()
        let path = "\(Self.journalDirectory)/journal.00000001"
        try fileSystem.createDirectory(Self.directory)
        try fileSystem.createDirectory(Self.journalDirectory)
        let journal = try Journal(
            path: path, fileSystem: fileSystem, policy: .always, nextSequence: 1, logger: JournalGroupCommitTests.logger
        )
        defer { journal.close() }
        fileSystem.setSyncLatency(microseconds: 200_000)
        let sequence = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k")])
        #expect(journal.writeBuffered(upTo: sequence, wait: true) == nil)
        #expect(journal.waitUntilDurable(sequence))
        #expect(try JournalFormat.scan(fileSystem.crash()[path] ?? [], path: path).records.count == 1)
    }
}
