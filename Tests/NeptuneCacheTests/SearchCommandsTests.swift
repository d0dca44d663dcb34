import NIOCore
@testable import NeptuneCache
import NeptuneIndex
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

@Suite struct SearchCommandsTests {
    let clock = ManualClock()

    @Test func createSearchAndResp2Shape() {
        var s = EngineSession(engine: Engine(clock: clock))
        s.run("HSET", "p:1", "price", "10", "color", "red")
        s.run("HSET", "p:2", "price", "20", "color", "blue")
        #expect(s.raw("FT.CREATE", "idx", "ON", "HASH", "PREFIX", "1", "p:", "SCHEMA", "price", "NUMERIC", "SORTABLE", "color", "TAG") == "+OK\r\n")
        #expect(
            s.raw("FT.SEARCH", "idx", "@price:[15 +inf]")
                == "*3\r\n:1\r\n$3\r\np:2\r\n*4\r\n$5\r\nprice\r\n$2\r\n20\r\n$5\r\ncolor\r\n$4\r\nblue\r\n"
        )
        #expect(s.raw("FT.SEARCH", "idx", "*", "NOCONTENT", "SORTBY", "price", "DESC") == "*3\r\n:2\r\n$3\r\np:2\r\n$3\r\np:1\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "*", "LIMIT", "0", "0") == "*1\r\n:2\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "@color:{red}", "RETURN", "1", "price") == "*3\r\n:1\r\n$3\r\np:1\r\n*2\r\n$5\r\nprice\r\n$2\r\n10\r\n")
        #expect(s.raw("FT._LIST") == "*1\r\n$3\r\nidx\r\n")
    }

    @Test func errorsAndNothingChangedOnBadInput() {
        var s = EngineSession(engine: Engine(clock: clock))
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "a", "GEO") == "-GEO fields are not supported: use NUMERIC, TAG or TEXT\r\n")
        #expect(s.raw("FT.CREATE", "idx", "FILTER", "@a>1", "SCHEMA", "a", "NUMERIC").hasPrefix("-FILTER is not supported"))
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "a", "TAG", "SEPARATOR", "ab") == "-Tag separator must be a single character\r\n")
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "a", "NUMERIC", "a", "TAG") == "-Duplicate field in schema - a\r\n")
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "a", "BOGUS") == "-Invalid field type for field `a`\r\n")
        #expect(s.raw("FT._LIST") == "*0\r\n", "failed creations leave no index")
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "a", "NUMERIC") == "+OK\r\n")
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "a", "NUMERIC") == "-Index already exists\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "@a:[1") == "-Syntax error at offset 4 near 1\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "*", "LIMIT", "0") == "-Bad arguments for LIMIT: Expected an argument\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "*", "SORTBY", "zz") == "-Property `zz` not loaded nor in schema\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "*", "DIALECT", "9") == "-DIALECT requires a non negative integer >=1 and <= 4\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "*", "PARAMS", "1", "x") == "-Parameters must be specified in PARAM VALUE pairs\r\n")
        #expect(s.raw("FT.SEARCH", "nope", "*") == "-nope: no such index\r\n")
        #expect(s.raw("FT.INFO", "nope") == "-Unknown index name\r\n")
        #expect(s.raw("FT.DROPINDEX", "nope") == "-Unknown Index name\r\n")
        s.context.db = 1
        #expect(s.raw("FT.CREATE", "other", "SCHEMA", "a", "NUMERIC") == "-Cannot create index on db != 0\r\n")
    }

    @Test func indexesFollowEveryKindOfChange() {
        let engine = Engine(clock: clock)
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC")
        func count() -> String { s.raw("FT.SEARCH", "idx", "@n:[-inf +inf]", "LIMIT", "0", "0") }
        s.run("HSET", "a", "n", "1")
        s.run("HSET", "b", "n", "2")
        #expect(count() == "*1\r\n:2\r\n")
        s.run("HDEL", "a", "n")  // the hash is now empty, so deleted
        #expect(count() == "*1\r\n:1\r\n")
        s.run("SET", "b", "x")
        #expect(count() == "*1\r\n:0\r\n")
        s.run("HSET", "c", "n", "3")
        s.run("PEXPIRE", "c", "100")
        clock.advance(milliseconds: 200)
        _ = engine.sweepExpired(budget: 1000)
        #expect(count() == "*1\r\n:0\r\n")
        s.run("HSET", "d", "n", "4")
        s.run("MOVE", "d", "3")
        #expect(count() == "*1\r\n:0\r\n")
        s.run("SELECT", "3")
        s.run("MOVE", "d", "0")
        s.run("SELECT", "0")
        #expect(count() == "*1\r\n:1\r\n")
        s.run("SWAPDB", "0", "5")
        let store = NeptuneStore(engine: engine)
        store.waitForIndexing("idx")
        #expect(count() == "*1\r\n:0\r\n")
        s.run("SWAPDB", "0", "5")
        store.waitForIndexing("idx")
        #expect(count() == "*1\r\n:1\r\n")
    }

    @Test func backgroundBuildReportsProgressThenFinishes() {
        let engine = Engine(clock: clock)
        engine.searchIndexes.inlineBuildLimit = 0
        var s = EngineSession(engine: engine)
        for i in 0..<2000 { s.run("HSET", "k\(i)", "n", "\(i % 100)") }
        #expect(s.raw("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC") == "+OK\r\n")
        NeptuneStore(engine: engine).waitForIndexing("idx")
        #expect(s.raw("FT.SEARCH", "idx", "@n:[10 19]", "LIMIT", "0", "0") == "*1\r\n:200\r\n")
        let info = s.raw("FT.INFO", "idx")
        #expect(info.contains("$8\r\nnum_docs\r\n:2000\r\n"))
        #expect(info.contains("$8\r\nindexing\r\n:0\r\n$15\r\npercent_indexed\r\n$1\r\n1\r\n"))
    }

    @Test func journalReplayRebuildsDefinitionsAndContents() throws {
        let engine = Engine(clock: clock)
        let journal = RecordingJournal()
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        s.run("HSET", "p:1", "n", "1", "t", "x")
        s.run("FT.CREATE", "idx", "PREFIX", "1", "p:", "SCHEMA", "n", "NUMERIC", "t", "TAG")
        s.run("FT.CREATE", "tmp", "SCHEMA", "n", "NUMERIC")
        s.run("HSET", "p:2", "n", "2", "t", "x")
        s.run("HSET", "p:3", "n", "3", "t", "y")
        s.run("FT.DROPINDEX", "tmp")
        #expect(s.raw("FT.DROPINDEX", "idx", "DD") == "+OK\r\n")
        s.run("FT.CREATE", "idx", "PREFIX", "1", "p:", "SCHEMA", "n", "NUMERIC", "t", "TAG")
        s.run("HSET", "p:4", "n", "4", "t", "x")
        let replayed = Engine(clock: clock)
        for record in journal.records.withLock({ $0 }) {
            try replayed.replay(db: record.db, arguments: record.arguments.map { ByteBuffer(bytes: $0) })
        }
        var r = EngineSession(engine: replayed)
        #expect(r.raw("FT._LIST") == "*1\r\n$3\r\nidx\r\n")
        #expect(r.raw("KEYS", "*") == "*1\r\n$3\r\np:4\r\n", "DD deleted p:1-3 through journaled DELs")
        #expect(r.raw("FT.SEARCH", "idx", "@t:{x}", "NOCONTENT") == "*2\r\n:1\r\n$3\r\np:4\r\n")
    }

    @Test func embeddedTypedQueries() throws {
        let store = NeptuneStore(clock: clock)
        try store.createIndex(
            IndexDefinition(
                name: Array("products".utf8),
                prefixes: [Array("p:".utf8)],
                fields: [IndexField("price", .numeric, sortable: true), IndexField("color", .tag)]
            )
        )
        #expect(throws: CommandError("Index already exists")) {
            try store.createIndex(IndexDefinition(name: Array("products".utf8), fields: [IndexField("x", .numeric)]))
        }
        for (i, color) in ["red", "blue", "red", "green", "red"].enumerated() {
            _ = store.execute(["HSET", "p:\(i)", "price", "\(i * 10)", "color", color])
        }
        let page = try store.search(
            "products",
            .and([.numeric("price", NumericRange(min: 10)), .tag("color", ["red", "green"])]),
            sortBy: IndexSort("price", ascending: false),
            limit: 2,
            fields: ["price"]
        )
        #expect(page.total == 3)
        #expect(page.hits.map { String(decoding: $0.key, as: UTF8.self) } == ["p:4", "p:3"])
        #expect(page.hits[0].fields == [Array("price".utf8): Array("40".utf8)])
        let notRed = try store.search("products", .not(.tag("color", ["red"])), sortBy: IndexSort("price"))
        #expect(notRed.hits.map { String(decoding: $0.key, as: UTF8.self) } == ["p:1", "p:3"])
        let parsed = try store.search("products", query: "@price:[$lo $hi]", parameters: ["lo": "(0", "hi": "20"], sortBy: IndexSort("price"))
        #expect(parsed.total == 2)
        #expect(throws: CommandError.self) { try store.search("products", query: "@price:[") }
        #expect(store.indexNames == ["products"])
        try store.dropIndex("products", deleteDocuments: true)
        #expect(store.indexNames.isEmpty)
        #expect(!store.exists("p:0"))
    }
}
