import NIOCore
import NIOTestUtils
import NeptuneRESP
import Testing

@Suite struct RESPValueDecoderTests {
    private func decodeOne(_ input: String) throws -> RESPValue? {
        var decoder = RESPValueDecoder()
        var buffer = ByteBuffer(string: input)
        let value = try decoder.decode(buffer: &buffer)
        if value != nil {
            #expect(buffer.readableBytes == 0)
        } else {
            #expect(buffer.readableBytes == input.utf8.count)
        }
        return value
    }

    @Test func verifierEveryReplyType() throws {
        let pairs: [(String, [RESPValue])] = [
            ("+OK\r\n", [.simpleString("OK")]),
            ("-ERR unknown command\r\n", [.error("ERR unknown command")]),
            (":-42\r\n", [.integer(-42)]),
            ("$5\r\nhe\r\no\r\n", [.bulkString(Array("he\r\no".utf8))]),
            ("$0\r\n\r\n", [.bulkString([])]),
            ("$-1\r\n", [.null]),
            ("*-1\r\n", [.null]),
            ("_\r\n", [.null]),
            ("*2\r\n:1\r\n$1\r\na\r\n", [.array([.integer(1), .bulkString([0x61])])]),
            ("*0\r\n", [.array([])]),
            (",1.5\r\n", [.double(1.5)]),
            (",-inf\r\n", [.double(-.infinity)]),
            ("#t\r\n", [.boolean(true)]),
            ("#f\r\n", [.boolean(false)]),
            ("(-34928903284092385093248509438509438\r\n", [.bigNumber("-34928903284092385093248509438509438")]),
            ("!21\r\nSYNTAX invalid syntax\r\n", [.error("SYNTAX invalid syntax")]),
            ("=15\r\ntxt:Some string\r\n", [.verbatimString(format: "txt", text: "Some string")]),
            ("~2\r\n+a\r\n+b\r\n", [.set([.simpleString("a"), .simpleString("b")])]),
            (">2\r\n+pubsub\r\n:1\r\n", [.push([.simpleString("pubsub"), .integer(1)])]),
            ("|1\r\n+ttl\r\n:3600\r\n:7\r\n", [.integer(7)]),
            (
                "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n%1\r\n+inner\r\n~1\r\n#t\r\n",
                [
                    .map([
                        RESPValuePair(key: .simpleString("first"), value: .integer(1)),
                        RESPValuePair(
                            key: .bulkString(Array("second".utf8)),
                            value: .map([RESPValuePair(key: .simpleString("inner"), value: .set([.boolean(true)]))])
                        ),
                    ])
                ]
            ),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(stringInputOutputPairs: pairs) { RESPValueDecoder() }
    }

    @Test func mapsKeepTheirOrder() throws {
        let value = try decodeOne("%3\r\n+z\r\n:1\r\n+a\r\n:2\r\n+m\r\n:3\r\n")
        #expect(value?.mapValue?.map { $0.key.stringValue } == ["z", "a", "m"])
    }

    @Test func partialInputReturnsNilWithoutConsuming() throws {
        let complete = "*3\r\n%1\r\n+k\r\n$3\r\nabc\r\n,0.5\r\n#t\r\n"
        for length in 0..<complete.utf8.count {
            let prefix = String(decoding: complete.utf8.prefix(length), as: UTF8.self)
            #expect(try decodeOne(prefix) == nil)
        }
        #expect(try decodeOne(complete)?.arrayValue?.count == 3)
    }

    @Test func nestingDepthIsLimited() throws {
        let ok = String(repeating: "*1\r\n", count: 100) + ":1\r\n"
        var expected = RESPValue.integer(1)
        for _ in 0..<100 {
            expected = .array([expected])
        }
        #expect(try decodeOne(ok) == expected)
        let tooDeep = String(repeating: "*1\r\n", count: 101) + ":1\r\n"
        #expect(throws: RESPProtocolError.self) { try decodeOne(tooDeep) }
        // The limit applies before the innermost elements arrive, and to every aggregate type.
        #expect(throws: RESPProtocolError.self) { try decodeOne(String(repeating: "%1\r\n+k\r\n", count: 101)) }
    }

    @Test(arguments: [
        "?\r\n", ":abc\r\n", ":\r\n", ":99999999999999999999\r\n", "$-2\r\n", "$x\r\n", "$3\r\nabcXY", "+OK\rX",
        "#x\r\n", ",one\r\n", "_x\r\n", "=2\r\nab\r\n", "(12a\r\n", "%-1\r\n", "~-1\r\n", "$?\r\n",
    ])
    func malformedRepliesThrow(input: String) {
        #expect(throws: RESPProtocolError.self) { try decodeOne(input) }
    }

    @Test func roundTripOfWriterOutput() throws {
        var buffer = ByteBuffer()
        buffer.writeRESPMapHeader(2, .v3)
        buffer.writeRESPBulkString("score")
        buffer.writeRESPDouble(0.1, .v3)
        buffer.writeRESPSimpleString("list")
        buffer.writeRESPArrayHeader(4)
        buffer.writeRESPInteger(Int.min)
        buffer.writeRESPNull(.v3)
        buffer.writeRESPBoolean(false, .v3)
        buffer.writeRESPVerbatimString("hi\r\n", .v3)
        buffer.writeRESPPushHeader(1, .v3)
        buffer.writeRESPError("ERR x")
        buffer.writeRESPSetHeader(1, .v2)
        buffer.writeRESPDouble(.infinity, .v2)

        var decoder = RESPValueDecoder()
        let map = try decoder.decode(buffer: &buffer)
        #expect(
            map
                == .map([
                    RESPValuePair(key: .bulkString(Array("score".utf8)), value: .double(0.1)),
                    RESPValuePair(
                        key: .simpleString("list"),
                        value: .array([
                            .integer(Int64.min), .null, .boolean(false),
                            .verbatimString(format: "txt", text: "hi\r\n"),
                        ])
                    ),
                ])
        )
        #expect(try decoder.decode(buffer: &buffer) == .push([.error("ERR x")]))
        let v2Set = try decoder.decode(buffer: &buffer)
        #expect(v2Set == .array([.bulkString(Array("inf".utf8))]))
        #expect(v2Set?.arrayValue?.first?.doubleValue == .infinity)
        #expect(try decoder.decode(buffer: &buffer) == nil)
    }

    @Test func encodedCommandsDecodeOnBothSides() throws {
        var buffer = ByteBuffer()
        buffer.writeRESPCommand(["SET", "key", "välue"])
        buffer.writeRESPCommand([[0x00, 0x0D, 0x0A], []])
        buffer.writeRESPCommand([ByteBuffer(string: "PING")])
        #expect(
            String(buffer: buffer)
                == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$6\r\nvälue\r\n*2\r\n$3\r\n\0\r\n\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n"
        )
        var commandDecoder = RESPCommandDecoder()
        var commands = buffer
        #expect(try commandDecoder.decode(buffer: &commands)?.arguments.last == ByteBuffer(string: "välue"))
        let binary = try commandDecoder.decode(buffer: &commands)
        #expect(binary?.arguments == [ByteBuffer(bytes: [0x00, 0x0D, 0x0A]), ByteBuffer()])
        #expect(try commandDecoder.decode(buffer: &commands) == RESPCommand(arguments: [ByteBuffer(string: "PING")]))

        var valueDecoder = RESPValueDecoder()
        #expect(
            try valueDecoder.decode(buffer: &buffer)
                == .array([
                    .bulkString(Array("SET".utf8)), .bulkString(Array("key".utf8)),
                    .bulkString(Array("välue".utf8)),
                ])
        )
    }

    @Test func accessors() {
        #expect(RESPValue.bulkString(Array("12".utf8)).stringValue == "12")
        #expect(RESPValue.bulkString(Array("1.5".utf8)).doubleValue == 1.5)
        #expect(RESPValue.integer(7).intValue == 7)
        #expect(RESPValue.simpleString("7").intValue == nil)
        #expect(RESPValue.integer(1).boolValue == true)
        #expect(RESPValue.integer(2).boolValue == nil)
        #expect(RESPValue.error("ERR x").errorMessage == "ERR x")
        #expect(RESPValue.error("ERR x").stringValue == nil)
        #expect(RESPValue.null.isNull)
        #expect(RESPValue.set([.integer(1)]).arrayValue == [.integer(1)])
        let pairs = RESPValue.array([.integer(1), .integer(2)]).mapValue
        #expect(pairs == [RESPValuePair(key: .integer(1), value: .integer(2))])
        #expect(RESPValue.array([.integer(1)]).mapValue == nil)
        #expect(RESPValue.verbatimString(format: "txt", text: "t").bytesValue == [0x74])
    }
}
