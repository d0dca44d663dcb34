import Dispatch
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

/// Records what the engine reports to keyspace observers.
final class RecordingObserver: KeyspaceObserver {
    let keys = Mutex<[String]>([])
    let events = Mutex<[DatabaseEvent]>([])

    func keyChanged(db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        let text = "\(db):" + String(decoding: key, as: UTF8.self)
        keys.withLock { $0.append(text) }
    }

    func databasesWillChange(_ event: DatabaseEvent) {
        events.withLock { $0.append(event) }
    }

    /// A session on a new engine (reading `clock`) that reports its keyspace changes to this observer.
    func observedSession(clock: ManualClock = ManualClock()) -> EngineSession {
        let engine = Engine(clock: clock)
        engine.addObserver(self)
        return EngineSession(engine: engine)
    }

    func take() -> [String] {
        keys.withLock { keys in
            let taken = keys
            keys.removeAll()
            return taken
        }
    }
}

@Suite struct KeyspaceObserverTests {
    /// Observers are called through the engine's unretained list (``ObserverList``): every observer added is
    /// called, in the order added, and one removed no longer is (nor released while the engine holds it).
    @Test func everyObserverAddedIsCalledAndARemovedOneIsNot() {
        let engine = Engine(clock: ManualClock())
        let first = RecordingObserver()
        var second: RecordingObserver? = RecordingObserver()
        engine.addObserver(first)
        engine.addObserver(second!)
        var s = EngineSession(engine: engine)
        s.run("SET", "a", "1")
        #expect(first.take() == ["0:a"] && second!.take() == ["0:a"])
        weak let released = second
        engine.removeObserver(second!)
        second = nil
        #expect(released == nil, "the engine keeps no reference to a removed observer")
        s.run("SET", "b", "2")
        #expect(first.take() == ["0:b"])
        engine.removeObserver(first)
        s.run("SET", "c", "3")
        #expect(first.take() == [])
    }

    @Test func writesReportTheKeysTheyChanged() {
        let observer = RecordingObserver()
        var s = observer.observedSession()
        s.run("SET", "a", "1")
        #expect(observer.take() == ["0:a"])
        s.run("MSET", "b", "2", "c", "3")
        #expect(observer.take() == ["0:b", "0:c"])
        // Only the keys actually deleted; a DEL that deletes nothing reports nothing.
        s.run("DEL", "a", "missing")
        #expect(observer.take() == ["0:a"])
        s.run("DEL", "missing")
        #expect(observer.take() == [])
        // A failed write reports nothing; reads report nothing.
        s.run("INCR", "b")
        #expect(observer.take() == ["0:b"])
        s.run("SET", "text", "x")
        _ = observer.take()
        #expect(s.run("INCR", "text") == .error("ERR value is not an integer or out of range"))
        s.run("GET", "b")
        #expect(observer.take() == [])
        // SET … NX that does not set, EXPIRE on a missing key: nothing changed.
        s.run("SET", "b", "9", "NX")
        s.run("EXPIRE", "missing", "10")
        #expect(observer.take() == [])
        s.run("SELECT", "2")
        s.run("SET", "d", "1")
        #expect(observer.take() == ["2:d"])
    }

    @Test func moveReportsBothDatabases() {
        let observer = RecordingObserver()
        var s = observer.observedSession()
        s.run("SET", "d", "1")
        _ = observer.take()
        #expect(s.run("MOVE", "d", "3") == .integer(1))
        #expect(Set(observer.take()) == ["0:d", "3:d"])
        // COPY changes only its destination, possibly in another database.
        s.run("SET", "src", "1")
        _ = observer.take()
        #expect(s.run("COPY", "src", "dst", "DB", "5") == .integer(1))
        #expect(observer.take() == ["5:dst"])
        #expect(s.run("COPY", "src", "dst2") == .integer(1))
        #expect(observer.take() == ["0:dst2"])
    }

    /// Writes that change nothing report nothing (WATCH relies on it, as Redis only touches modified keys).
    @Test func noOpWritesReportNothing() {
        let observer = RecordingObserver()
        var s = observer.observedSession()
        s.run("SET", "a", "1")
        s.run("SET", "b", "2")
        _ = observer.take()
        let noOps: [[String]] = [
            ["PERSIST", "a"], ["PERSIST", "missing"], ["MSETNX", "a", "1", "new", "2"], ["RENAMENX", "a", "b"],
            ["RENAME", "a", "a"], ["COPY", "missing", "x"], ["COPY", "a", "b"], ["MOVE", "missing", "1"],
            ["GETDEL", "missing"], ["SETRANGE", "a", "0", ""], ["SETNX", "a", "x"], ["DEL", "missing"],
            ["EXPIRE", "missing", "100"], ["SET", "a", "x", "NX"], ["SET", "missing", "x", "XX"],
        ]
        for command in noOps {
            s.run(command.map { Array($0.utf8) })
            #expect(observer.take() == [], "\(command)")
        }
    }

    @Test func expiryAndWholeDatabaseEventsAreReported() {
        let clock = ManualClock()
        let observer = RecordingObserver()
        var s = observer.observedSession(clock: clock)
        s.run("SET", "gone", "1", "PX", "10")
        _ = observer.take()
        clock.advance(milliseconds: 20)
        #expect(s.run("GET", "gone") == .null)
        #expect(observer.take() == ["0:gone"])
        s.run("FLUSHDB")
        s.run("SWAPDB", "0", "1")
        s.run("FLUSHALL")
        #expect(observer.events.withLock { $0 } == [.flush(db: 0), .swap(0, 1), .flushAll])
        s.engine.removeObserver(observer)
        s.run("SET", "a", "1")
        #expect(observer.take() == [])
    }
}

@Suite struct TransactionTests {
    @Test func queuedCommandsRunInOrderWithTheirOwnErrors() {
        var s = EngineSession(engine: Engine(clock: ManualClock()))
        #expect(s.raw("MULTI") == "+OK\r\n")
        #expect(s.raw("SET", "a", "x") == "+QUEUED\r\n")
        #expect(s.raw("INCR", "a") == "+QUEUED\r\n")
        #expect(s.raw("GET", "a") == "+QUEUED\r\n")
        #expect(s.raw("EXEC") == "*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n$1\r\nx\r\n")
        #expect(s.raw("EXEC") == "-ERR EXEC without MULTI\r\n")
        #expect(s.raw("DISCARD") == "-ERR DISCARD without MULTI\r\n")
    }

    @Test func queuingErrorsAbortTheTransaction() {
        var s = EngineSession(engine: Engine(clock: ManualClock()))
        s.run("MULTI")
        #expect(s.raw("MULTI") == "-ERR MULTI calls can not be nested\r\n")
        #expect(s.raw("WATCH", "x") == "-ERR WATCH inside MULTI is not allowed\r\n")
        #expect(s.raw("SET", "a", "1") == "+QUEUED\r\n")
        #expect(s.raw("NOSUCH") == "-ERR unknown command 'NOSUCH', with args beginning with: \r\n")
        #expect(s.raw("GET") == "-ERR wrong number of arguments for 'get' command\r\n")
        #expect(s.raw("EXEC") == "-EXECABORT Transaction discarded because of previous errors.\r\n")
        // Nothing ran, and the session is out of MULTI.
        #expect(s.raw("GET", "a") == "$-1\r\n")
        // Nested MULTI and WATCH errors alone do not abort.
        s.run("MULTI")
        s.run("MULTI")
        s.run("WATCH", "x")
        s.run("SET", "a", "1")
        #expect(s.raw("EXEC") == "*1\r\n+OK\r\n")
    }

    @Test func discardDropsTheQueue() {
        var s = EngineSession(engine: Engine(clock: ManualClock()))
        s.run("MULTI")
        s.run("SET", "a", "1")
        #expect(s.raw("DISCARD") == "+OK\r\n")
        #expect(s.raw("GET", "a") == "$-1\r\n")
    }

    @Test func watchedKeyChangedByAnotherClientAbortsExec() {
        let engine = Engine(clock: ManualClock())
        var me = EngineSession(engine: engine)
        var other = EngineSession(engine: engine)
        me.run("SET", "x", "1")
        me.run("WATCH", "x")
        other.run("SET", "x", "2")
        me.run("MULTI")
        me.run("SET", "x", "3")
        #expect(me.raw("EXEC") == "*-1\r\n")
        #expect(me.raw("GET", "x") == "$1\r\n2\r\n")
        // After EXEC nothing is watched any more.
        me.run("MULTI")
        other.run("SET", "x", "4")
        me.run("PING")
        #expect(me.raw("EXEC") == "*1\r\n+PONG\r\n")
    }

    @Test func abortedExecIsANullInRESP3() {
        let engine = Engine(clock: ManualClock())
        var me = EngineSession(engine: engine, protocolVersion: .v3)
        var other = EngineSession(engine: engine)
        me.run("WATCH", "x")
        other.run("SET", "x", "2")
        me.run("MULTI")
        #expect(me.raw("EXEC") == "_\r\n")
    }

    @Test func ownWritesAndUnwatch() {
        let engine = Engine(clock: ManualClock())
        var me = EngineSession(engine: engine)
        me.run("WATCH", "x")
        me.run("SET", "x", "1")
        me.run("MULTI")
        #expect(me.raw("EXEC") == "*-1\r\n")
        me.run("WATCH", "x")
        me.run("UNWATCH")
        me.run("SET", "x", "2")
        me.run("MULTI")
        #expect(me.raw("EXEC") == "*0\r\n")
    }

    @Test func noOpWritesDoNotTouchWatchedKeys() {
        let engine = Engine(clock: ManualClock())
        var me = EngineSession(engine: engine)
        var other = EngineSession(engine: engine)
        other.run("SET", "present", "1")
        me.run("WATCH", "missing", "present")
        other.run("DEL", "missing")
        other.run("SET", "present", "2", "NX")
        other.run("SET", "elsewhere", "1")
        other.run("SELECT", "1")
        other.run("SET", "present", "other db")
        me.run("MULTI")
        me.run("PING")
        #expect(me.raw("EXEC") == "*1\r\n+PONG\r\n")
    }

    @Test func expiryOfAWatchedKeyAbortsExec() {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        var me = EngineSession(engine: engine)
        me.run("SET", "x", "1", "PX", "100")
        me.run("WATCH", "x")
        clock.advance(milliseconds: 200)
        me.run("MULTI")
        me.run("PING")
        #expect(me.raw("EXEC") == "*-1\r\n")
        // A key already expired when watched is logically absent: its removal changes nothing.
        me.run("SET", "y", "1", "PX", "100")
        clock.advance(milliseconds: 200)
        me.run("WATCH", "y")
        me.run("MULTI")
        me.run("PING")
        #expect(me.raw("EXEC") == "*1\r\n+PONG\r\n")
    }

    @Test func flushAndSwapTouchOnlyExistingWatchedKeys() {
        let engine = Engine(clock: ManualClock())
        var me = EngineSession(engine: engine)
        var other = EngineSession(engine: engine)
        func execSucceeds(_ prepare: () -> Void) -> Bool {
            prepare()
            me.run("MULTI")
            me.run("PING")
            return me.raw("EXEC") == "*1\r\n+PONG\r\n"
        }
        #expect(execSucceeds { me.run("WATCH", "nokey"); other.run("FLUSHALL") })
        #expect(!execSucceeds { other.run("SET", "k", "1"); me.run("WATCH", "k"); other.run("FLUSHDB") })
        #expect(!execSucceeds { other.run("SET", "k", "1"); me.run("WATCH", "k"); other.run("FLUSHALL") })
        #expect(execSucceeds { other.run("SET", "k", "1"); me.run("WATCH", "k"); other.run("SWAPDB", "2", "3") })
        #expect(!execSucceeds { me.run("WATCH", "k"); other.run("SWAPDB", "0", "1") })
        // Swapping in a database that has the key touches it too.
        #expect(!execSucceeds { me.run("WATCH", "k"); other.run("SWAPDB", "0", "1") })
    }

    /// A transaction's commands are journaled together between MULTI and EXEC records, as their effects.
    @Test func execJournalsTheTransactionContiguously() {
        let clock = ManualClock()
        let engine = Engine(clock: clock)
        let journal = RecordingJournal()
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        s.run("MULTI")
        s.run("SET", "a", "1", "EX", "10")
        s.run("GET", "a")
        s.run("DEL", "nothing")
        s.run("SELECT", "2")
        s.run("INCR", "n")
        #expect(s.raw("EXEC") == "*5\r\n+OK\r\n$1\r\n1\r\n:0\r\n+OK\r\n:1\r\n")
        let records = journal.records.withLock { $0 }.map { ($0.db, $0.arguments.map { String(decoding: $0, as: UTF8.self) }) }
        let expiry = String(clock.milliseconds() + 10_000)
        #expect(records.map(\.1) == [["MULTI"], ["SET", "a", "1", "PXAT", expiry], ["INCR", "n"], ["EXEC"]])
        #expect(records.map(\.0) == [0, 0, 2, 0])
        // A transaction with one change needs no wrapping; one with none journals nothing.
        s.run("MULTI")
        s.run("SET", "b", "1")
        s.run("GET", "b")
        s.run("EXEC")
        s.run("MULTI")
        s.run("GET", "b")
        s.run("EXEC")
        #expect(journal.records.withLock { $0.count } == 5)
    }

    /// No other client sees a transaction half done: a reader always finds both counters equal.
    @Test func execIsAtomicForOtherClients() {
        let engine = Engine(clock: ManualClock())
        let torn = Atomic<Int>(0)
        let reads = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 3) { worker in
            var s = EngineSession(engine: engine)
            if worker == 0 {
                for _ in 0..<2000 {
                    s.run("MULTI")
                    s.run("INCR", "left")
                    s.run("INCR", "right{other shard}")
                    s.run("EXEC")
                }
            } else {
                for round in 0..<2000 {
                    // Alternately a transaction of GETs and one MGET: both read atomically.
                    let reply: RESPValue
                    if round % 2 == 0 {
                        s.run("MULTI")
                        s.run("GET", "left")
                        s.run("GET", "right{other shard}")
                        reply = s.run("EXEC")
                    } else {
                        reply = s.run("MGET", "left", "right{other shard}")
                    }
                    guard case .array(let values) = reply, values.count == 2 else {
                        torn.add(1, ordering: .relaxed)
                        continue
                    }
                    if values[0] != values[1] { torn.add(1, ordering: .relaxed) }
                    reads.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(torn.load(ordering: .relaxed) == 0)
        #expect(reads.load(ordering: .relaxed) == 4000)
        var s = EngineSession(engine: engine)
        #expect(s.raw("GET", "left") == "$4\r\n2000\r\n")
    }

    /// Optimistic locking: clients incrementing through WATCH/GET/MULTI/SET/EXEC, retrying on abort, never lose
    /// an increment.
    @Test func watchRaceKeepsEveryIncrement() {
        let engine = Engine(clock: ManualClock())
        let aborts = Atomic<Int>(0)
        let clients = 4
        let increments = 300
        DispatchQueue.concurrentPerform(iterations: clients) { _ in
            var s = EngineSession(engine: engine)
            var done = 0
            while done < increments {
                s.run("WATCH", "counter")
                let current = Int(s.run("GET", "counter").stringValue ?? "0") ?? 0
                s.run("MULTI")
                s.run("SET", "counter", String(current + 1))
                if case .array = s.run("EXEC") {
                    done += 1
                } else {
                    aborts.add(1, ordering: .relaxed)
                }
            }
        }
        var s = EngineSession(engine: engine)
        #expect(s.run("GET", "counter").stringValue == String(clients * increments))
    }
}
