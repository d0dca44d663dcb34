import NIOCore
@testable import NeptuneCache
import NeptuneIndex
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Writes are captured for the indexes and applied later (by the worker, by the writer that finds too much pending,
/// or by the next reader): these tests hold each of those paths alone and check that every query still sees every
/// write before it.
@Suite struct PendingIndexWritesTests {
    let clock = ManualClock()

    private func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    /// An engine whose worker is never woken and whose writers apply nothing below `pendingLimit`, so what is
    /// pending stays pending until a reader (or that limit) applies it.
    private func engineWithoutWorker(pendingLimit: Int = .max) -> Engine {
        let engine = Engine(clock: clock)
        engine.searchIndexes.workerWakeThreshold = .max
        engine.searchIndexes.pendingLimit = pendingLimit
        return engine
    }

    @Test func entriesComeBackInOrderWithTheirExactBytes() {
        let writes = PendingIndexWrites(fieldCount: 3)
        let keys = ["k1", "", "key-with-odd-length", String(repeating: "x", count: 5000)]
        let values: [[String?]] = [["1.5", nil, "red"], ["", "", ""], [nil, nil, nil], ["7", "a,b", String(repeating: "v", count: 3000)]]
        for (i, key) in keys.enumerated() {
            bytes(key).withUnsafeBytes { k in
                let lent = UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>.allocate(capacity: 3)
                defer { lent.deallocate() }
                let copies = values[i].map { $0.map(bytes) }
                func lend(_ j: Int) {
                    guard j < 3 else {
                        writes.append(key: k, hint: UInt32(i), values: UnsafeBufferPointer(lent))
                        return
                    }
                    guard let value = copies[j] else {
                        lent[j] = nil
                        return lend(j + 1)
                    }
                    value.withUnsafeBytes { lent[j] = $0; lend(j + 1) }
                }
                lend(0)
            }
            if i == 1 { bytes("gone").withUnsafeBytes { writes.appendRemoval(key: $0) } }
        }
        #expect(writes.count == 5)
        var seen: [(key: String, hint: UInt32?, values: [String?])] = []
        let slots = UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>.allocate(capacity: 3)
        defer { slots.deallocate() }
        writes.forEach(values: slots) { key, hint, _ in
            let decoded = hint == nil ? [] : slots.map { $0.map { String(decoding: $0, as: UTF8.self) } }
            seen.append((String(decoding: key, as: UTF8.self), hint, decoded))
        }
        #expect(seen.map(\.key) == ["k1", "", "gone", "key-with-odd-length", String(repeating: "x", count: 5000)])
        #expect(seen.map(\.hint) == [0, 1, nil, 2, 3])
        #expect(seen[0].values == ["1.5", nil, "red"])
        #expect(seen[1].values == ["", "", ""])
        #expect(seen[3].values == [nil, nil, nil])
        #expect(seen[4].values == values[3])
        writes.removeAll()
        #expect(writes.count == 0 && writes.byteCount == 0)
        var after = 0
        writes.forEach(values: slots) { _, _, _ in after += 1 }
        #expect(after == 0)
    }

    /// With no worker and no limit, nothing is applied until a query comes: the query applies it all first.
    @Test func aQueryAppliesWhatIsPendingFirst() {
        let engine = engineWithoutWorker()
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC", "t", "TAG")
        for i in 0..<1000 { s.run("HSET", "d\(i)", "n", "\(i)", "t", i % 2 == 0 ? "even" : "odd") }
        for i in 0..<100 { s.run("DEL", "d\(i)") }
        s.run("HSET", "d500", "n", "not a number")
        let handle = engine.searchIndexes.handle(named: bytes("idx"))!
        #expect(handle.pendingCount == 1101)
        #expect(s.raw("FT.SEARCH", "idx", "@t:{even}", "LIMIT", "0", "0") == "*1\r\n:449\r\n")
        #expect(handle.pendingCount == 0)
        #expect(s.raw("FT.SEARCH", "idx", "@n:[100 199]", "LIMIT", "0", "0") == "*1\r\n:100\r\n")
        #expect(s.raw("FT.INFO", "idx").contains("$22\r\nhash_indexing_failures\r\n:1\r\n"))
        // FT.INFO and FT.DROPINDEX DD apply what is pending too.
        s.run("HSET", "late", "n", "1")
        #expect(s.raw("FT.INFO", "idx").contains("$8\r\nnum_docs\r\n:900\r\n"))
        s.run("HSET", "later", "n", "2")
        #expect(s.raw("FT.DROPINDEX", "idx", "DD") == "+OK\r\n")
        #expect(s.raw("EXISTS", "later") == ":0\r\n")
        #expect(s.raw("DBSIZE") == ":1\r\n", "only d500, whose number did not parse, was not indexed")
    }

    /// A writer that finds `pendingLimit` writes pending applies them itself, so they stay bounded with no worker.
    @Test func aWriterAppliesThemAtTheLimit() {
        let engine = engineWithoutWorker(pendingLimit: 10)
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC")
        let handle = engine.searchIndexes.handle(named: bytes("idx"))!
        for i in 0..<95 {
            s.run("HSET", "d\(i)", "n", "\(i)")
            #expect(handle.pendingCount < 10)
        }
        #expect(handle.pendingCount == 5)
        #expect(handle.appliedDocumentCount == 90, "applied by the writers alone")
        #expect(s.raw("FT.SEARCH", "idx", "*", "LIMIT", "0", "0") == "*1\r\n:95\r\n")
    }

    /// The worker applies a batch once it reaches the threshold, with no reader and no writer's help.
    @Test func theWorkerAppliesBatches() throws {
        let engine = Engine(clock: clock)
        engine.searchIndexes.workerWakeThreshold = 8
        engine.searchIndexes.pendingLimit = .max
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC")
        let handle = engine.searchIndexes.handle(named: bytes("idx"))!
        for i in 0..<64 { s.run("HSET", "d\(i)", "n", "\(i)") }
        var applied = 0
        for _ in 0..<500 {
            applied = handle.appliedDocumentCount
            if applied >= 56 { break }
            usleep(10_000)
        }
        #expect(applied >= 56, "the worker applied every full batch within 5 s")
        #expect(handle.pendingCount < 8)
        #expect(s.raw("FT.SEARCH", "idx", "@n:[60 63]", "LIMIT", "0", "0") == "*1\r\n:4\r\n")
    }

    /// Documents first indexed by a write get their ID written back into the hash by the worker, so their next
    /// writes skip the key lookup; a hash the write-back finds gone is skipped, and a second index's writes do not
    /// touch the first's hints.
    @Test func theWorkerWritesNewDocumentsHintsBack() {
        let engine = Engine(clock: clock)
        engine.searchIndexes.workerWakeThreshold = 4
        engine.searchIndexes.pendingLimit = .max
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC")
        s.run("FT.CREATE", "second", "SCHEMA", "n", "NUMERIC")
        for i in 0..<8 { s.run("HSET", "d\(i)", "n", "\(i)") }
        s.run("DEL", "d7")
        let first = engine.searchIndexes.handle(named: bytes("idx"))!
        var hints: [UInt32?] = []
        for _ in 0..<500 {
            hints = (0..<7).map { engine.searchIndexes.storedHint(bytes("d\($0)")) }
            if hints.allSatisfy({ $0 != .max }) { break }
            usleep(10_000)
        }
        #expect(hints.allSatisfy { $0 != nil && $0 != .max }, "every hint written back within 5 s: \(hints)")
        let ids = Set(hints.compactMap { $0 })
        #expect(ids.count == 7, "each document its own ID")
        #expect(first.withIndex { index in (0..<7).allSatisfy { index.key(of: hints[$0]!) == bytes("d\($0)") } },
                "each hint is the document's ID in the first index")
        #expect(engine.searchIndexes.storedHint(bytes("d7")) == nil)
        // A rewrite through the hint lands on the same document.
        s.run("HSET", "d3", "n", "300")
        #expect(s.raw("FT.SEARCH", "idx", "@n:[300 300]", "NOCONTENT") == "*2\r\n:1\r\n$2\r\nd3\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "*", "LIMIT", "0", "0") == "*1\r\n:7\r\n")
    }

    /// A hash past the listpack limits cannot lend its values: they are copied one by one, with the same result.
    @Test func hashtableHashesAreCapturedToo() {
        let engine = engineWithoutWorker()
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC", "t", "TAG")
        let long = String(repeating: "z", count: 200)
        s.run("HSET", "big", "n", "42", "t", long, "other", "x")
        s.run("HSET", "small", "n", "43", "t", "short")
        #expect(s.raw("OBJECT", "ENCODING", "big") == "$9\r\nhashtable\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "@t:{\(long)}", "NOCONTENT") == "*2\r\n:1\r\n$3\r\nbig\r\n")
        #expect(s.raw("FT.SEARCH", "idx", "@n:[42 43]", "NOCONTENT", "SORTBY", "n") == "*3\r\n:2\r\n$3\r\nbig\r\n$5\r\nsmall\r\n")
    }

    /// SWAPDB empties and rebuilds the index from the new database 0: writes captured before it are dropped, not
    /// applied on top of the rebuilt index.
    @Test func swapDropsWhatIsPending() {
        let engine = engineWithoutWorker()
        var s = EngineSession(engine: engine)
        s.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC")
        s.run("SELECT", "1")
        s.run("HSET", "other", "n", "5")
        s.run("SELECT", "0")
        for i in 0..<10 { s.run("HSET", "d\(i)", "n", "\(i)") }
        s.run("SWAPDB", "0", "1")
        NeptuneStore(engine: engine).waitForIndexing("idx")
        #expect(s.raw("FT.SEARCH", "idx", "*", "NOCONTENT") == "*2\r\n:1\r\n$5\r\nother\r\n")
    }

    /// Writers on several threads and a reader on another: each query the reader runs after a writer's
    /// acknowledgement sees that write, and the final index holds exactly the final data.
    @Test func concurrentWritersAndReadersStayExact() throws {
        let engine = Engine(clock: clock)
        engine.searchIndexes.workerWakeThreshold = 16
        engine.searchIndexes.pendingLimit = 200
        var setup = EngineSession(engine: engine)
        setup.run("FT.CREATE", "idx", "SCHEMA", "n", "NUMERIC", "t", "TAG")
        let writers = 3
        let perWriter = 2000
        let acknowledged = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        var threads: [pthread_t] = []
        final class Job: @unchecked Sendable {
            let body: () -> Void
            init(_ body: @escaping () -> Void) { self.body = body }
        }
        func start(_ body: @escaping @Sendable () -> Void) {
            var thread = pthread_t()
            let job = Unmanaged.passRetained(Job(body))
            let result = pthread_create(&thread, nil, { argument in
                Unmanaged<Job>.fromOpaque(argument!).takeRetainedValue().body()
                return nil
            }, job.toOpaque())
            precondition(result == 0)
            threads.append(thread)
        }
        for w in 0..<writers {
            start {
                var s = EngineSession(engine: engine)
                for i in 0..<perWriter {
                    // Writer w owns tag "w<w>": each write adds one document of it (and every 10th deletes one).
                    s.run("HSET", "w\(w):\(i)", "n", "\(i)", "t", "w\(w)")
                    if i % 10 == 9 { s.run("DEL", "w\(w):\(i - 5)") }
                    acknowledged.add(1, ordering: .sequentiallyConsistent)
                }
            }
        }
        start {
            var s = EngineSession(engine: engine)
            var last = 0
            while last < writers * perWriter {
                let before = acknowledged.load(ordering: .sequentiallyConsistent)
                // Every acknowledged write of a document that was not deleted is visible: at least `before` minus the
                // deletions any acknowledged count can include.
                guard case .array(let reply) = s.run("FT.SEARCH", "idx", "*", "LIMIT", "0", "0"),
                    case .integer(let total) = reply.first
                else {
                    failures.withLock { $0.append("bad reply") }
                    return
                }
                let floor = before - (before / 10 + writers)
                if total < floor { failures.withLock { $0.append("saw \(total) after \(before) acknowledged writes") } }
                last = before
            }
        }
        for thread in threads { pthread_join(thread, nil) }
        #expect(failures.withLock { $0 } == [])
        var s = EngineSession(engine: engine)
        for w in 0..<writers {
            #expect(s.raw("FT.SEARCH", "idx", "@t:{w\(w)}", "LIMIT", "0", "0") == "*1\r\n:\(perWriter - perWriter / 10)\r\n")
        }
        #expect(s.raw("FT.SEARCH", "idx", "@n:[4 4]", "LIMIT", "0", "0") == "*1\r\n:0\r\n", "w*:4 were deleted")
        #expect(s.raw("FT.SEARCH", "idx", "@n:[5 5]", "LIMIT", "0", "0") == "*1\r\n:\(writers)\r\n")
    }
}
