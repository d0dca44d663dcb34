#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

@Suite struct JournalFormatTests {
    static func segment(_ records: [(UInt64, Int, [String])]) -> [UInt8] {
        var bytes = JournalFormat.magic
        for (sequence, db, arguments) in records {
            JournalFormat.encode(sequence: sequence, db: db, arguments: arguments.map { Array($0.utf8) }, into: &bytes)
        }
        return bytes
    }

    @Test func roundTrip() throws {
        let bytes = Self.segment([(1, 0, ["SET", "a", "1"]), (2, 3, ["DEL", "\r\n\0"])])
        let scan = try JournalFormat.scan(bytes, path: "j", expectedSequence: 1)
        #expect(scan.records.map(\.sequence) == [1, 2])
        #expect(scan.records[1].db == 3)
        #expect(scan.records[1].arguments == [Array("DEL".utf8), [13, 10, 0]])
        #expect(scan.tornBytes == 0)
        #expect(scan.validLength == bytes.count)
    }

    /// A crash can cut the last record anywhere: every cut is a torn tail, and the records before it survive.
    @Test func everyCutOfTheLastRecordIsATornTail() throws {
        let full = Self.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "22"])])
        let firstEnd = Self.segment([(1, 0, ["SET", "a", "1"])]).count
        for cut in firstEnd..<full.count {
            let scan = try JournalFormat.scan(Array(full.prefix(cut)), path: "j")
            #expect(scan.records.count == 1, "cut at \(cut)")
            #expect(scan.validLength == firstEnd)
            #expect(scan.tornBytes == cut - firstEnd)
        }
        // A last record whose bytes were written out of order (garbage, full length) is torn too.
        var garbled = full
        garbled[full.count - 1] ^= 0x55
        #expect(try JournalFormat.scan(garbled, path: "j").tornBytes == full.count - firstEnd)
    }

    /// A length field damaged in the middle of a segment points past its end like a torn write does, but valid
    /// records follow it: that is corruption naming the damaged record's offset, not a tail to cut.
    @Test func damagedLengthBeforeValidRecordsIsCorruptionNotATornTail() {
        let bytes = Self.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "2"]), (3, 0, ["SET", "c", "3"])])
        let second = Self.segment([(1, 0, ["SET", "a", "1"])]).count
        for expected: UInt64? in [nil, 1] {
            var damaged = bytes
            damaged[second + 2] = 0x7F  // the length now runs far past the end of the file
            #expect(throws: JournalFormat.Corruption.self) {
                try JournalFormat.scan(damaged, path: "dir/journal.00000001", expectedSequence: expected)
            }
            do {
                _ = try JournalFormat.scan(damaged, path: "dir/journal.00000001", expectedSequence: expected)
            } catch {
                #expect(error.offset == second)
                #expect(error.description.contains("dir/journal.00000001"))
                #expect(error.reason.contains("sequence 3"))
            }
            // The same damage to the last record, with nothing valid after it, is still a torn tail.
            let lastStart = Self.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "2"])]).count
            var tail = bytes
            tail[lastStart + 2] = 0x7F
            let scan = try? JournalFormat.scan(tail, path: "j", expectedSequence: expected)
            #expect(scan?.records.count == 2)
            #expect(scan?.tornBytes == bytes.count - lastStart)
        }
    }

    @Test func corruptionBeforeTheTailNamesFileAndOffset() {
        var bytes = Self.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "2"])])
        bytes[JournalFormat.magic.count + 20] ^= 0xFF
        #expect(throws: JournalFormat.Corruption(path: "dir/journal.00000001", offset: 8, reason: "record checksum mismatch")) {
            try JournalFormat.scan(bytes, path: "dir/journal.00000001")
        }
        var badMagic = bytes
        badMagic[0] = 0
        #expect(throws: JournalFormat.Corruption.self) { try JournalFormat.scan(badMagic, path: "x") }
        let gap = Self.segment([(1, 0, ["SET", "a", "1"]), (3, 0, ["SET", "b", "2"])])
        #expect(throws: JournalFormat.Corruption.self) { try JournalFormat.scan(gap, path: "x", expectedSequence: 1) }
    }
}

@Suite struct JournalDurabilityTests {
    static let directory = "/data/appendonlydir"
    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// Runs SETs through an engine journaling to `fileSystem` and returns the keys whose replies were released
    /// (acknowledged) under `appendfsync always`.
    static func writeAcknowledged(
        _ fileSystem: FaultyFileSystem,
        count: Int,
        clients: Int = 3
    ) -> (acknowledged: Set<String>, issued: Set<String>) {
        let engine = Engine(clock: ManualClock())
        let report = try? JournalRecovery.recover(directory: directory, fileSystem: fileSystem, engine: engine, logger: logger)
        guard let report,
            let journal = try? Journal(
                path: report.activeSegment,
                fileSystem: fileSystem,
                policy: .always,
                nextSequence: report.nextSequence,
                logger: logger
            )
        else { return ([], []) }
        engine.attachJournal(journal)
        let acknowledged = Mutex<Set<String>>([])
        let issued = Mutex<Set<String>>([])
        DispatchQueue.concurrentPerform(iterations: clients) { client in
            var session = EngineSession(engine: engine)
            for i in 0..<count {
                let key = "c\(client)-\(i)"
                issued.withLock { _ = $0.insert(key) }
                session.context.journalSequence = 0
                let reply = session.raw("SET", key, "value-\(key)")
                guard reply == "+OK\r\n", session.context.journalSequence > 0 else { break }
                let done = DispatchSemaphore(value: 0)
                let durable = Atomic<Bool>(false)
                journal.whenDurable(session.context.journalSequence) { ok in
                    durable.store(ok, ordering: .relaxed)
                    done.signal()
                }
                done.wait()
                guard durable.load(ordering: .relaxed) else { break }
                acknowledged.withLock { _ = $0.insert(key) }
            }
        }
        journal.close()
        return (acknowledged.withLock { $0 }, issued.withLock { $0 })
    }

    /// Kill the disk after every possible number of operations, lose power, restart: every acknowledged write is
    /// there, and nothing that was never issued is.
    @Test(arguments: [false, true])
    func everyCrashPointKeepsAcknowledgedWrites(tornTails: Bool) throws {
        var acknowledgedTotal = 0
        var recoveredTotal = 0
        defer {
            // The crash points cover runs where nothing, some, and all writes were acknowledged.
            #expect(acknowledgedTotal > 100)
            #expect(recoveredTotal >= acknowledgedTotal)
        }
        for crashPoint in 1...60 {
            let fileSystem = FaultyFileSystem()
            fileSystem.failAfter(operations: crashPoint)
            let (acknowledged, issued) = Self.writeAcknowledged(fileSystem, count: 15)
            acknowledgedTotal += acknowledged.count
            let image = fileSystem.crash { _, unsynced in tornTails ? (crashPoint * 7) % (unsynced + 1) : 0 }
            let restarted = FaultyFileSystem(files: image)
            let engine = Engine(clock: ManualClock())
            try JournalRecovery.recover(directory: Self.directory, fileSystem: restarted, engine: engine, logger: Self.logger)
            var session = EngineSession(engine: engine)
            for key in acknowledged {
                #expect(session.raw("GET", key) == "$\(key.utf8.count + 6)\r\nvalue-\(key)\r\n", "crash point \(crashPoint)")
            }
            let present = session.run("KEYS", "*").arrayValue ?? []
            recoveredTotal += present.count
            for key in present.compactMap({ $0.stringValue }) {
                #expect(issued.contains(key), "\(key) was never written (crash point \(crashPoint))")
            }
        }
    }

    #if os(Linux)
    /// The writer thread carries its own name, not the name of the thread that opened the journal (an event loop's
    /// in the server), so per-thread figures (`top -H`, `perf`, schedstat) tell them apart.
    @Test func writerThreadIsNamed() throws {
        let journal = try Journal(
            path: "named/journal.1", fileSystem: FaultyFileSystem(), policy: .everysec, nextSequence: 1,
            logger: Self.logger
        )
        defer { journal.close() }
        var names: [String] = []
        for _ in 0..<200 {
            names = Self.threadNames()
            if names.contains("neptune-journal") { break }
            usleep(5_000)
        }
        #expect(names.contains("neptune-journal"))
    }

    static func threadNames() -> [String] {
        guard let directory = opendir("/proc/self/task") else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let task = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard task.first?.isNumber == true, let file = fopen("/proc/self/task/\(task)/comm", "r") else { continue }
            var bytes = [UInt8](repeating: 0, count: 64)
            let count = fread(&bytes, 1, bytes.count, file)
            names.append(String(decoding: bytes.prefix(count).filter { $0 != 10 }, as: UTF8.self))
            fclose(file)
        }
        return names
    }
    #endif

    @Test func failedFsyncRefusesWritesAndKeepsReads() throws {
        let fileSystem = FaultyFileSystem()
        let engine = Engine(clock: ManualClock())
        let report = try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: Self.logger)
        let journal = try Journal(
            path: report.activeSegment, fileSystem: fileSystem, policy: .always, nextSequence: report.nextSequence,
            logger: Self.logger
        )
        engine.attachJournal(journal)
        var session = EngineSession(engine: engine)
        #expect(session.raw("SET", "a", "1") == "+OK\r\n")
        let first = DispatchSemaphore(value: 0)
        journal.whenDurable(session.context.journalSequence) { _ in first.signal() }
        first.wait()
        fileSystem.failFsync(number: 1)
        #expect(session.raw("SET", "b", "2") == "+OK\r\n")
        let outcome = Mutex<Bool?>(nil)
        let second = DispatchSemaphore(value: 0)
        journal.whenDurable(session.context.journalSequence) { ok in
            outcome.withLock { $0 = ok }
            second.signal()
        }
        second.wait()
        #expect(outcome.withLock { $0 } == false)
        #expect(session.raw("SET", "c", "3") == "-MISCONF Errors writing to the AOF file: Input/output error\r\n")
        #expect(session.raw("GET", "a") == "$1\r\n1\r\n")
        journal.close()
    }

    @Test func outOfSpaceIsReportedNotRetried() throws {
        let fileSystem = FaultyFileSystem()
        fileSystem.limitCapacity(to: 200)
        let engine = Engine(clock: ManualClock())
        let report = try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: Self.logger)
        let journal = try Journal(
            path: report.activeSegment, fileSystem: fileSystem, policy: .always, nextSequence: report.nextSequence,
            logger: Self.logger
        )
        engine.attachJournal(journal)
        var session = EngineSession(engine: engine)
        var refused = false
        for i in 0..<50 {
            let reply = session.raw("SET", "key\(i)", String(repeating: "x", count: 20))
            if reply.hasPrefix("-MISCONF") {
                #expect(reply == "-MISCONF Errors writing to the AOF file: No space left on device\r\n")
                refused = true
                break
            }
            let done = DispatchSemaphore(value: 0)
            journal.whenDurable(session.context.journalSequence) { _ in done.signal() }
            done.wait()
        }
        #expect(refused)
        journal.close()
        // What is on disk is a valid journal whose torn tail recovery cuts off.
        let image = fileSystem.crash()
        let engine2 = Engine(clock: ManualClock())
        let second = try JournalRecovery.recover(
            directory: Self.directory, fileSystem: FaultyFileSystem(files: image), engine: engine2, logger: Self.logger
        )
        #expect(second.records > 0)
    }

    /// Recovery refuses a last segment whose damaged length would hide valid records, and keeps the file intact.
    @Test func damagedLengthInTheLastSegmentRefusesToStart() throws {
        var bytes = JournalFormatTests.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "2"]), (3, 0, ["SET", "c", "3"])])
        bytes[JournalFormat.magic.count + 2] = 0x7F
        let path = "\(Self.directory)/journal.00000001"
        let fileSystem = FaultyFileSystem(files: [path: bytes])
        let engine = Engine(clock: ManualClock())
        do {
            _ = try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: Self.logger)
            Issue.record("recovery accepted a journal with valid records after a damaged length")
        } catch {
            #expect(error.description.contains(path))
            #expect(error.description.contains("offset 8"))
        }
        #expect(engine.keyCount(db: 0) == 0)
        #expect(fileSystem.contents(path) == bytes)
    }

    @Test func midFileCorruptionRefusesToStart() throws {
        var bytes = JournalFormatTests.segment([(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "2"])])
        bytes[12] ^= 0x01
        let fileSystem = FaultyFileSystem(files: ["\(Self.directory)/journal.00000001": bytes])
        let engine = Engine(clock: ManualClock())
        #expect(throws: JournalRecovery.Failure.self) {
            try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: Self.logger)
        }
        #expect(engine.keyCount(db: 0) == 0)
    }
}
