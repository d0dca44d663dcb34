import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Testing

@Suite struct KeyCommandsTests {
    let clock = ManualClock()

    func session(_ engine: Engine? = nil) -> EngineSession {
        EngineSession(engine: engine ?? Engine(clock: clock))
    }

    @Test func deleteExistsTouchType() {
        var s = session()
        s.run("MSET", "a", "1", "b", "2")
        #expect(s.raw("EXISTS", "a", "a", "b", "c") == ":3\r\n")
        #expect(s.raw("TOUCH", "a", "c") == ":1\r\n")
        #expect(s.raw("TYPE", "a") == "+string\r\n")
        #expect(s.raw("TYPE", "c") == "+none\r\n")
        #expect(s.raw("DEL", "a", "c") == ":1\r\n")
        #expect(s.raw("UNLINK", "b") == ":1\r\n")
        #expect(s.raw("DBSIZE") == ":0\r\n")
    }

    @Test func renameKeepsValueAndTTLAcrossShards() {
        var s = session()
        // Enough keys that source and destination land in different shards for some pairs.
        for i in 0..<64 {
            s.run("SET", "src\(i)", "v\(i)", "EX", "100")
            #expect(s.raw("RENAME", "src\(i)", "dst\(i)") == "+OK\r\n")
            #expect(s.raw("GET", "dst\(i)") == "$\(String(i).count + 1)\r\nv\(i)\r\n")
            #expect(s.raw("TTL", "dst\(i)") == ":100\r\n")
            #expect(s.raw("EXISTS", "src\(i)") == ":0\r\n")
        }
        #expect(s.raw("RENAME", "nope", "x") == "-ERR no such key\r\n")
        s.run("SET", "a", "1")
        s.run("SET", "b", "2")
        #expect(s.raw("RENAMENX", "a", "b") == ":0\r\n")
        #expect(s.raw("RENAMENX", "a", "a") == ":0\r\n")
        #expect(s.raw("RENAME", "a", "a") == "+OK\r\n")
        #expect(s.raw("RENAMENX", "a", "c") == ":1\r\n")
        #expect(s.raw("DBSIZE") == ":66\r\n")
    }

    @Test func copyMoveSwapdbSelect() {
        var s = session()
        s.run("SET", "k", "v", "EX", "50")
        #expect(s.raw("COPY", "k", "k") == "-ERR source and destination objects are the same\r\n")
        #expect(s.raw("COPY", "k", "k2") == ":1\r\n")
        #expect(s.raw("COPY", "k", "k2") == ":0\r\n")
        #expect(s.raw("COPY", "k", "k2", "REPLACE") == ":1\r\n")
        #expect(s.raw("TTL", "k2") == ":50\r\n")
        #expect(s.raw("COPY", "k", "k", "DB", "1") == ":1\r\n")
        #expect(s.raw("COPY", "k", "k", "DB", "16") == "-ERR DB index is out of range\r\n")
        #expect(s.raw("COPY", "k", "x", "BOGUS") == "-ERR syntax error\r\n")
        #expect(s.raw("MOVE", "k", "1") == ":0\r\n")  // exists in db 1 already
        #expect(s.raw("MOVE", "k2", "2") == ":1\r\n")
        #expect(s.raw("MOVE", "k2", "0") == "-ERR source and destination objects are the same\r\n")
        #expect(s.raw("SELECT", "2") == "+OK\r\n")
        #expect(s.raw("GET", "k2") == "$1\r\nv\r\n")
        #expect(s.raw("SWAPDB", "2", "3") == "+OK\r\n")
        #expect(s.raw("GET", "k2") == "$-1\r\n")
        #expect(s.raw("SELECT", "3") == "+OK\r\n")
        #expect(s.raw("GET", "k2") == "$1\r\nv\r\n")
        #expect(s.raw("SELECT", "16") == "-ERR DB index is out of range\r\n")
        #expect(s.raw("SELECT", "x") == "-ERR value is not an integer or out of range\r\n")
        #expect(s.raw("SWAPDB", "x", "1") == "-ERR invalid first DB index\r\n")
        #expect(s.raw("SWAPDB", "1", "99") == "-ERR DB index is out of range\r\n")
    }

    @Test func expireFamilyWithFlags() {
        var s = session()
        s.run("SET", "k", "v")
        #expect(s.raw("EXPIRE", "k", "100", "XX") == ":0\r\n")
        #expect(s.raw("EXPIRE", "k", "100", "NX") == ":1\r\n")
        #expect(s.raw("EXPIRE", "k", "50", "GT") == ":0\r\n")
        #expect(s.raw("EXPIRE", "k", "200", "GT") == ":1\r\n")
        #expect(s.raw("EXPIRE", "k", "300", "LT") == ":0\r\n")
        #expect(s.raw("EXPIRE", "k", "10", "LT") == ":1\r\n")
        #expect(s.raw("TTL", "k") == ":10\r\n")
        #expect(s.raw("EXPIRE", "k", "10", "NX", "XX")
            == "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n")
        #expect(s.raw("EXPIRE", "k", "10", "GT", "LT")
            == "-ERR GT and LT options at the same time are not compatible\r\n")
        #expect(s.raw("EXPIRE", "k", "10", "FOO") == "-ERR Unsupported option FOO\r\n")
        #expect(s.raw("EXPIRE", "k", "9223372036854775807") == "-ERR invalid expire time in 'expire' command\r\n")
        let at = clock.milliseconds() / 1000 + 30
        #expect(s.raw("EXPIREAT", "k", String(at)) == ":1\r\n")
        #expect(s.raw("EXPIRETIME", "k") == ":\(at)\r\n")
        #expect(s.raw("PEXPIRETIME", "k") == ":\(at * 1000)\r\n")
        #expect(s.raw("PERSIST", "k") == ":1\r\n")
        #expect(s.raw("PERSIST", "k") == ":0\r\n")
        #expect(s.raw("EXPIRETIME", "k") == ":-1\r\n")
        #expect(s.raw("PEXPIRE", "k", "-1") == ":1\r\n")  // a past time deletes the key
        #expect(s.raw("EXISTS", "k") == ":0\r\n")
        #expect(s.raw("EXPIRE", "k", "10") == ":0\r\n")
    }

    @Test func keysAndScanWithPatternsAndTypes() {
        var s = session()
        for i in 0..<300 { s.run("SET", "user:\(i)", "x") }
        for i in 0..<20 { s.run("SET", "other:\(i)", "y") }
        guard case .array(let all) = s.run("KEYS", "user:*") else { Issue.record("not an array"); return }
        #expect(all.count == 300)
        guard case .array(let some) = s.run("KEYS", "user:1?") else { Issue.record("not an array"); return }
        #expect(Set(some.compactMap(\.stringValue)) == Set((10..<20).map { "user:\($0)" }))
        var seen = Set<String>()
        var cursor = "0"
        var rounds = 0
        repeat {
            guard case .array(let parts) = s.run("SCAN", cursor, "MATCH", "user:*", "COUNT", "25"),
                case .array(let keys) = parts[1], let next = parts[0].stringValue
            else { Issue.record("bad SCAN reply"); return }
            for key in keys { seen.insert(key.stringValue ?? "") }
            cursor = next
            rounds += 1
        } while cursor != "0" && rounds < 10_000
        #expect(seen.count == 300)
        #expect(seen.allSatisfy { $0.hasPrefix("user:") })
        guard case .array(let typed) = s.run("SCAN", "0", "TYPE", "list", "COUNT", "1000") else { return }
        #expect(typed[1] == .array([]) || typed[0].stringValue != "0")
        #expect(s.raw("SCAN", "abc") == "-ERR invalid cursor\r\n")
        #expect(s.raw("SCAN", "0", "COUNT", "0") == "-ERR syntax error\r\n")
        #expect(s.raw("SCAN", "0", "BOGUS") == "-ERR syntax error\r\n")
    }

    /// SCAN's guarantee: a key present for the whole scan is returned at least once, even while the table grows
    /// and shrinks between calls.
    @Test func scanGuaranteeAcrossResizes() {
        var s = session()
        for i in 0..<500 { s.run("SET", "stable:\(i)", "v") }
        var seen = Set<String>()
        var cursor = "0"
        var step = 0
        repeat {
            guard case .array(let parts) = s.run("SCAN", cursor, "COUNT", "7"),
                case .array(let keys) = parts[1], let next = parts[0].stringValue
            else { Issue.record("bad SCAN reply"); return }
            for key in keys { seen.insert(key.stringValue ?? "") }
            cursor = next
            // Grow, then shrink, the keyspace under the iterator.
            if step < 40 {
                for j in 0..<100 { s.run("SET", "churn:\(step):\(j)", "v") }
            } else if step < 80 {
                for j in 0..<100 { s.run("DEL", "churn:\(step - 40):\(j)") }
            }
            step += 1
        } while cursor != "0" && step < 100_000
        for i in 0..<500 {
            #expect(seen.contains("stable:\(i)"), "stable:\(i) was never returned")
        }
    }

    @Test func randomkeyAndFlush() {
        var s = session()
        #expect(s.raw("RANDOMKEY") == "$-1\r\n")
        s.run("SET", "only", "1")
        #expect(s.raw("RANDOMKEY") == "$4\r\nonly\r\n")
        s.run("SELECT", "1")
        s.run("SET", "other", "1")
        #expect(s.raw("FLUSHDB", "ASYNC") == "+OK\r\n")
        #expect(s.raw("DBSIZE") == ":0\r\n")
        s.run("SELECT", "0")
        #expect(s.raw("DBSIZE") == ":1\r\n")
        #expect(s.raw("FLUSHALL", "BOGUS") == "-ERR syntax error\r\n")
        #expect(s.raw("FLUSHALL") == "+OK\r\n")
        #expect(s.raw("DBSIZE") == ":0\r\n")
    }

    @Test func activeSweepReclaimsExpiredKeys() {
        let engine = Engine(clock: clock)
        var s = session(engine)
        for i in 0..<1000 { s.run("SET", "t\(i)", "v", "PX", "10") }
        for i in 0..<100 { s.run("SET", "p\(i)", "v") }
        #expect(engine.keyCount(db: 0) == 1100)
        clock.advance(milliseconds: 11)
        var rounds = 0
        while engine.keyCount(db: 0) > 100 && rounds < 10_000 {
            engine.sweepExpired(budget: 64)
            rounds += 1
        }
        #expect(engine.keyCount(db: 0) == 100)
        #expect(engine.statistics().expiredKeys == 1000)
    }

    @Test func noAuthUntilAuthenticated() {
        var s = session()
        s.context.isAuthenticated = false
        #expect(s.raw("GET", "k") == "-NOAUTH Authentication required.\r\n")
        // Unknown commands and arity errors come first, as in Redis.
        #expect(s.raw("GET") == "-ERR wrong number of arguments for 'get' command\r\n")
    }
}
