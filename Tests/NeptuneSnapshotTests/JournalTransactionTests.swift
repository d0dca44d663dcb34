import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import NeptuneTestSupport
import Testing

/// Transactions in the journal: recovery applies a MULTI … EXEC block entirely or not at all.
@Suite struct JournalTransactionTests {
    static let directory = "/data/appendonlydir"
    static let path = "/data/appendonlydir/journal.00000001"
    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func segment(_ records: [[String]]) -> [UInt8] {
        var bytes = JournalFormat.magic
        for (index, arguments) in records.enumerated() {
            JournalFormat.encode(
                sequence: UInt64(index + 1),
                db: 0,
                arguments: arguments.map { Array($0.utf8) },
                into: &bytes
            )
        }
        return bytes
    }

    static func keys(_ engine: Engine) -> Set<String> {
        var session = EngineSession(engine: engine)
        return Set((session.run("KEYS", "*").arrayValue ?? []).compactMap(\.stringValue))
    }

    @Test func anUnfinishedTransactionAtTheEndIsDroppedAndCutOff() throws {
        let complete: [[String]] = [["SET", "before", "1"], ["MULTI"], ["SET", "a", "1"], ["SET", "b", "2"], ["EXEC"]]
        let completeBytes = Self.segment(complete)
        let bytes = Self.segment(complete + [["MULTI"], ["SET", "c", "3"], ["SET", "d", "4"]])
        let fileSystem = FaultyFileSystem(files: [Self.path: bytes])
        let engine = Engine(clock: ManualClock())
        let report = try JournalRecovery.recover(
            directory: Self.directory,
            fileSystem: fileSystem,
            engine: engine,
            logger: Self.logger
        )
        #expect(Self.keys(engine) == ["before", "a", "b"])
        #expect(report.droppedTransactionRecords == 2)
        #expect(report.records == 3)
        // The file ends where the unfinished transaction began, and the next record takes its sequence number.
        #expect(fileSystem.contents(Self.path) == completeBytes)
        #expect(report.nextSequence == 6)
    }

    /// Cut the journal at every byte: the transaction's keys are all there or none is.
    @Test func everyCutKeepsTheTransactionAllOrNothing() throws {
        let bytes = Self.segment([["SET", "x", "1"], ["MULTI"], ["SET", "a", "1"], ["SET", "b", "2"], ["EXEC"]])
        var sawAll = false
        var sawNone = false
        for cut in JournalFormat.magic.count...bytes.count {
            let fileSystem = FaultyFileSystem(files: [Self.path: Array(bytes[..<cut])])
            let engine = Engine(clock: ManualClock())
            try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: Self.logger)
            let keys = Self.keys(engine).subtracting(["x"])
            #expect(keys == [] || keys == ["a", "b"], "cut at \(cut)")
            if keys.isEmpty { sawNone = true } else { sawAll = true }
        }
        #expect(sawAll && sawNone)
    }

    @Test func execWithoutMultiRefusesToStart() {
        let fileSystem = FaultyFileSystem(files: [Self.path: Self.segment([["SET", "a", "1"], ["EXEC"], ["SET", "b", "1"]])])
        #expect(throws: JournalRecovery.Failure.self) {
            try JournalRecovery.recover(
                directory: Self.directory,
                fileSystem: fileSystem,
                engine: Engine(clock: ManualClock()),
                logger: Self.logger
            )
        }
    }

    /// End to end: EXEC through an engine journaling to a file, then recovery into a new engine.
    @Test func execSurvivesARestart() throws {
        let fileSystem = FaultyFileSystem()
        let engine = Engine(clock: ManualClock())
        let report = try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: Self.logger)
        let journal = try Journal(
            path: report.activeSegment,
            fileSystem: fileSystem,
            policy: .always,
            nextSequence: report.nextSequence,
            logger: Self.logger
        )
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        s.run("SET", "plain", "1")
        s.run("MULTI")
        s.run("SET", "a", "1")
        s.run("INCR", "a")
        s.run("SET", "b", "x")
        #expect(s.raw("EXEC") == "*3\r\n+OK\r\n:2\r\n+OK\r\n")
        journal.close()
        let scan = try JournalFormat.scan(fileSystem.contents(report.activeSegment) ?? [], path: "j")
        #expect(scan.records.map { String(decoding: $0.arguments[0], as: UTF8.self) } == ["SET", "MULTI", "SET", "INCR", "SET", "EXEC"])
        let restarted = Engine(clock: ManualClock())
        try JournalRecovery.recover(directory: Self.directory, fileSystem: fileSystem, engine: restarted, logger: Self.logger)
        var r = EngineSession(engine: restarted)
        #expect(r.raw("MGET", "plain", "a", "b") == "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\nx\r\n")
    }
}
