import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Testing

@Suite struct StringCommandsTests {
    let clock = ManualClock()

    func session(_ version: RESPVersion = .v2) -> EngineSession {
        EngineSession(engine: Engine(clock: clock), protocolVersion: version)
    }

    @Test func setAndGetReplyBytes() {
        var s = session()
        #expect(s.raw("SET", "k", "v") == "+OK\r\n")
        #expect(s.raw("GET", "k") == "$1\r\nv\r\n")
        #expect(s.raw("GET", "missing") == "$-1\r\n")
        var s3 = session(.v3)
        #expect(s3.raw("GET", "missing") == "_\r\n")
    }

    @Test func binarySafeKeysAndValues() {
        var s = session()
        let key: [UInt8] = [0, 13, 10, 255, 0]
        let value: [UInt8] = [13, 10, 0, 1, 2, 200]
        #expect(s.raw([Array("SET".utf8), key, value]) == "+OK\r\n")
        #expect(s.run([Array("GET".utf8), key]) == .bulkString(value))
        // A key that differs only after a NUL byte is a different key.
        #expect(s.run([Array("GET".utf8), [0, 13, 10, 255, 1]]) == .null)
    }

    @Test func setOptions() {
        var s = session()
        #expect(s.raw("SET", "k", "1", "NX") == "+OK\r\n")
        #expect(s.raw("SET", "k", "2", "NX") == "$-1\r\n")
        #expect(s.raw("SET", "other", "2", "XX") == "$-1\r\n")
        #expect(s.raw("SET", "k", "3", "XX", "GET") == "$1\r\n1\r\n")
        #expect(s.raw("SET", "k", "4", "NX", "XX") == "-ERR syntax error\r\n")
        #expect(s.raw("SET", "k", "4", "EX") == "-ERR syntax error\r\n")
        #expect(s.raw("SET", "k", "4", "EX", "10", "PX", "100") == "-ERR syntax error\r\n")
        #expect(s.raw("SET", "k", "4", "EX", "0") == "-ERR invalid expire time in 'set' command\r\n")
        #expect(s.raw("SET", "k", "4", "EX", "abc") == "-ERR value is not an integer or out of range\r\n")
        #expect(s.raw("SET", "k", "4", "EX", "9223372036854775807")
            == "-ERR invalid expire time in 'set' command\r\n")
        #expect(s.raw("SET", "k", "4", "KEEPTTL", "EX", "5") == "-ERR syntax error\r\n")
        #expect(s.raw("GET", "k") == "$1\r\n3\r\n")
    }

    @Test func expiryIsExactWithInjectedClock() {
        var s = session()
        #expect(s.raw("SET", "k", "v", "PX", "1500") == "+OK\r\n")
        #expect(s.raw("PTTL", "k") == ":1500\r\n")
        #expect(s.raw("TTL", "k") == ":2\r\n")  // rounded as Redis does
        clock.advance(milliseconds: 1499)
        #expect(s.raw("GET", "k") == "$1\r\nv\r\n")
        clock.advance(milliseconds: 1)
        #expect(s.raw("GET", "k") == "$-1\r\n")
        #expect(s.raw("EXISTS", "k") == ":0\r\n")
        #expect(s.raw("TTL", "k") == ":-2\r\n")
    }

    @Test func keepTTLAndOverwriteClearsTTL() {
        var s = session()
        s.run("SET", "k", "v", "EX", "100")
        s.run("SET", "k", "w", "KEEPTTL")
        #expect(s.raw("TTL", "k") == ":100\r\n")
        s.run("SET", "k", "x")
        #expect(s.raw("TTL", "k") == ":-1\r\n")
        s.run("SET", "k", "v", "EXAT", String(clock.milliseconds() / 1000 + 50))
        #expect(s.raw("TTL", "k") == ":50\r\n")
    }

    @Test func getexAndGetdel() {
        var s = session()
        s.run("SET", "k", "v")
        #expect(s.raw("GETEX", "k", "PX", "100") == "$1\r\nv\r\n")
        #expect(s.raw("PTTL", "k") == ":100\r\n")
        #expect(s.raw("GETEX", "k", "PERSIST") == "$1\r\nv\r\n")
        #expect(s.raw("PTTL", "k") == ":-1\r\n")
        #expect(s.raw("GETEX", "k", "PERSIST", "EX", "1") == "-ERR syntax error\r\n")
        #expect(s.raw("GETDEL", "k") == "$1\r\nv\r\n")
        #expect(s.raw("GETDEL", "k") == "$-1\r\n")
    }

    @Test func counters() {
        var s = session()
        #expect(s.raw("INCR", "n") == ":1\r\n")
        #expect(s.raw("INCRBY", "n", "41") == ":42\r\n")
        #expect(s.raw("DECRBY", "n", "2") == ":40\r\n")
        #expect(s.raw("DECR", "n") == ":39\r\n")
        s.run("SET", "big", "9223372036854775807")
        #expect(s.raw("INCR", "big") == "-ERR increment or decrement would overflow\r\n")
        #expect(s.raw("GET", "big") == "$19\r\n9223372036854775807\r\n")
        #expect(s.raw("DECRBY", "n", "-9223372036854775808") == "-ERR decrement would overflow\r\n")
        s.run("SET", "s", " 1")
        #expect(s.raw("INCR", "s") == "-ERR value is not an integer or out of range\r\n")
        #expect(s.raw("INCRBY", "n", "1.5") == "-ERR value is not an integer or out of range\r\n")
    }

    @Test func incrementKeepsTTL() {
        var s = session()
        s.run("SET", "n", "1", "EX", "100")
        s.run("INCR", "n")
        #expect(s.raw("TTL", "n") == ":100\r\n")
    }

    @Test func incrbyfloatFormatsAsRedis() {
        var s = session()
        s.run("SET", "f", "10.50")
        #expect(s.raw("INCRBYFLOAT", "f", "0.1") == "$4\r\n10.6\r\n")
        #expect(s.raw("INCRBYFLOAT", "f", "-5.0e3") == "$23\r\n-4989.39999999999999991\r\n")
        #expect(s.raw("INCRBYFLOAT", "f", "abc") == "-ERR value is not a valid float\r\n")
        s.run("SET", "g", "1")
        #expect(s.raw("INCRBYFLOAT", "g", "inf") == "-ERR increment would produce NaN or Infinity\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "f") == "$6\r\nembstr\r\n")
    }

    @Test func appendStrlenAndRanges() {
        var s = session()
        #expect(s.raw("APPEND", "k", "Hello") == ":5\r\n")
        #expect(s.raw("APPEND", "k", " World") == ":11\r\n")
        #expect(s.raw("STRLEN", "k") == ":11\r\n")
        #expect(s.raw("GETRANGE", "k", "0", "4") == "$5\r\nHello\r\n")
        #expect(s.raw("GETRANGE", "k", "-5", "-1") == "$5\r\nWorld\r\n")
        #expect(s.raw("GETRANGE", "k", "5", "2") == "$0\r\n\r\n")
        #expect(s.raw("SUBSTR", "k", "0", "100") == "$11\r\nHello World\r\n")
        #expect(s.raw("SETRANGE", "k", "6", "Redis") == ":11\r\n")
        #expect(s.raw("GET", "k") == "$11\r\nHello Redis\r\n")
        #expect(s.raw("SETRANGE", "pad", "3", "x") == ":4\r\n")
        #expect(s.run("GET", "pad") == .bulkString([0, 0, 0, 120]))
        #expect(s.raw("SETRANGE", "k", "-1", "x") == "-ERR offset is out of range\r\n")
        #expect(s.raw("SETRANGE", "k", "536870912", "x")
            == "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "k") == "$3\r\nraw\r\n")
    }

    @Test func largeValuesRoundTrip() {
        var s = session()
        let big = [UInt8]((0..<100_000).map { UInt8($0 % 251) })
        s.run([Array("SET".utf8), Array("big".utf8), big])
        #expect(s.run("GET", "big") == .bulkString(big))
        #expect(s.raw("APPEND", "big", "xyz") == ":100003\r\n")
        #expect(s.raw("STRLEN", "big") == ":100003\r\n")
        #expect(s.raw("DEL", "big") == ":1\r\n")
    }

    @Test func multiKeyCommands() {
        var s = session()
        #expect(s.raw("MSET", "a", "1", "b", "2", "c", "3") == "+OK\r\n")
        #expect(s.raw("MGET", "a", "nope", "c") == "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n")
        #expect(s.raw("MSET", "a", "1", "b") == "-ERR wrong number of arguments for 'mset' command\r\n")
        #expect(s.raw("MSETNX", "x", "1", "a", "2") == ":0\r\n")
        #expect(s.raw("EXISTS", "x") == ":0\r\n")
        #expect(s.raw("MSETNX", "x", "1", "y", "2") == ":1\r\n")
        #expect(s.raw("GETSET", "x", "9") == "$1\r\n1\r\n")
        #expect(s.raw("SETNX", "x", "0") == ":0\r\n")
        #expect(s.raw("SETEX", "e", "0", "v") == "-ERR invalid expire time in 'setex' command\r\n")
        #expect(s.raw("PSETEX", "e", "100", "v") == "+OK\r\n")
        #expect(s.raw("PTTL", "e") == ":100\r\n")
    }

    @Test func encodings() {
        var s = session()
        s.run("SET", "i", "12345")
        s.run("SET", "e", "hello")
        s.run("SET", "r", String(repeating: "x", count: 45))
        s.run("SET", "z", "012")
        #expect(s.raw("OBJECT", "ENCODING", "i") == "$3\r\nint\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "e") == "$6\r\nembstr\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "r") == "$3\r\nraw\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "z") == "$6\r\nembstr\r\n")
        #expect(s.raw("OBJECT", "REFCOUNT", "i") == ":1\r\n")  // beyond the shared integers 0...9999
        s.run("SET", "small", "123")
        #expect(s.raw("OBJECT", "REFCOUNT", "small") == ":2147483647\r\n")
        #expect(s.raw("OBJECT", "REFCOUNT", "e") == ":1\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "missing") == "$-1\r\n")
        #expect(s.raw("OBJECT", "NOPE", "i") == "-ERR unknown subcommand 'NOPE'. Try OBJECT HELP.\r\n")
    }

    @Test func wrongTypeAndArity() {
        var s = session()
        #expect(s.raw("GET") == "-ERR wrong number of arguments for 'get' command\r\n")
        #expect(s.raw("NOSUCH", "a", "b") == "-ERR unknown command 'NOSUCH', with args beginning with: 'a' 'b' \r\n")
        #expect(s.raw("object") == "-ERR wrong number of arguments for 'object' command\r\n")
    }

    /// Overwrites of a string by one of the same size class rewrite the entry in its cell: the value, the TTL and
    /// the count of keys with a TTL must come out exactly as with a fresh entry.
    @Test func overwritesInPlaceKeepValuesAndTTLAccounting() {
        var s = session()
        func expires() -> Int { s.engine.keyspaceSummary().first?.expires ?? 0 }
        #expect(s.raw("SET", "k", "aaaa", "PX", "5000") == "+OK\r\n")
        #expect(expires() == 1)
        #expect(s.raw("SET", "k", "bbbb") == "+OK\r\n")
        #expect(s.raw("PTTL", "k") == ":-1\r\n")
        #expect(s.raw("GET", "k") == "$4\r\nbbbb\r\n")
        #expect(expires() == 0)
        #expect(s.raw("SET", "k", "ccc", "PX", "1000") == "+OK\r\n")
        #expect(s.raw("SET", "k", "dddd", "KEEPTTL") == "+OK\r\n")
        #expect(s.raw("PTTL", "k") == ":1000\r\n")
        #expect(expires() == 1)
        #expect(s.raw("APPEND", "k", "e") == ":5\r\n")
        #expect(s.raw("GET", "k") == "$5\r\ndddde\r\n")
        let long = String(repeating: "x", count: 300)
        #expect(s.raw("SET", "k", long, "KEEPTTL") == "+OK\r\n")
        #expect(s.raw("GET", "k") == "$300\r\n\(long)\r\n")
        #expect(s.raw("SET", "k", "f", "KEEPTTL") == "+OK\r\n")
        #expect(s.raw("GET", "k") == "$1\r\nf\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "k") == "$6\r\nembstr\r\n")
        clock.advance(milliseconds: 1000)
        #expect(s.raw("GET", "k") == "$-1\r\n")
        #expect(expires() == 0)
        #expect(s.raw("SET", "n", "10") == "+OK\r\n")
        #expect(s.raw("INCR", "n") == ":11\r\n")
        #expect(s.raw("INCRBY", "n", "-1") == ":10\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "n") == "$3\r\nint\r\n")
        #expect(s.raw("SADD", "set", "m") == ":1\r\n")
        #expect(s.raw("SET", "set", "now a string") == "+OK\r\n")
        #expect(s.raw("TYPE", "set") == "+string\r\n")
        #expect(s.raw("DBSIZE") == ":2\r\n")
    }
}
