import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Testing

@Suite struct ListCommandsTests {
    func session(_ version: RESPVersion = .v2) -> EngineSession {
        EngineSession(engine: Engine(clock: ManualClock()), protocolVersion: version)
    }

    @Test func pushPopAndIndex() {
        var s = session()
        #expect(s.raw("RPUSH", "l", "b", "c") == ":2\r\n")
        #expect(s.raw("LPUSH", "l", "a", "z") == ":4\r\n")
        #expect(s.raw("LRANGE", "l", "0", "-1") == "*4\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        #expect(s.raw("LINDEX", "l", "-1") == "$1\r\nc\r\n")
        #expect(s.raw("LSET", "l", "9", "x") == "-ERR index out of range\r\n")
        #expect(s.raw("LSET", "missing", "0", "x") == "-ERR no such key\r\n")
        #expect(s.raw("LPOP", "l", "3") == "*3\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\nb\r\n")
        #expect(s.raw("RPOP", "l") == "$1\r\nc\r\n")
        #expect(s.raw("EXISTS", "l") == ":0\r\n")
        #expect(s.raw("LPOP", "l", "2") == "*-1\r\n")
        #expect(s.raw("LPUSHX", "l", "a") == ":0\r\n")
        #expect(s.raw("LPOP", "l", "-1") == "-ERR value is out of range, must be positive\r\n")
        // Many pushes and pops at both ends keep the order.
        for i in 0..<1000 { s.run(i % 2 == 0 ? "LPUSH" : "RPUSH", "q", String(i)) }
        for _ in 0..<499 { s.run("RPOP", "q") }
        #expect(s.raw("LLEN", "q") == ":501\r\n")
        #expect(s.raw("LINDEX", "q", "0") == "$3\r\n998\r\n")
        #expect(s.raw("LINDEX", "q", "-1") == "$1\r\n1\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "q") == "$9\r\nquicklist\r\n")
    }

    @Test func middleChangesAndSearch() {
        var s = session()
        s.run("RPUSH", "l", "a", "b", "a", "c", "a")
        #expect(s.raw("LPOS", "l", "a", "RANK", "-1", "COUNT", "0") == "*3\r\n:4\r\n:2\r\n:0\r\n")
        #expect(s.raw("LPOS", "l", "a", "RANK", "0").hasPrefix("-ERR RANK can't be zero"))
        #expect(s.raw("LREM", "l", "-2", "a") == ":2\r\n")
        #expect(s.raw("LINSERT", "l", "BEFORE", "c", "x") == ":4\r\n")
        #expect(s.raw("LINSERT", "l", "AFTER", "zz", "x") == ":-1\r\n")
        #expect(s.raw("LRANGE", "l", "0", "-1") == "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nx\r\n$1\r\nc\r\n")
        #expect(s.raw("LTRIM", "l", "1", "2") == "+OK\r\n")
        #expect(s.raw("LRANGE", "l", "0", "-1") == "*2\r\n$1\r\nb\r\n$1\r\nx\r\n")
        #expect(s.raw("LMOVE", "l", "m", "RIGHT", "LEFT") == "$1\r\nx\r\n")
        #expect(s.raw("RPOPLPUSH", "l", "l") == "$1\r\nb\r\n")
        #expect(s.raw("LMPOP", "2", "none", "m", "LEFT", "COUNT", "9") == "*2\r\n$1\r\nm\r\n*1\r\n$1\r\nx\r\n")
        s.run("SET", "str", "v")
        #expect(s.raw("LMOVE", "l", "str", "LEFT", "LEFT").hasPrefix("-WRONGTYPE"))
        #expect(s.raw("LLEN", "l") == ":1\r\n")
    }

    @Test func serializeRoundTrip() throws {
        let list = ListObject()
        for i in 0..<50 { if i % 2 == 0 { list.pushFront(Array("\(i)".utf8)) } else { list.pushBack([UInt8](repeating: 0, count: i)) } }
        var buffer = ByteBuffer()
        list.serialize(into: &buffer)
        let decoded = try CollectionObject.deserialize(type: .list, from: &buffer) as! ListObject
        #expect(decoded.allItems == list.allItems)
        var bad = ByteBuffer(bytes: [0, 0])
        #expect(throws: CollectionDecodingError.self) { _ = try CollectionObject.deserialize(type: .list, from: &bad) }
    }
}
