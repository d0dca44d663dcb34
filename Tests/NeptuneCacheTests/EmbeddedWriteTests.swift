import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Testing

/// The embedded API's typed writes bypass the command dispatcher: they must still behave as the commands do and
/// tell the keyspace observers (WATCH, blocked clients, indexes) what they changed.
@Suite struct EmbeddedWriteTests {
    @Test func typedWritesReportTheKeysTheyChanged() throws {
        let engine = Engine(clock: ManualClock())
        let observer = RecordingObserver()
        engine.addObserver(observer)
        let store = NeptuneStore(engine: engine)
        try store.set("a", "1")
        #expect(observer.take() == ["0:a"])
        try store.increment("n", by: 5, db: 3)
        #expect(observer.take() == ["3:n"])
        #expect(try store.delete("a") == 1)
        #expect(observer.take() == ["0:a"])
        // Nothing changed: a SET NX on an existing key, a delete of a missing key, a failed increment, a read.
        try store.set(Array("n".utf8), Array("9".utf8), condition: .ifAbsent, db: 3)
        #expect(try store.delete("missing") == 0)
        try store.set("text", "x")
        _ = observer.take()
        #expect(throws: CommandError.notInteger) { try store.increment("text") }
        _ = try store.get("text")
        #expect(observer.take() == [])
    }

    @Test func watchSeesAnEmbeddedWrite() throws {
        let engine = Engine(clock: ManualClock())
        let store = NeptuneStore(engine: engine)
        var client = EngineSession(engine: engine)
        client.run("SET", "balance", "10")
        client.run("WATCH", "balance")
        try store.increment("balance", by: 1)
        client.run("MULTI")
        client.run("SET", "balance", "0")
        #expect(client.raw("EXEC") == "*-1\r\n", "the transaction is aborted")
        #expect(try store.get("balance") == Array("11".utf8))
    }

    @Test func incrementFollowsINCRBY() throws {
        let clock = ManualClock()
        let store = NeptuneStore(engine: Engine(clock: clock))
        #expect(try store.increment("c", by: -3) == -3)
        try store.set("c", "9223372036854775806", ttl: .seconds(10))
        #expect(try store.increment("c") == Int64.max)
        #expect(throws: CommandError.overflow) { try store.increment("c") }
        #expect(try store.get("c") == Array("9223372036854775807".utf8), "a refused increment changes nothing")
        guard case .expires = try store.timeToLive("c") else {
            Issue.record("INCR keeps the TTL")
            return
        }
        for text in ["", " 1", "01", "+1", "1.0", "abc"] {
            try store.set("bad", text)
            #expect(throws: CommandError.notInteger) { try store.increment("bad") }
            #expect(try store.get("bad") == Array(text.utf8))
        }
        #expect(store.execute(["LPUSH", "list", "x"]) == .integer(1))
        #expect(throws: CommandError.wrongType) { try store.increment("list") }
        clock.advance(seconds: 11)
        #expect(try store.increment("c") == 1, "an expired counter starts again from 0")
    }
}
