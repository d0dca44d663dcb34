import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Testing

@Suite struct SortedSetCommandsTests {
    func session(_ version: RESPVersion = .v2) -> EngineSession {
        EngineSession(engine: Engine(clock: ManualClock()), protocolVersion: version)
    }

    @Test func addOptionsAndErrors() {
        var s = session()
        #expect(s.raw("ZADD", "z", "1", "a", "2", "b") == ":2\r\n")
        #expect(s.raw("ZADD", "z", "CH", "5", "a", "2", "b", "3", "c") == ":2\r\n")
        #expect(s.raw("ZADD", "z", "GT", "CH", "1", "a") == ":0\r\n")
        #expect(s.raw("ZADD", "z", "XX", "INCR", "1", "nope") == "$-1\r\n")
        #expect(s.raw("ZADD", "z", "INCR", "0.5", "a") == "$3\r\n5.5\r\n")
        #expect(s.raw("ZADD", "z", "NX", "XX", "1", "a") == "-ERR XX and NX options at the same time are not compatible\r\n")
        #expect(s.raw("ZADD", "z", "GT", "LT", "1", "a")
            == "-ERR GT, LT, and/or NX options at the same time are not compatible\r\n")
        #expect(s.raw("ZADD", "z", "INCR", "1", "a", "2", "b")
            == "-ERR INCR option supports a single increment-element pair\r\n")
        #expect(s.raw("ZADD", "z", "1", "a", "x", "b") == "-ERR value is not a valid float\r\n")
        #expect(s.raw("ZADD", "z", "NX", "1") == "-ERR syntax error\r\n")
        #expect(s.raw("ZADD", "z", "inf", "i") == ":1\r\n")
        #expect(s.raw("ZINCRBY", "z", "-inf", "i") == "-ERR resulting score is not a number (NaN)\r\n")
        // Nothing changed by the failed commands.
        #expect(s.raw("ZRANGE", "z", "0", "-1", "WITHSCORES")
            == "*8\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n3\r\n$1\r\na\r\n$3\r\n5.5\r\n$1\r\ni\r\n$3\r\ninf\r\n")
    }

    @Test func rangesInBothProtocols() {
        var s = session(.v3)
        s.run("ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d")
        #expect(s.raw("ZRANGE", "z", "(1", "3", "BYSCORE", "WITHSCORES") == "*2\r\n*2\r\n$1\r\nb\r\n,2\r\n*2\r\n$1\r\nc\r\n,3\r\n")
        #expect(s.raw("ZRANGE", "z", "+inf", "-inf", "BYSCORE", "REV", "LIMIT", "1", "2")
            == "*2\r\n$1\r\nc\r\n$1\r\nb\r\n")
        #expect(s.raw("ZRANGE", "z", "0", "1", "REV") == "*2\r\n$1\r\nd\r\n$1\r\nc\r\n")
        #expect(s.raw("ZRANGE", "z", "0", "-1", "LIMIT", "0", "1")
            == "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n")
        #expect(s.raw("ZRANGEBYLEX", "z", "[b", "(d") == "*2\r\n$1\r\nb\r\n$1\r\nc\r\n")
        #expect(s.raw("ZRANGEBYLEX", "z", "b", "d") == "-ERR min or max not valid string range item\r\n")
        #expect(s.raw("ZCOUNT", "z", "x", "1") == "-ERR min or max is not a float\r\n")
        #expect(s.raw("ZSCORE", "z", "c") == ",3\r\n")
        #expect(s.raw("ZRANK", "z", "c") == ":2\r\n")
        #expect(s.raw("ZREVRANK", "z", "c") == ":1\r\n")
        #expect(s.raw("ZPOPMIN", "z") == "*2\r\n$1\r\na\r\n,1\r\n")
        #expect(s.raw("ZPOPMAX", "z", "2") == "*2\r\n*2\r\n$1\r\nd\r\n,4\r\n*2\r\n$1\r\nc\r\n,3\r\n")
        #expect(s.raw("ZMPOP", "2", "none", "z", "MIN", "COUNT", "5") == "*2\r\n$1\r\nz\r\n*1\r\n*2\r\n$1\r\nb\r\n,2\r\n")
        #expect(s.raw("EXISTS", "z") == ":0\r\n")
        #expect(s.raw("ZMPOP", "1", "z", "MIN") == "_\r\n")
    }

    @Test func setOperationsAcceptPlainSets() {
        var s = session()
        s.run("ZADD", "a", "1", "x", "2", "y")
        s.run("SADD", "b", "y", "z")
        #expect(s.raw("ZUNION", "2", "a", "b", "WITHSCORES")
            == "*6\r\n$1\r\nx\r\n$1\r\n1\r\n$1\r\nz\r\n$1\r\n1\r\n$1\r\ny\r\n$1\r\n3\r\n")
        #expect(s.raw("ZINTERSTORE", "d", "2", "a", "b", "WEIGHTS", "10", "1", "AGGREGATE", "MAX") == ":1\r\n")
        #expect(s.raw("ZSCORE", "d", "y") == "$2\r\n20\r\n")
        #expect(s.raw("ZDIFF", "2", "a", "b") == "*1\r\n$1\r\nx\r\n")
        #expect(s.raw("ZINTERCARD", "2", "a", "b", "LIMIT", "5") == ":1\r\n")
        #expect(s.raw("ZUNION", "0", "a") == "-ERR at least 1 input key is needed for 'zunion' command\r\n")
        s.run("SET", "str", "v")
        #expect(s.raw("ZUNION", "2", "a", "str").hasPrefix("-WRONGTYPE"))
    }

    @Test func encodingsConvertAndScoresFormat() {
        var s = session()
        for i in 0..<128 { s.run("ZADD", "z", String(i), "m\(i)") }
        #expect(s.raw("OBJECT", "ENCODING", "z") == "$8\r\nlistpack\r\n")
        s.run("ZADD", "z", "0.5", "extra")
        #expect(s.raw("OBJECT", "ENCODING", "z") == "$8\r\nskiplist\r\n")
        #expect(s.raw("ZRANK", "z", "extra") == ":1\r\n")
        #expect(s.raw("ZRANGE", "z", "1", "1") == "*1\r\n$5\r\nextra\r\n")
        s.run("ZADD", "small", "123456789012345678", "a", "-0", "b")
        #expect(s.raw("ZSCAN", "small", "0")
            == "*2\r\n$1\r\n0\r\n*4\r\n$1\r\nb\r\n$1\r\n0\r\n$1\r\na\r\n$18\r\n123456789012345680\r\n")
    }

    /// The skip list against a sorted array model: ranks, lookups and deletions agree after random changes.
    @Test func skipListMatchesAModel() {
        var rng = SeededGenerator(seed: 7)
        let zset = SortedSetObject()
        zset.convertToSkiplist()
        var model: [String: Double] = [:]
        for _ in 0..<3000 {
            let member = "m\(Int.random(in: 0..<300, using: &rng))"
            if Bool.random(using: &rng) {
                let score = Double(Int.random(in: -20...20, using: &rng)) / 2
                zset.set(Array(member.utf8), score, limits: CollectionLimits())
                model[member] = score
            } else {
                #expect(zset.remove(Array(member.utf8)) == (model.removeValue(forKey: member) != nil))
            }
        }
        let expected = model.sorted { x, y in
            x.value != y.value ? x.value < y.value : Array(x.key.utf8).lexicographicallyPrecedes(Array(y.key.utf8))
        }
        let actual = zset.allElements
        #expect(actual.map { String(decoding: $0.member, as: UTF8.self) } == expected.map { $0.key })
        for (rank, element) in actual.enumerated() where rank % 7 == 0 {
            #expect(zset.rank(element.member) == rank)
            #expect(zset.elements(fromRank: rank, count: 1) == [element])
        }
    }

    @Test func serializeRoundTrip() throws {
        for size in [3, 300] {
            let zset = SortedSetObject()
            for i in 0..<size { zset.set(Array("m\(i)".utf8), Double(i % 17) / 3, limits: CollectionLimits()) }
            var buffer = ByteBuffer()
            zset.serialize(into: &buffer)
            let decoded = try CollectionObject.deserialize(type: .zset, from: &buffer) as! SortedSetObject
            #expect(decoded.encodingName == zset.encodingName)
            #expect(decoded.allElements == zset.allElements)
        }
        var nan = ByteBuffer(bytes: [0, 1, 1, UInt8(ascii: "a")])
        nan.writeInteger(Double.nan.bitPattern, endianness: .little)
        #expect(throws: CollectionDecodingError.self) { _ = try CollectionObject.deserialize(type: .zset, from: &nan) }
    }
}
