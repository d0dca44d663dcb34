import NIOCore
import NeptuneRESP
import Testing

@Suite struct RESPReplyWriterTests {
    /// Runs `write` on an empty buffer and returns what it wrote as text (the replies here are ASCII).
    private func written(_ write: (inout ByteBuffer) -> Void) -> String {
        var buffer = ByteBuffer()
        write(&buffer)
        return String(buffer: buffer)
    }

    @Test func simpleStrings() {
        #expect(written { $0.writeRESPSimpleString("OK") } == "+OK\r\n")
        #expect(written { $0.writeRESPSimpleString(String("QUEUED")) } == "+QUEUED\r\n")
    }

    /// The writers append at the writer index, grow a full buffer, copy a shared one instead of writing into the
    /// other copy, and write after a slice's own bytes.
    @Test func writersAppendGrowAndCopyOnWrite() {
        var buffer = ByteBuffer()
        buffer.writeString("abcd")
        buffer.moveReaderIndex(forwardBy: 1)
        let shared = buffer
        buffer.writeRESPSimpleString("OK")
        buffer.writeRESPNull(.v2)
        buffer.writeRESPInteger(-12)
        Array("xy".utf8).withUnsafeBytes { buffer.writeRESPBulkString($0) }
        buffer.writeRESPBoolean(true, .v3)
        #expect(String(buffer: buffer) == "bcd+OK\r\n$-1\r\n:-12\r\n$2\r\nxy\r\n#t\r\n")
        #expect(String(buffer: shared) == "bcd")
        let parent = ByteBuffer(string: "0123456789")
        var slice = parent.getSlice(at: 2, length: 3)!
        slice.writeRESPNull(.v3)
        slice.writeRESPSimpleString(String(repeating: "s", count: 2000))
        #expect(String(buffer: slice) == "234_\r\n+" + String(repeating: "s", count: 2000) + "\r\n")
        #expect(String(buffer: parent) == "0123456789")
    }

    @Test func errorsKeepTheirPrefixAndLoseLineBreaks() {
        #expect(written { $0.writeRESPError("ERR syntax error") } == "-ERR syntax error\r\n")
        #expect(
            written { $0.writeRESPError("WRONGTYPE Operation against a key") }
                == "-WRONGTYPE Operation against a key\r\n"
        )
        #expect(written { $0.writeRESPError("ERR bad\r\nthing\n") } == "-ERR bad  thing \r\n")
        #expect(written { $0.writeRESPError("") } == "-\r\n")
    }

    @Test func protocolErrorsGetTheERRPrefixAndExactBytes() {
        #expect(
            written { $0.writeRESPError(RESPProtocolError.invalidBulkLength) }
                == "-ERR Protocol error: invalid bulk length\r\n"
        )
        var buffer = ByteBuffer()
        buffer.writeRESPError(RESPProtocolError.expectedDollar(got: 0xFF))
        #expect(
            Array(buffer.readableBytesView) == Array("-ERR Protocol error: expected '$', got '".utf8)
                + [0xFF] + Array("'\r\n".utf8)
        )
        #expect(
            RESPProtocolError.expectedDollar(got: UInt8(ascii: "\r")).message
                == "Protocol error: expected '$', got ' '"
        )
    }

    @Test(arguments: [
        (0, ":0\r\n"), (1, ":1\r\n"), (9, ":9\r\n"), (10, ":10\r\n"), (-1, ":-1\r\n"), (123, ":123\r\n"),
        (-9_999, ":-9999\r\n"), (Int.max, ":9223372036854775807\r\n"), (Int.min, ":-9223372036854775808\r\n"),
    ])
    func integers(value: Int, expected: String) {
        #expect(written { $0.writeRESPInteger(value) } == expected)
    }

    @Test func bulkStringsFromEverySource() {
        let payload: [UInt8] = [0x61, 0x0D, 0x0A, 0x00, 0xFF]
        let expected = Array("$5\r\n".utf8) + payload + Array("\r\n".utf8)
        var fromArray = ByteBuffer()
        fromArray.writeRESPBulkString(payload)
        #expect(Array(fromArray.readableBytesView) == expected)

        var fromPointer = ByteBuffer()
        payload.withUnsafeBytes { fromPointer.writeRESPBulkString($0) }
        #expect(Array(fromPointer.readableBytesView) == expected)

        var source = ByteBuffer(bytes: [9, 9] + payload)
        source.moveReaderIndex(forwardBy: 2)
        var fromBuffer = ByteBuffer()
        fromBuffer.writeRESPBulkString(source)
        #expect(Array(fromBuffer.readableBytesView) == expected)
        #expect(source.readableBytes == payload.count)

        #expect(written { $0.writeRESPBulkString(String("héllo")) } == "$6\r\nhéllo\r\n")
        #expect(written { $0.writeRESPBulkString("") } == "$0\r\n\r\n")
        #expect(written { $0.writeRESPBulkString(StaticString("bar")) } == "$3\r\nbar\r\n")
        #expect(written { $0.writeRESPBulkString([UInt8]()) } == "$0\r\n\r\n")
    }

    @Test func nulls() {
        #expect(written { $0.writeRESPNull(.v2) } == "$-1\r\n")
        #expect(written { $0.writeRESPNull(.v3) } == "_\r\n")
        #expect(written { $0.writeRESPNullArray(.v2) } == "*-1\r\n")
        #expect(written { $0.writeRESPNullArray(.v3) } == "_\r\n")
    }

    @Test func aggregateHeaders() {
        #expect(written { $0.writeRESPArrayHeader(0) } == "*0\r\n")
        #expect(written { $0.writeRESPArrayHeader(3) } == "*3\r\n")
        #expect(written { $0.writeRESPMapHeader(2, .v2) } == "*4\r\n")
        #expect(written { $0.writeRESPMapHeader(2, .v3) } == "%2\r\n")
        #expect(written { $0.writeRESPSetHeader(5, .v2) } == "*5\r\n")
        #expect(written { $0.writeRESPSetHeader(5, .v3) } == "~5\r\n")
        #expect(written { $0.writeRESPPushHeader(3, .v2) } == "*3\r\n")
        #expect(written { $0.writeRESPPushHeader(3, .v3) } == ">3\r\n")
    }

    @Test(arguments: [
        (1.5, "1.5"), (0.1, "0.10000000000000001"), (1e300, "1.0000000000000001e+300"), (-0.0, "-0"),
        (0.0, "0"), (3.0, "3"), (-2.5e-7, "-2.4999999999999999e-07"), (Double.infinity, "inf"),
        (-Double.infinity, "-inf"), (123456789012345678.0, "1.2345678901234568e+17"),
    ])
    func doubles(value: Double, text: String) {
        #expect(RESPFormat.double17g(value) == text)
        #expect(written { $0.writeRESPDouble(value, .v2) } == "$\(text.utf8.count)\r\n\(text)\r\n")
        #expect(written { $0.writeRESPDouble(value, .v3) } == ",\(text)\r\n")
    }

    @Test func nanUsesTheCLibrarySpelling() {
        #expect(RESPFormat.double17g(.nan) == "nan" || RESPFormat.double17g(.nan) == "-nan")
    }

    @Test func booleans() {
        #expect(written { $0.writeRESPBoolean(true, .v2) } == ":1\r\n")
        #expect(written { $0.writeRESPBoolean(false, .v2) } == ":0\r\n")
        #expect(written { $0.writeRESPBoolean(true, .v3) } == "#t\r\n")
        #expect(written { $0.writeRESPBoolean(false, .v3) } == "#f\r\n")
    }

    @Test func verbatimStrings() {
        #expect(written { $0.writeRESPVerbatimString("# Server\r\n", .v2) } == "$10\r\n# Server\r\n\r\n")
        #expect(written { $0.writeRESPVerbatimString("# Server\r\n", .v3) } == "=14\r\ntxt:# Server\r\n\r\n")
        #expect(written { $0.writeRESPVerbatimString("", .v3) } == "=4\r\ntxt:\r\n")
    }
}
