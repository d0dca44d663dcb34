import Dispatch
import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

/// A client session that can block: deliveries are recorded in arrival order, across sessions.
final class DeliveryLog: Sendable {
    struct Delivery: Sendable {
        let clientID: Int
        let reply: String
        let sequence: UInt64
    }

    let deliveries = Mutex<[Delivery]>([])

    var delivery: BlockedClientDelivery {
        { [self] client, reply, sequence in
            let text = String(decoding: reply.readableBytesView, as: UTF8.self)
            deliveries.withLock { $0.append(Delivery(clientID: client.clientID, reply: text, sequence: sequence)) }
        }
    }

    func take() -> [Delivery] {
        deliveries.withLock {
            let taken = $0
            $0.removeAll()
            return taken
        }
    }
}

extension EngineSession {
    /// A session with client id `id` whose blocking commands block and report to `log`.
    static func blocking(_ engine: Engine, id: Int, log: DeliveryLog, protocolVersion: RESPVersion = .v2)
        -> EngineSession
    {
        var session = EngineSession(engine: engine, protocolVersion: protocolVersion)
        session.context.clientID = id
        session.context.blockingDelivery = log.delivery
        return session
    }

    /// Runs a command that must block: no reply, and the context holds the blocked client.
    mutating func block(_ arguments: String...) -> BlockedClient? {
        let reply = raw(arguments.map { Array($0.utf8) })
        guard reply.isEmpty, let client = context.blockedClient else { return nil }
        context.blockedClient = nil
        return client
    }
}

/// Keys of `engine` that fall in different shards (and a few in the same one).
private func keys(_ engine: Engine, inDistinctShards count: Int, prefix: String) -> [String] {
    var byShard: [Int: String] = [:]
    var i = 0
    while byShard.count < count {
        let key = "\(prefix)\(i)"
        let hash = Array(key.utf8).withUnsafeBytes { engine.keyHash($0) }
        let shard = Int(hash >> Engine.shardShift)
        if byShard[shard] == nil { byShard[shard] = key }
        i += 1
    }
    return byShard.sorted { $0.key < $1.key }.map(\.value)
}

@Suite struct BlockingTests {
    @Test func timeoutsParseAsRedis() throws {
        func ms(_ text: String) throws -> Int64 { try Engine.blockingTimeout(ByteBuffer(string: text)) }
        #expect(try ms("0") == 0)
        #expect(try ms("1") == 1000)
        #expect(try ms("0.5") == 500)
        #expect(try ms("1.5e-3") == 2)  // rounded up to whole milliseconds
        #expect(try ms("0.0001") == 1)
        #expect(try ms("-0.0001") == 0)  // rounds to zero: waits forever, as in Redis
        #expect(try ms("0x10") == 16000)
        #expect(try ms("1e15") == 1_000_000_000_000_000_000)
        for negative in ["-1", "inf", "-inf", "1e400", "1e16", "9223372036854775807"] {
            #expect(throws: Engine.timeoutNegative, "\(negative)") { try ms(negative) }
        }
        for invalid in ["abc", "nan", " 1", "1 ", "", "1e5000", "1\u{0}"] {
            #expect(throws: Engine.timeoutNotFloat, "\(invalid)") { try ms(invalid) }
        }
    }

    @Test func firstBlockedFirstServedAndJournaledAsPops() {
        let engine = Engine(clock: ManualClock())
        let journal = RecordingJournal()
        engine.attachJournal(journal)
        let log = DeliveryLog()
        var sessions = (1...3).map { EngineSession.blocking(engine, id: $0, log: log) }
        for i in sessions.indices {
            #expect(sessions[i].block("BLPOP", "q", "0") != nil)
        }
        #expect(engine.blockedClientCount == 3)
        var pusher = EngineSession(engine: engine)
        #expect(pusher.run("RPUSH", "q", "a", "b") == .integer(2))
        let served = log.take()
        #expect(served.map(\.clientID) == [1, 2])
        #expect(served.map(\.reply) == ["*2\r\n$1\r\nq\r\n$1\r\na\r\n", "*2\r\n$1\r\nq\r\n$1\r\nb\r\n"])
        // Each reply waits for its own journal record: the push, then one LPOP per served client.
        let records = journal.records.withLock { $0.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } } }
        #expect(records == [["RPUSH", "q", "a", "b"], ["LPOP", "q"], ["LPOP", "q"]])
        #expect(served.map(\.sequence) == [2, 3])
        #expect(engine.blockedClientCount == 1)
        #expect(pusher.run("EXISTS", "q") == .integer(0))
        #expect(pusher.run("LPUSH", "q", "c") == .integer(1))
        #expect(log.take().map(\.clientID) == [3])
        #expect(engine.blockedClientCount == 0)
        _ = sessions
    }

    @Test func servedFromTheFirstKeyThatGetsDataAndNoLongerWaitsOnTheOthers() throws {
        let engine = Engine(clock: ManualClock())
        let log = DeliveryLog()
        let names = keys(engine, inDistinctShards: 3, prefix: "k")
        var session = EngineSession.blocking(engine, id: 7, log: log)
        let clientBlocked = session.block("BLPOP", names[0], names[1], names[2], "0")
        let client = try #require(clientBlocked)
        var pusher = EngineSession(engine: engine)
        pusher.run("RPUSH", names[2], "x")
        #expect(log.take().map(\.reply) == ["*2\r\n$\(names[2].utf8.count)\r\n\(names[2])\r\n$1\r\nx\r\n"])
        #expect(!client.isWaiting)
        // The entries left on the other keys are dropped by the host, and are skipped meanwhile.
        pusher.run("RPUSH", names[0], "y")
        #expect(log.take().isEmpty)
        engine.forgetBlocked(client)
        #expect(engine.blocking.entries.load(ordering: .relaxed) == 0)
        #expect(pusher.run("LLEN", names[0]) == .integer(1))
    }

    @Test func aTransactionServesAfterExec() throws {
        let engine = Engine(clock: ManualClock())
        let journal = RecordingJournal()
        engine.attachJournal(journal)
        let log = DeliveryLog()
        var waiter = EngineSession.blocking(engine, id: 1, log: log)
        #expect(waiter.block("BRPOP", "t", "0") != nil)
        var s = EngineSession(engine: engine)
        s.run("MULTI")
        s.run("RPUSH", "t", "a", "b")
        s.run("RPOP", "t")
        #expect(log.take().isEmpty)
        #expect(s.raw("EXEC") == "*2\r\n:2\r\n$1\r\nb\r\n")
        #expect(log.take().map(\.reply) == ["*2\r\n$1\r\nt\r\n$1\r\na\r\n"])
        let records = journal.records.withLock { $0.map { $0.arguments.map { String(decoding: $0, as: UTF8.self) } } }
        #expect(records == [["MULTI"], ["RPUSH", "t", "a", "b"], ["RPOP", "t"], ["EXEC"], ["RPOP", "t"]])
    }

    @Test func blockingCommandsDoNotBlockInsideMultiOrWithoutAHost() {
        let engine = Engine(clock: ManualClock())
        var embedded = EngineSession(engine: engine)
        #expect(embedded.raw("BLPOP", "e", "0") == "*-1\r\n")
        #expect(embedded.raw("BLMOVE", "e", "f", "LEFT", "LEFT", "0") == "$-1\r\n")
        let log = DeliveryLog()
        var s = EngineSession.blocking(engine, id: 1, log: log, protocolVersion: .v3)
        s.run("MULTI")
        s.run("BZPOPMIN", "e", "0")
        s.run("BRPOPLPUSH", "e", "f", "0")
        #expect(s.raw("EXEC") == "*2\r\n_\r\n_\r\n")
        #expect(engine.blockedClientCount == 0)
    }

    @Test func unblockEndsTheWaitOnce() throws {
        let engine = Engine(clock: ManualClock())
        let log = DeliveryLog()
        var s = EngineSession.blocking(engine, id: 1, log: log, protocolVersion: .v3)
        let firstBlocked = s.block("BZPOPMAX", "z", "10")
        let first = try #require(firstBlocked)
        #expect(first.deadline == engine.clock.milliseconds() + 10_000)
        #expect(engine.blockedClientsWithTimeout == 1)
        #expect(engine.unblock(first, with: .timeout))
        #expect(!engine.unblock(first, with: .timeout))
        #expect(log.take().map(\.reply) == ["_\r\n"])
        let secondBlocked = s.block("BLMOVE", "l", "m", "LEFT", "LEFT", "0")
        let second = try #require(secondBlocked)
        #expect(second.deadline == nil)
        #expect(engine.unblock(second, with: .unblockedError))
        #expect(log.take().map(\.reply) == ["-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"])
        let thirdBlocked = s.block("BLPOP", "l", "0")
        let third = try #require(thirdBlocked)
        #expect(engine.unblock(third, with: .disconnected))
        #expect(log.take().isEmpty)
        // Nobody waits any more: a push stays in the list.
        var pusher = EngineSession(engine: engine)
        pusher.run("RPUSH", "l", "v")
        #expect(log.take().isEmpty)
        #expect(pusher.run("LLEN", "l") == .integer(1))
        #expect(engine.blockedClientCount == 0 && engine.blockedClientsWithTimeout == 0)
        #expect(engine.blocking.entries.load(ordering: .relaxed) == 0)
    }

    @Test func aServedClientCannotBeUnblocked() throws {
        let engine = Engine(clock: ManualClock())
        let log = DeliveryLog()
        var s = EngineSession.blocking(engine, id: 1, log: log)
        let clientBlocked = s.block("BLPOP", "l", "1")
        let client = try #require(clientBlocked)
        var pusher = EngineSession(engine: engine)
        pusher.run("RPUSH", "l", "v")
        #expect(!engine.unblock(client, with: .timeout))
        #expect(log.take().count == 1)
    }

    @Test func blmoveAcrossShardsChainsAndReplaysExactly() throws {
        let engine = Engine(clock: ManualClock())
        let journal = RecordingJournal()
        engine.attachJournal(journal)
        let log = DeliveryLog()
        let names = keys(engine, inDistinctShards: 4, prefix: "m")
        // A chain names[3] -> names[0] -> names[2] -> names[1], every hop in another shard and against index order.
        var a = EngineSession.blocking(engine, id: 1, log: log)
        var b = EngineSession.blocking(engine, id: 2, log: log)
        var c = EngineSession.blocking(engine, id: 3, log: log)
        #expect(a.block("BLMOVE", names[3], names[0], "RIGHT", "LEFT", "0") != nil)
        #expect(b.block("BRPOPLPUSH", names[0], names[2], "0") != nil)
        #expect(c.block("BLMPOP", "0", "1", names[2], "LEFT", "COUNT", "3") != nil)
        var pusher = EngineSession(engine: engine)
        pusher.run("RPUSH", names[3], "x", "y")
        #expect(log.take().map(\.clientID) == [1, 2, 3])
        #expect(pusher.run("LRANGE", names[3], "0", "-1") == .array([.bulkString(Array("x".utf8))]))
        #expect(pusher.run("EXISTS", names[0], names[2]) == .integer(0))
        #expect(engine.blocking.moveEntries.load(ordering: .relaxed) == 0)
        // Replaying the journal rebuilds the same lists.
        let replayed = Engine(clock: ManualClock())
        for record in journal.records.withLock({ $0 }) {
            try replayed.replay(db: record.db, arguments: record.arguments.map { ByteBuffer(bytes: $0) })
        }
        var check = EngineSession(engine: replayed)
        for name in names {
            #expect(check.run("LRANGE", name, "0", "-1") == pusher.run("LRANGE", name, "0", "-1"))
        }
    }

    @Test func swapdbAndMoveGiveKeysData() throws {
        let engine = Engine(clock: ManualClock())
        let log = DeliveryLog()
        var waiter = EngineSession.blocking(engine, id: 1, log: log)
        #expect(waiter.block("BLPOP", "k", "0") != nil)
        var s = EngineSession(engine: engine)
        s.run("SELECT", "3")
        s.run("RPUSH", "k", "from3")
        s.run("SWAPDB", "0", "3")
        #expect(log.take().map(\.reply) == ["*2\r\n$1\r\nk\r\n$5\r\nfrom3\r\n"])
        #expect(waiter.block("BZPOPMIN", "z", "0") != nil)
        s.run("SELECT", "5")
        s.run("ZADD", "z", "1", "m")
        s.run("MOVE", "z", "0")
        #expect(log.take().map(\.reply) == ["*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n"])
    }

    /// Writers on several threads push to keys that BLMOVE clients wait on, in every shard order: no deadlock,
    /// no element lost or duplicated.
    @Test func concurrentPushesAndMovesConserveElements() async throws {
        let engine = Engine(clock: ManualClock())
        let names = keys(engine, inDistinctShards: 6, prefix: "c")
        let threads = 4
        let rounds = 2000
        await withTaskGroup(of: Void.self) { group in
            for t in 0..<threads {
                group.addTask {
                    let log = DeliveryLog()
                    var waiter = EngineSession.blocking(engine, id: 100 + t, log: log)
                    var pusher = EngineSession(engine: engine)
                    var blocked: BlockedClient?
                    var rng = SeededGenerator(seed: UInt64(t + 1))
                    for i in 0..<rounds {
                        if blocked == nil || !blocked!.isWaiting {
                            if let done = blocked { engine.forgetBlocked(done) }
                            let from = names.randomElement(using: &rng)!
                            let to = names.randomElement(using: &rng)!
                            let reply = waiter.raw("BLMOVE", from, to, "LEFT", "RIGHT", "0")
                            blocked = waiter.context.blockedClient
                            waiter.context.blockedClient = nil
                            #expect(blocked != nil || reply.hasPrefix("$"))
                        }
                        pusher.run("RPUSH", names.randomElement(using: &rng)!, "t\(t)-\(i)")
                    }
                    if let blocked, !engine.unblock(blocked, with: .disconnected) { engine.forgetBlocked(blocked) }
                }
            }
        }
        var total = 0
        var s = EngineSession(engine: engine)
        for name in names {
            if case .integer(let n) = s.run("LLEN", name) { total += Int(n) }
        }
        #expect(total == threads * rounds)
        #expect(engine.blockedClientCount == 0)
        #expect(engine.blocking.entries.load(ordering: .relaxed) == 0)
    }
}
