import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

/// A journal that keeps records in memory, for checking the engine's side of the durability contract.
final class RecordingJournal: MutationJournal {
    let records = Mutex<[(db: Int, arguments: [[UInt8]])]>([])
    let refuse = Atomic<Bool>(false)

    func append(db: Int, arguments: [ByteBuffer]) -> UInt64 {
        records.withLock {
            $0.append((db, arguments.map { Array($0.readableBytesView) }))
            return UInt64($0.count)
        }
    }

    var acceptsWrites: Bool { !refuse.load(ordering: .relaxed) }
    var refusalMessage: String { "MISCONF Errors writing to the journal: injected failure" }
}

@Suite struct JournalReplayTests {
    /// Everything about a keyspace a client can observe: values and absolute expiry times, per database.
    static func dump(_ engine: Engine, databases: Int = 4) -> [String: String] {
        var result: [String: String] = [:]
        var session = EngineSession(engine: engine)
        for db in 0..<databases {
            session.run("SELECT", String(db))
            guard case .array(let keys) = session.run("KEYS", "*") else { continue }
            for key in keys {
                guard case .bulkString(let name) = key else { continue }
                let value = session.run([Array("GET".utf8), name])
                let expiry = session.run([Array("PEXPIRETIME".utf8), name])
                result["\(db)/\(name)"] = "\(value) \(expiry)"
            }
        }
        return result
    }

    @Test(arguments: [1, 2, 3])
    func replayRebuildsTheSameKeyspace(seed: UInt64) throws {
        let clock = ManualClock()
        let journal = RecordingJournal()
        let original = Engine(databases: 4, clock: clock)
        original.attachJournal(journal)
        var session = EngineSession(engine: original)
        var rng = SeededGenerator(seed: seed)
        let keys = (0..<12).map { "k\($0)" }
        for _ in 0..<4000 {
            let key = keys.randomElement(using: &rng)!
            let other = keys.randomElement(using: &rng)!
            let n = String(Int.random(in: 1...300, using: &rng))
            let command: [String] = switch Int.random(in: 0..<22, using: &rng) {
            case 0: ["SET", key, "v\(n)"]
            case 1: ["SET", key, "v\(n)", "PX", n]
            case 2: ["SET", key, "w", "EX", "1", "NX"]
            case 3: ["SET", key, "x", "KEEPTTL", "XX"]
            case 4: ["INCR", key]
            case 5: ["INCRBYFLOAT", key, "0.25"]
            case 6: ["APPEND", key, n]
            case 7: ["EXPIRE", key, n, "GT"]
            case 8: ["PEXPIRE", key, n]
            case 9: ["PERSIST", key]
            case 10: ["DEL", key, other]
            case 11: ["RENAME", key, other]
            case 12: ["COPY", key, other, "REPLACE"]
            case 13: ["MOVE", key, String(Int.random(in: 0..<4, using: &rng))]
            case 14: ["SELECT", String(Int.random(in: 0..<4, using: &rng))]
            case 15: ["GETEX", key, "PX", n]
            case 16: ["GETDEL", key]
            case 17: ["SETRANGE", key, "3", "zz"]
            case 18: ["MSET", key, n, other, n]
            case 19: ["GET", key]
            case 20: ["SWAPDB", "0", String(Int.random(in: 0..<4, using: &rng))]
            default: ["PEXPIREAT", key, String(clock.milliseconds() + Int64(n)!)]
            }
            session.run(command.map { Array($0.utf8) })
            clock.advance(milliseconds: Int64.random(in: 0...20, using: &rng))
            if Int.random(in: 0..<50, using: &rng) == 0 { original.sweepExpired(budget: 16) }
        }
        // Recovery happens later: some keys have expired meanwhile in both worlds.
        clock.advance(milliseconds: 50)
        let replica = Engine(databases: 4, clock: clock)
        replica.isLoading = true
        for record in journal.records.withLock({ $0 }) {
            try replica.replay(db: record.db, arguments: record.arguments.map { ByteBuffer(bytes: $0) })
        }
        replica.isLoading = false
        #expect(Self.dump(replica) == Self.dump(original))
    }

    @Test func refusedJournalRejectsWritesButServesReads() {
        let journal = RecordingJournal()
        let engine = Engine(clock: ManualClock())
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        #expect(s.raw("SET", "k", "v") == "+OK\r\n")
        journal.refuse.store(true, ordering: .relaxed)
        #expect(s.raw("SET", "k", "w") == "-MISCONF Errors writing to the journal: injected failure\r\n")
        #expect(s.raw("GET", "k") == "$1\r\nv\r\n")
        #expect(journal.records.withLock { $0.count } == 1)
    }

    @Test func embeddedWritesAreJournaledWhenAJournalIsAttached() throws {
        let clock = ManualClock()
        let journal = RecordingJournal()
        let engine = Engine(clock: clock)
        engine.attachJournal(journal)
        let store = NeptuneStore(engine: engine)
        try store.set("a", "1", ttl: .seconds(5))
        #expect(try store.set("a", "2", condition: .ifAbsent) == false)
        #expect(try store.increment("n", by: 3) == 3)
        #expect(store.delete("a") == 1)
        let records = journal.records.withLock { $0 }.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } }
        #expect(records == [
            ["SET", "a", "1", "PXAT", String(clock.milliseconds() + 5000)], ["INCRBY", "n", "3"], ["DEL", "a"],
        ])
    }

    @Test func relativeExpiryIsJournaledAsAbsolute() {
        let clock = ManualClock()
        let journal = RecordingJournal()
        let engine = Engine(clock: clock)
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        s.run("SET", "k", "v", "EX", "10")
        s.run("SET", "k", "v", "NX")  // not applied: nothing journaled
        s.run("PEXPIRE", "k", "500")
        let at = clock.milliseconds()
        let records = journal.records.withLock { $0 }.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } }
        #expect(records == [["SET", "k", "v", "PXAT", String(at + 10_000)], ["PEXPIREAT", "k", String(at + 500)]])
    }
}

/// A small deterministic generator (SplitMix64) so randomized tests are reproducible from their seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
