import NeptuneCache
import NeptuneRESP
import Testing

/// The README's embedding example, verbatim, so that it keeps compiling and doing what it says.
@Suite struct ReadmeExampleTests {
    @Test func embeddingExample() throws {
        let store = NeptuneStore()                         // thread-safe; the same engine the server runs
        try store.set("greeting", "hello", ttl: .seconds(60))
        let value = try store.get("greeting")              // Optional(Array("hello".utf8))
        let count = try store.increment("visits", by: 1)    // 1
        let reply = store.execute(["STRLEN", "greeting"])  // RESPValue.integer(5): any command, raw

        #expect(value == Array("hello".utf8))
        #expect(count == 1)
        #expect(reply == .integer(5))
        #expect(try store.timeToLive("greeting") != .persistent)
    }
}
