import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Testing

@Suite struct HashCommandsTests {
    let clock = ManualClock()

    func session(_ engine: Engine? = nil, _ version: RESPVersion = .v2) -> EngineSession {
        EngineSession(engine: engine ?? Engine(clock: clock), protocolVersion: version)
    }

    @Test func setGetDeleteAndCounts() {
        var s = session()
        #expect(s.raw("HSET", "h", "a", "1", "b", "2") == ":2\r\n")
        #expect(s.raw("HSET", "h", "a", "3", "c", "4") == ":1\r\n")
        #expect(s.raw("HGET", "h", "a") == "$1\r\n3\r\n")
        #expect(s.raw("HGET", "h", "zz") == "$-1\r\n")
        #expect(s.raw("HGET", "missing", "a") == "$-1\r\n")
        #expect(s.raw("HMGET", "h", "a", "zz", "c") == "*3\r\n$1\r\n3\r\n$-1\r\n$1\r\n4\r\n")
        #expect(s.raw("HLEN", "h") == ":3\r\n")
        #expect(s.raw("HSTRLEN", "h", "c") == ":1\r\n")
        #expect(s.raw("HEXISTS", "h", "b") == ":1\r\n")
        #expect(s.raw("HKEYS", "h") == "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        #expect(s.raw("HGETALL", "h") == "*6\r\n$1\r\na\r\n$1\r\n3\r\n$1\r\nb\r\n$1\r\n2\r\n$1\r\nc\r\n$1\r\n4\r\n")
        #expect(s.raw("HDEL", "h", "a", "zz", "b") == ":2\r\n")
        #expect(s.raw("HDEL", "h", "c") == ":1\r\n")
        // The emptied hash is deleted, as in Redis.
        #expect(s.raw("EXISTS", "h") == ":0\r\n")
        #expect(s.raw("HMSET", "h", "x", "1") == "+OK\r\n")
        #expect(s.raw("HSETNX", "h", "x", "2") == ":0\r\n")
        #expect(s.raw("HSETNX", "h", "y", "2") == ":1\r\n")
    }

    @Test func resp3ShapesAndArity() {
        var s = session(nil, .v3)
        s.run("HSET", "h", "a", "1")
        #expect(s.raw("HGETALL", "h") == "%1\r\n$1\r\na\r\n$1\r\n1\r\n")
        #expect(s.raw("HGETALL", "nothing") == "%0\r\n")
        #expect(s.raw("HGET", "h", "b") == "_\r\n")
        #expect(s.raw("HRANDFIELD", "h", "-2", "WITHVALUES") == "*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n")
        #expect(s.raw("HSET", "h", "a") == "-ERR wrong number of arguments for 'hset' command\r\n")
        #expect(s.raw("HMSET", "h", "a", "1", "b") == "-ERR wrong number of arguments for 'hmset' command\r\n")
    }

    @Test func increments() {
        var s = session()
        #expect(s.raw("HINCRBY", "h", "n", "5") == ":5\r\n")
        #expect(s.raw("HINCRBY", "h", "n", "-7") == ":-2\r\n")
        #expect(s.raw("HINCRBY", "h", "n", "x") == "-ERR value is not an integer or out of range\r\n")
        #expect(s.raw("HINCRBY", "h", "n", "9223372036854775807") == ":9223372036854775805\r\n")
        #expect(s.raw("HINCRBY", "h", "n", "9") == "-ERR increment or decrement would overflow\r\n")
        s.run("HSET", "h", "s", "text")
        #expect(s.raw("HINCRBY", "h", "s", "1") == "-ERR hash value is not an integer\r\n")
        #expect(s.raw("HINCRBYFLOAT", "h", "s", "1") == "-ERR hash value is not a float\r\n")
        #expect(s.raw("HINCRBYFLOAT", "h", "f", "1.5") == "$3\r\n1.5\r\n")
        #expect(s.raw("HINCRBYFLOAT", "h", "f", "abc") == "-ERR value is not a valid float\r\n")
        #expect(s.raw("HINCRBYFLOAT", "h", "f", "inf") == "-ERR value is NaN or Infinity\r\n")
        // Failed increments left the values alone.
        #expect(s.raw("HGET", "h", "s") == "$4\r\ntext\r\n")
        #expect(s.raw("HGET", "h", "f") == "$3\r\n1.5\r\n")
    }

    @Test func wrongTypeBothWays() {
        var s = session()
        s.run("SET", "str", "v")
        s.run("HSET", "h", "f", "v")
        let wrong = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        for command in [["HGET", "str", "f"], ["HSET", "str", "f", "v"], ["HGETALL", "str"], ["HLEN", "str"],
                        ["HSCAN", "str", "0"], ["HRANDFIELD", "str"], ["HINCRBY", "str", "f", "1"]]
        {
            #expect(s.raw(command.map { Array($0.utf8) }) == wrong)
        }
        for command in [["GET", "h"], ["APPEND", "h", "x"], ["STRLEN", "h"], ["INCR", "h"], ["GETRANGE", "h", "0", "1"],
                        ["SETRANGE", "h", "0", "x"], ["GETDEL", "h"], ["GETEX", "h"], ["INCRBYFLOAT", "h", "1"],
                        ["GETSET", "h", "x"], ["SET", "h", "x", "GET"]]
        {
            #expect(s.raw(command.map { Array($0.utf8) }) == wrong)
        }
        #expect(s.raw("MGET", "h", "str") == "*2\r\n$-1\r\n$1\r\nv\r\n")
        #expect(s.raw("TYPE", "h") == "+hash\r\n")
        // SET replaces a hash.
        #expect(s.raw("SET", "h", "plain") == "+OK\r\n")
        #expect(s.raw("GET", "h") == "$5\r\nplain\r\n")
    }

    @Test func encodingConvertsPastTheLimits() {
        var s = session()
        for i in 0..<512 { s.run("HSET", "h", "f\(i)", "v") }
        #expect(s.raw("OBJECT", "ENCODING", "h") == "$8\r\nlistpack\r\n")
        s.run("HSET", "h", "f512", "v")
        #expect(s.raw("OBJECT", "ENCODING", "h") == "$9\r\nhashtable\r\n")
        #expect(s.raw("HLEN", "h") == ":513\r\n")
        s.run("HSET", "long", "f", String(repeating: "x", count: 64))
        #expect(s.raw("OBJECT", "ENCODING", "long") == "$8\r\nlistpack\r\n")
        s.run("HSET", "long", "f", String(repeating: "x", count: 65))
        #expect(s.raw("OBJECT", "ENCODING", "long") == "$9\r\nhashtable\r\n")
        // Conversion is one way.
        s.run("HSET", "long", "f", "short")
        #expect(s.raw("OBJECT", "ENCODING", "long") == "$9\r\nhashtable\r\n")
        // Limits come from the engine settings (CONFIG SET hash-max-listpack-entries).
        s.engine.updateSettings { $0.collectionLimits.hashMaxListpackEntries = 1 }
        s.run("HSET", "small", "a", "1", "b", "2")
        #expect(s.raw("OBJECT", "ENCODING", "small") == "$9\r\nhashtable\r\n")
    }

    @Test func scanCoversEveryFieldOfALargeHash() {
        var s = session()
        for i in 0..<300 { s.run("HSET", "h", "f\(i)", "\(i)") }
        var seen: Set<String> = []
        var cursor = "0"
        var calls = 0
        repeat {
            guard case .array(let reply) = s.run("HSCAN", "h", cursor, "COUNT", "17"),
                case .bulkString(let next) = reply[0], case .array(let items) = reply[1]
            else { Issue.record("bad HSCAN reply"); return }
            cursor = String(decoding: next, as: UTF8.self)
            for case (let i, .bulkString(let field)) in items.enumerated() where i % 2 == 0 {
                seen.insert(String(decoding: field, as: UTF8.self))
            }
            calls += 1
        } while cursor != "0" && calls < 1000
        #expect(seen.count == 300)
        #expect(s.raw("HSCAN", "h", "0", "COUNT", "0") == "-ERR syntax error\r\n")
        #expect(s.raw("HSCAN", "h", "abc") == "-ERR invalid cursor\r\n")
        #expect(s.raw("HSCAN", "missing", "0", "BAD") == "*2\r\n$1\r\n0\r\n*0\r\n")
    }

    @Test func copyRenameMoveSwapAndExpiry() {
        var s = session()
        s.run("HSET", "h", "a", "1")
        #expect(s.raw("COPY", "h", "h2") == ":1\r\n")
        s.run("HSET", "h2", "b", "2")
        #expect(s.raw("HLEN", "h") == ":1\r\n")
        #expect(s.raw("HLEN", "h2") == ":2\r\n")
        for i in 0..<40 {
            #expect(s.raw("RENAME", i == 0 ? "h" : "r\(i - 1)", "r\(i)") == "+OK\r\n")
        }
        #expect(s.raw("HGET", "r39", "a") == "$1\r\n1\r\n")
        #expect(s.raw("MOVE", "r39", "1") == ":1\r\n")
        #expect(s.raw("SWAPDB", "0", "1") == "+OK\r\n")
        #expect(s.raw("HGET", "r39", "a") == "$1\r\n1\r\n")
        #expect(s.raw("SCAN", "0", "TYPE", "hash", "COUNT", "1000") == "*2\r\n$1\r\n0\r\n*1\r\n$3\r\nr39\r\n")
        #expect(s.raw("PEXPIRE", "r39", "100") == ":1\r\n")
        #expect(s.raw("HGET", "r39", "a") == "$1\r\n1\r\n")
        clock.advance(milliseconds: 101)
        #expect(s.raw("HGET", "r39", "a") == "$-1\r\n")
        #expect(s.raw("EXISTS", "r39") == ":0\r\n")
    }

    @Test func memoryIsChargedAndReleased() {
        let engine = Engine(clock: clock)
        var s = session(engine)
        let before = engine.statistics().memoryBytes
        for i in 0..<200 {
            s.run("HSET", "h\(i)", "field", String(repeating: "v", count: 50))
            if i % 2 == 0 { s.run("PEXPIRE", "h\(i)", "1000000") }
        }
        for i in 0..<150 { s.run("HSET", "big", "f\(i)", "value") }
        let loaded = engine.statistics().memoryBytes
        #expect(loaded > before + 200 * 64)
        for i in 0..<100 { s.run("RENAME", "h\(i)", "n\(i)") }
        s.run("COPY", "big", "big2")
        s.run("DEL", "big2")
        s.run("HDEL", "h150", "field")
        s.run("SET", "h151", "string now")
        s.run("FLUSHALL")
        #expect(engine.statistics().memoryBytes == before)
    }

    @Test func objectsSerializeAndDeserializeInBothEncodings() throws {
        for fields in [3, 200] {
            let hash = HashObject()
            for i in 0..<fields {
                Array("f\(i)".utf8).withUnsafeBytes { f in
                    Array("value \(i)".utf8).withUnsafeBytes { v in _ = hash.set(f, v, limits: CollectionLimits()) }
                }
            }
            var buffer = ByteBuffer()
            hash.serialize(into: &buffer)
            buffer.writeString("tail")
            let decoded = try CollectionObject.deserialize(type: .hash, from: &buffer)
            #expect(buffer.readString(length: buffer.readableBytes) == "tail")
            #expect(decoded.encodingName == hash.encodingName)
            #expect(decoded.count == fields)
            let pairs = (decoded as! HashObject).pairs
            #expect(Dictionary(uniqueKeysWithValues: pairs.map { ($0.field, $0.value) })
                == Dictionary(uniqueKeysWithValues: hash.pairs.map { ($0.field, $0.value) }))
        }
    }

    /// What a search index reads without copying: a packed hash lends each asked field's value (nil when absent,
    /// a field asked twice gets it twice, a value equal to a field name is not taken for that field) as pointers
    /// into its own storage, equal to what `withValue` gives; a hashtable-encoded hash lends nothing.
    @Test func packedHashesLendTheirValues() {
        let hash = HashObject()
        // An empty hash (no block yet) lends nil for every field.
        let empty = HashObject()
        let one = UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>.allocate(capacity: 1)
        defer { one.deallocate() }
        one[0] = UnsafeRawBufferPointer(start: nil, count: 0)
        Array("price".utf8).withUnsafeBytes { name in
            #expect([name].withUnsafeBufferPointer { empty.lendValues($0, into: one) })
        }
        #expect(one[0] == nil)
        // Names of equal length that differ in one byte (the walk compares bytes itself below 17 bytes, through
        // memcmp above), and a name longer than that.
        for (field, value) in [("price", "cat"), ("cat", "c7"), ("empty", ""), ("x", "price"),
                               ("a-field-name-over-16-1", "long")] {
            Array(field.utf8).withUnsafeBytes { f in
                Array(value.utf8).withUnsafeBytes { v in _ = hash.set(f, v, limits: CollectionLimits()) }
            }
        }
        let names = ["cat", "missing", "price", "empty", "cat", "x", "cut", "a-field-name-over-16-2",
                     "a-field-name-over-16-1", "pricE"]
        let storage = names.map { Array($0.utf8) }
        let fields = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: names.count)
        let values = UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>.allocate(capacity: names.count)
        defer {
            for field in fields { field.deallocate() }
            fields.deallocate()
            values.deallocate()
        }
        for (i, bytes) in storage.enumerated() {
            let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
            copy.copyBytes(from: bytes)
            fields[i] = UnsafeRawBufferPointer(copy)
        }
        values.initialize(repeating: UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(hash.lendValues(UnsafeBufferPointer(fields), into: values))
        let lent = values.map { $0.map { Array($0) } }
        #expect(lent == [Array("c7".utf8), nil, Array("cat".utf8), [], Array("c7".utf8), Array("price".utf8), nil, nil,
                         Array("long".utf8), nil])
        for (i, field) in fields.enumerated() {
            #expect(hash.withValue(field) { Array($0) } == lent[i], "\(names[i])")
        }
        // Past the listpack limits (a value longer than 64 bytes) the hash holds a dictionary: nothing is lent,
        // the caller copies instead.
        Array("long".utf8).withUnsafeBytes { f in
            [UInt8](repeating: 0x61, count: 100).withUnsafeBytes { v in _ = hash.set(f, v, limits: CollectionLimits()) }
        }
        #expect(!hash.isPacked)
        #expect(!hash.lendValues(UnsafeBufferPointer(fields), into: values))
    }

    @Test func damagedPayloadsAreRejected() {
        let hash = HashObject()
        Array("f".utf8).withUnsafeBytes { f in _ = hash.set(f, f, limits: CollectionLimits()) }
        var good = ByteBuffer()
        hash.serialize(into: &good)
        for cut in 0..<good.readableBytes {
            var truncated = good.getSlice(at: 0, length: cut)!
            #expect(throws: CollectionDecodingError.self) {
                _ = try CollectionObject.deserialize(type: .hash, from: &truncated)
            }
        }
        var badEncoding = ByteBuffer(bytes: [7, 0])
        #expect(throws: CollectionDecodingError.self) {
            _ = try CollectionObject.deserialize(type: .hash, from: &badEncoding)
        }
        var hugeCount = ByteBuffer(bytes: [0, 0xFF, 0xFF, 0xFF, 0x7F])
        #expect(throws: CollectionDecodingError.self) {
            _ = try CollectionObject.deserialize(type: .hash, from: &hugeCount)
        }
        var string = ByteBuffer()
        #expect(throws: CollectionDecodingError.self) {
            _ = try CollectionObject.deserialize(type: .string, from: &string)
        }
    }
}
