import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

@Suite struct SetCommandsTests {
    func session(_ version: RESPVersion = .v2) -> EngineSession {
        EngineSession(engine: Engine(clock: ManualClock()), protocolVersion: version)
    }

    @Test func membershipAndEncodings() {
        var s = session()
        #expect(s.raw("SADD", "s", "3", "1", "2", "1") == ":3\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "s") == "$6\r\nintset\r\n")
        // An intset replies in ascending order; "007" is not a canonical integer and converts the set.
        #expect(s.raw("SMEMBERS", "s") == "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$1\r\n3\r\n")
        #expect(s.raw("SADD", "s", "007") == ":1\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "s") == "$9\r\nhashtable\r\n")
        #expect(s.raw("SISMEMBER", "s", "007") == ":1\r\n")
        #expect(s.raw("SISMEMBER", "s", "7") == ":0\r\n")
        #expect(s.raw("SMISMEMBER", "s", "1", "x") == "*2\r\n:1\r\n:0\r\n")
        #expect(s.raw("SREM", "s", "1", "2", "3", "007") == ":4\r\n")
        #expect(s.raw("EXISTS", "s") == ":0\r\n")
        for i in 0..<512 { s.run("SADD", "big", String(i)) }
        #expect(s.raw("OBJECT", "ENCODING", "big") == "$6\r\nintset\r\n")
        s.run("SADD", "big", "512")
        #expect(s.raw("OBJECT", "ENCODING", "big") == "$9\r\nhashtable\r\n")
        #expect(s.raw("SCARD", "big") == ":513\r\n")
    }

    @Test func algebraAndStores() {
        var s = session(.v3)
        s.run("SADD", "a", "1", "2", "3")
        s.run("SADD", "b", "2", "3", "4")
        s.run("SET", "str", "x")
        #expect(s.raw("SINTER", "a", "b") == "~2\r\n$1\r\n2\r\n$1\r\n3\r\n")
        #expect(s.raw("SINTER", "a", "missing", "str").hasPrefix("-WRONGTYPE"))
        #expect(s.raw("SDIFF", "a", "b") == "~1\r\n$1\r\n1\r\n")
        #expect(s.raw("SUNIONSTORE", "u", "a", "b") == ":4\r\n")
        #expect(s.raw("OBJECT", "ENCODING", "u") == "$6\r\nintset\r\n")
        #expect(s.raw("SINTERSTORE", "u", "a", "missing") == ":0\r\n")
        #expect(s.raw("EXISTS", "u") == ":0\r\n")
        #expect(s.raw("SINTERCARD", "2", "a", "b", "LIMIT", "1") == ":1\r\n")
        #expect(s.raw("SINTERCARD", "3", "a", "b") == "-ERR Number of keys can't be greater than number of args\r\n")
        #expect(s.raw("SINTERCARD", "0", "a") == "-ERR numkeys should be greater than 0\r\n")
        #expect(s.raw("SINTERCARD", "1", "a", "LIMIT", "-1") == "-ERR LIMIT can't be negative\r\n")
    }

    @Test func popMoveAndRandom() {
        var s = session()
        s.run("SADD", "a", "1", "2", "3")
        #expect(s.raw("SMOVE", "a", "b", "2") == ":1\r\n")
        #expect(s.raw("SMOVE", "a", "b", "9") == ":0\r\n")
        #expect(s.raw("SMOVE", "missing", "b", "1") == ":0\r\n")
        s.run("SET", "str", "x")
        #expect(s.raw("SMOVE", "a", "str", "1").hasPrefix("-WRONGTYPE"))
        #expect(s.raw("SCARD", "a") == ":2\r\n")
        #expect(s.raw("SPOP", "a", "-1") == "-ERR value is out of range, must be positive\r\n")
        #expect(s.raw("SPOP", "a", "0") == "*0\r\n")
        #expect(s.raw("SPOP", "a", "5") == "*2\r\n$1\r\n1\r\n$1\r\n3\r\n")
        #expect(s.raw("EXISTS", "a") == ":0\r\n")
        #expect(s.raw("SPOP", "a") == "$-1\r\n")
        #expect(s.raw("SRANDMEMBER", "b", "-3") == "*3\r\n$1\r\n2\r\n$1\r\n2\r\n$1\r\n2\r\n")
        #expect(s.raw("SRANDMEMBER", "b", "2", "x") == "-ERR syntax error\r\n")
    }

    @Test func spopIsJournaledAsTheMembersRemoved() {
        let journal = RecordingJournal()
        let engine = Engine(clock: ManualClock())
        engine.attachJournal(journal)
        var s = EngineSession(engine: engine)
        s.run("SADD", "a", "x", "y", "z")
        s.run("SPOP", "a", "2")
        s.run("SPOP", "missing")
        let records = journal.records.withLock { $0 }
        #expect(records.count == 2)
        let srem = records[1].arguments.map { String(decoding: $0, as: UTF8.self) }
        #expect(srem.prefix(2) == ["SREM", "a"] && srem.count == 4)
    }

    @Test func serializeRoundTrip() throws {
        for members in [["1", "5", "-3"], ["a", "b", "1"], (0..<600).map(String.init)] {
            let set = SetObject()
            for m in members { _ = set.add(Array(m.utf8), limits: CollectionLimits()) }
            var buffer = ByteBuffer()
            set.serialize(into: &buffer)
            let decoded = try CollectionObject.deserialize(type: .set, from: &buffer) as! SetObject
            #expect(buffer.readableBytes == 0)
            #expect(decoded.encodingName == set.encodingName)
            #expect(Set(decoded.allMembers) == Set(members.map { Array($0.utf8) }))
        }
        var notAnInteger = ByteBuffer(bytes: [0, 1, 1, UInt8(ascii: "x")])
        #expect(throws: CollectionDecodingError.self) {
            _ = try CollectionObject.deserialize(type: .set, from: &notAnInteger)
        }
    }
}
