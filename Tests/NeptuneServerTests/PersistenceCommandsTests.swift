import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import NeptuneTestSupport
import Testing

@testable import NeptuneServer

/// SAVE, BGSAVE, LASTSAVE, the `save` rules, INFO persistence and the loading state, with Redis 7.0's replies.
@Suite struct PersistenceCommandsTests {
    static func makeState(clock: ManualClock = ManualClock()) -> (ServerState, FaultyFileSystem) {
        let state = ServerCommandsTests.makeState(clock: clock)
        let fileSystem = FaultyFileSystem()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        state.snapshotter = Snapshotter(
            configuration: .init(directory: "/data", journalDirectory: "/data/appendonlydir"),
            engine: state.engine,
            fileSystem: fileSystem,
            logger: logger
        )
        return (state, fileSystem)
    }

    static func info(_ session: inout ServerSession) -> [String: String] {
        guard let text = session.run("INFO", "persistence").stringValue else { return [:] }
        var fields: [String: String] = [:]
        for line in text.split(separator: "\r\n") where line.contains(":") {
            let parts = line.split(separator: ":", maxSplits: 1)
            fields[String(parts[0])] = String(parts[1])
        }
        return fields
    }

    @Test func saveBgsaveLastsaveReplies() throws {
        let clock = ManualClock()
        let (state, fileSystem) = Self.makeState(clock: clock)
        var session = ServerSession(state)
        #expect(session.raw("SET", "a", "1") == "+OK\r\n")
        #expect(Self.info(&session)["rdb_changes_since_last_save"] == "1")
        clock.advance(seconds: 5)
        #expect(session.raw("SAVE") == "+OK\r\n")
        #expect(fileSystem.contents("/data/dump.nsnap") != nil)
        #expect(session.raw("LASTSAVE") == ":\(clock.milliseconds() / 1000)\r\n")
        #expect(session.raw("SAVE", "x") == "-ERR wrong number of arguments for 'save' command\r\n")
        #expect(session.raw("LASTSAVE", "x") == "-ERR wrong number of arguments for 'lastsave' command\r\n")
        #expect(session.raw("BGSAVE", "foo") == "-ERR syntax error\r\n")
        #expect(session.raw("BGSAVE") == "+Background saving started\r\n")
        state.snapshotter!.waitUntilIdle()
        #expect(session.raw("BGSAVE", "SCHEDULE") == "+Background saving started\r\n")
        state.snapshotter!.waitUntilIdle()
        let fields = Self.info(&session)
        #expect(fields["rdb_saves"] == "3")
        #expect(fields["rdb_last_bgsave_status"] == "ok")
        #expect(fields["rdb_changes_since_last_save"] == "0")
        #expect(fields["rdb_bgsave_in_progress"] == "0")
        #expect(fields["rdb_last_bgsave_time_sec"] == "0")
    }

    @Test func failedSaveRepliesErrAndReportsErr() throws {
        let (state, fileSystem) = Self.makeState()
        var session = ServerSession(state)
        session.run("SET", "a", "1")
        fileSystem.failAfter(operations: 1)
        #expect(session.raw("SAVE") == "-ERR\r\n")
        let fields = Self.info(&session)
        #expect(fields["rdb_last_bgsave_status"] == "err")
        #expect(fields["rdb_changes_since_last_save"] == "1")
        #expect(fileSystem.contents("/data/dump.nsnap") == nil)
    }

    @Test func failedSnapshotStopsWritesUntilOneSucceeds() throws {
        let (state, fileSystem) = Self.makeState()
        try state.config.set("save", "3600 1")
        var session = ServerSession(state)
        session.run("SET", "a", "1")
        fileSystem.failAfter(operations: 1)
        #expect(session.raw("SAVE") == "-ERR\r\n")
        state.applySnapshotWriteRefusal()
        let refusal = "-\(ServerState.bgsaveErrorRefusal)\r\n"
        #expect(session.raw("SET", "b", "2") == refusal)
        #expect(session.raw("PING") == refusal)
        #expect(session.raw("GET", "a") == "$1\r\n1\r\n")
        try state.config.set("stop-writes-on-bgsave-error", "no")
        state.applySnapshotWriteRefusal()
        #expect(session.raw("SET", "b", "2") == "+OK\r\n")
        try state.config.set("stop-writes-on-bgsave-error", "yes")
        state.applySnapshotWriteRefusal()
        #expect(session.raw("SET", "b", "3") == refusal)
    }

    @Test func saveRulesStartABackgroundSave() throws {
        let clock = ManualClock()
        let (state, fileSystem) = Self.makeState(clock: clock)
        var session = ServerSession(state)
        let snapshotter = state.snapshotter!
        let rules = [(seconds: 60, changes: 3)]
        session.run("SET", "a", "1")
        session.run("SET", "b", "1")
        clock.advance(seconds: 120)
        #expect(!snapshotter.checkRules(rules, now: clock.milliseconds()))
        session.run("SET", "c", "1")
        #expect(!snapshotter.checkRules(rules, now: clock.milliseconds() - 100_000))
        #expect(snapshotter.checkRules(rules, now: clock.milliseconds()))
        snapshotter.waitUntilIdle()
        #expect(fileSystem.contents("/data/dump.nsnap") != nil)
        #expect(!snapshotter.checkRules(rules, now: clock.milliseconds() + 1_000_000))
        #expect(!snapshotter.checkRules([], now: clock.milliseconds()))
    }

    @Test func commandsWithoutTheLoadingFlagGetLoadingWhileLoading() throws {
        let (state, _) = Self.makeState()
        var session = ServerSession(state)
        state.engine.isLoading = true
        state.loadingProgress.totalBytes = 1000
        state.loadingProgress.loadedBytes = 250
        #expect(session.raw("GET", "a") == "-LOADING Redis is loading the dataset in memory\r\n")
        #expect(session.raw("SET", "a", "1") == "-LOADING Redis is loading the dataset in memory\r\n")
        #expect(session.raw("PING") == "-LOADING Redis is loading the dataset in memory\r\n")
        #expect(session.raw("LASTSAVE").hasPrefix(":"))
        let fields = Self.info(&session)
        #expect(fields["loading"] == "1")
        #expect(fields["loading_loaded_bytes"] == "250")
        #expect(fields["loading_total_bytes"] == "1000")
        #expect(fields["loading_loaded_perc"] == "25.00")
        state.engine.isLoading = false
        #expect(session.raw("PING") == "+PONG\r\n")
        #expect(Self.info(&session)["loading_loaded_bytes"] == nil)
    }
}
