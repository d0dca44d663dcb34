import NIOCore
import NIOEmbedded
import NIOTestUtils
import NeptuneRESP
import Testing

@Suite struct RESPCommandDecoderTests {
    private func command(_ arguments: String..., inline: Bool = false) -> RESPCommand {
        RESPCommand(arguments: arguments.map { ByteBuffer(string: $0) }, isInline: inline)
    }

    /// What a decoder makes of `input`: the commands before the first error, and that error.
    private struct Outcome: Equatable {
        var commands: [RESPCommand] = []
        var error: RESPProtocolError? = nil
        var unconsumed = 0
    }

    /// Feeds `input` all at once and also byte by byte; both ways must agree, and the agreed outcome is returned.
    private func decode(
        _ input: [UInt8],
        limits: RESPDecoderLimits = .init(),
        isAuthenticated: Bool = true
    ) -> Outcome {
        func run(chunkSize: Int) -> Outcome {
            var decoder = RESPCommandDecoder(limits: limits, isAuthenticated: isAuthenticated)
            var outcome = Outcome()
            var buffer = ByteBuffer()
            var offset = 0
            repeat {
                let end = min(offset + chunkSize, input.count)
                buffer.writeBytes(input[offset..<end])
                offset = end
                do {
                    while let command = try decoder.decode(buffer: &buffer) {
                        outcome.commands.append(command)
                    }
                } catch let error as RESPProtocolError {
                    outcome.error = error
                    return outcome
                } catch {
                    Issue.record("unexpected error \(error)")
                    return outcome
                }
            } while offset < input.count
            outcome.unconsumed = buffer.readableBytes
            return outcome
        }
        let allAtOnce = run(chunkSize: max(input.count, 1))
        let byteByByte = run(chunkSize: 1)
        #expect(allAtOnce.commands == byteByByte.commands)
        #expect(allAtOnce.error == byteByByte.error)
        #expect(allAtOnce.unconsumed == byteByByte.unconsumed)
        return allAtOnce
    }

    private func decode(_ input: String, isAuthenticated: Bool = true) -> Outcome {
        self.decode(Array(input.utf8), isAuthenticated: isAuthenticated)
    }

    // MARK: Well-formed input, checked with NIO's verifier

    @Test func verifierMultibulkAndInline() throws {
        let pairs: [(String, [RESPCommand])] = [
            ("*1\r\n$4\r\nPING\r\n", [command("PING")]),
            ("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n", [command("SET", "key", "value")]),
            ("*2\r\n$3\r\nGET\r\n$0\r\n\r\n", [command("GET", "")]),
            ("PING\r\n", [command("PING", inline: true)]),
            ("SET k \"hello world\"\n", [command("SET", "k", "hello world", inline: true)]),
            ("SET k 'it\\'s' \"a\\x41\\n\"\r\n", [command("SET", "k", "it's", "aA\n", inline: true)]),
            ("*0\r\n", []),
            ("*-1\r\n", []),
            ("\r\n", []),
            ("   \t \n", []),
            ("*1\r\n$4\r\nECHO\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\n", [command("ECHO"), command("ECHO", "hi")]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(stringInputOutputPairs: pairs) { RESPCommandDecoder() }
    }

    @Test func verifierBinarySafeValues() throws {
        let value: [UInt8] = [0x00, 0x0D, 0x0A, 0x2A, 0x24, 0xFF, 0x0D, 0x0A, 0x00]
        var input = ByteBuffer(string: "*3\r\n$3\r\nSET\r\n$4\r\nk\0\r\n\r\n$9\r\n")
        input.writeBytes(value)
        input.writeString("\r\n")
        let expected = RESPCommand(
            arguments: [
                ByteBuffer(string: "SET"), ByteBuffer(bytes: [0x6B, 0x00, 0x0D, 0x0A]), ByteBuffer(bytes: value),
            ]
        )
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(input, [expected])]) {
            RESPCommandDecoder()
        }
    }

    @Test func pipelinedCommandsInOneRead() {
        var input = ""
        for index in 0..<100 {
            input += "*2\r\n$4\r\nINCR\r\n$\(String(index).utf8.count)\r\n\(index)\r\n"
            if index % 10 == 0 {
                input += "PING\r\n*0\r\n\r\n"
            }
        }
        let outcome = decode(input)
        #expect(outcome.error == nil)
        #expect(outcome.commands.count == 110)
        #expect(outcome.commands.first == command("INCR", "0"))
        #expect(outcome.commands[1] == command("PING", inline: true))
        #expect(outcome.commands.last == command("INCR", "99"))
        #expect(outcome.unconsumed == 0)
    }

    @Test func incompleteInputWaitsWithoutConsuming() {
        let outcome = decode("*2\r\n$3\r\nGET\r\n$5\r\nhel")
        #expect(outcome.commands.isEmpty)
        #expect(outcome.error == nil)
        // "*2\r\n" and the first element are consumed; no part of the incomplete second element is.
        #expect(outcome.unconsumed == "$5\r\nhel".utf8.count)
        #expect(decode("PING").unconsumed == 4)
        #expect(decode("*1\r").unconsumed == 3)
    }

    @Test func bulkTerminatorIsSkippedUnchecked() {
        // Redis skips the two bytes after a bulk value without checking that they are CRLF.
        let outcome = decode("*1\r\n$3\r\nfooXYPING\r\n")
        #expect(outcome.commands == [command("foo"), command("PING", inline: true)])
        // The same for the byte after the '\r' of a count line.
        #expect(decode("*1\rX$1\rXa\r\n").commands == [command("a")])
    }

    @Test func inlineLineKeepsBinaryBytesAndDropsOnlyOneCarriageReturn() {
        #expect(
            decode(Array("SET k ".utf8) + [0xFF, 0xFE] + [0x0A]).commands.first?.arguments.last
                == ByteBuffer(bytes: [0xFF, 0xFE])
        )
        #expect(decode("\"a\r\"\r\r\n").commands == [command("a\r", inline: true)])
    }

    @Test func nulStopsTheLineSearchLikeStrchr() {
        // Redis looks for the end of line with strchr, which stops at NUL: such a line never completes.
        let outcome = decode(Array("PI".utf8) + [0] + Array("NG\r\nPING\r\n".utf8))
        #expect(outcome.commands.isEmpty)
        #expect(outcome.error == nil)
        let tooBig = decode(Array("PI".utf8) + [0] + Array(repeating: 0x0A, count: 64 * 1024))
        #expect(tooBig.error == .tooBigInlineRequest)
    }

    @Test func maximumIntegerForms() {
        #expect(decode("*1\r\n$01\r\nx\r\n").error == .invalidBulkLength)
        #expect(decode("*01\r\n").error == .invalidMultibulkLength)
        #expect(decode("*-0\r\n").error == .invalidMultibulkLength)
        #expect(decode("*+1\r\n").error == .invalidMultibulkLength)
        #expect(decode("* 1\r\n").error == .invalidMultibulkLength)
        #expect(decode("*\r\n").error == .invalidMultibulkLength)
        #expect(decode("*-\r\n").error == .invalidMultibulkLength)
        #expect(decode("*1\r\n$+3\r\nfoo\r\n").error == .invalidBulkLength)
        #expect(decode("*1\r\n$3 \r\nfoo\r\n").error == .invalidBulkLength)
        #expect(decode("*-9223372036854775808\r\nPING\r\n").commands == [command("PING", inline: true)])
        #expect(decode("*-9223372036854775809\r\n").error == .invalidMultibulkLength)
        #expect(decode("*1\r\n$00000000000000000000\r\n").error == .invalidBulkLength)
    }

    // MARK: Protocol errors, with Redis's exact messages

    @Test func inlineErrors() {
        #expect(decode("SET k \"abc\r\n").error?.message == "Protocol error: unbalanced quotes in request")
        #expect(decode("SET k 'abc'def\r\n").error == .unbalancedQuotes)
        let long = decode(Array(repeating: UInt8(ascii: "x"), count: 64 * 1024 + 1))
        #expect(long.error?.message == "Protocol error: too big inline request")
        let exactlyAtLimit = decode(Array(repeating: UInt8(ascii: "x"), count: 64 * 1024))
        #expect(exactlyAtLimit.error == nil)
        #expect(exactlyAtLimit.unconsumed == 64 * 1024)
    }

    @Test func multibulkCountErrors() {
        #expect(decode("*abc\r\n").error?.message == "Protocol error: invalid multibulk length")
        #expect(decode("*1048577\r\n").error == .invalidMultibulkLength)
        #expect(decode("*99999999999999999999\r\n").error == .invalidMultibulkLength)
        #expect(decode("*1048576\r\n").error == nil)
        let tooBig = decode([UInt8(ascii: "*")] + Array(repeating: UInt8(ascii: "9"), count: 64 * 1024))
        #expect(tooBig.error?.message == "Protocol error: too big mbulk count string")
    }

    @Test func bulkErrors() {
        #expect(decode("*1\r\nX\r\n").error?.message == "Protocol error: expected '$', got 'X'")
        #expect(decode("*2\r\n$1\r\na\r\n:1\r\n").error == .expectedDollar(got: UInt8(ascii: ":")))
        #expect(decode("*1\r\n\r\n").error?.message == "Protocol error: expected '$', got ' '")
        #expect(decode("*1\r\n$-1\r\n").error?.message == "Protocol error: invalid bulk length")
        #expect(decode("*1\r\n$abc\r\n").error == .invalidBulkLength)
        #expect(decode("*1\r\n$536870913\r\n").error == .invalidBulkLength)
        #expect(decode("*1\r\n$536870912\r\n").error == nil)
        let tooBig = decode(Array("*1\r\n$".utf8) + Array(repeating: UInt8(ascii: "1"), count: 64 * 1024))
        #expect(tooBig.error?.message == "Protocol error: too big bulk count string")
    }

    @Test func twoGigabyteBulkFailsBeforeItsBytesArrive() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer(string: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648\r\n")
        #expect(throws: RESPProtocolError.invalidBulkLength) { try decoder.decode(buffer: &buffer) }
    }

    @Test func customLimits() throws {
        let limits = RESPDecoderLimits(maxBulkLength: 4, maxMultibulkLength: 2, maxInlineLength: 8)
        #expect(decode(Array("*2\r\n$4\r\nabcd\r\n$1\r\ne\r\n".utf8), limits: limits).commands.count == 1)
        #expect(decode(Array("*3\r\n".utf8), limits: limits).error == .invalidMultibulkLength)
        #expect(decode(Array("*1\r\n$5\r\n".utf8), limits: limits).error == .invalidBulkLength)
        #expect(decode(Array("GET abcdef".utf8), limits: limits).error == .tooBigInlineRequest)
        #expect(decode(Array("GET abc\r\n".utf8), limits: limits).commands.count == 1)
        // As in Redis, the limit applies to what is buffered when no line end is found, so whether a line one
        // byte over the limit passes depends on how it is split into reads.
        var decoder = RESPCommandDecoder(limits: limits)
        var whole = ByteBuffer(string: "GET abcd\r\n")
        #expect(try decoder.decode(buffer: &whole)?.arguments.count == 2)
        var partial = ByteBuffer(string: "GET abcd\r")
        #expect(throws: RESPProtocolError.tooBigInlineRequest) { try decoder.decode(buffer: &partial) }
    }

    @Test func unauthenticatedLimits() {
        #expect(
            decode("*11\r\n", isAuthenticated: false).error?.message
                == "Protocol error: unauthenticated multibulk length"
        )
        #expect(decode("*10\r\n", isAuthenticated: false).error == nil)
        #expect(decode("*11\r\n", isAuthenticated: true).error == nil)
        #expect(decode("*2147483648\r\n", isAuthenticated: false).error == .invalidMultibulkLength)
        #expect(
            decode("*1\r\n$16385\r\n", isAuthenticated: false).error?.message
                == "Protocol error: unauthenticated bulk length"
        )
        #expect(decode("*1\r\n$16384\r\n", isAuthenticated: false).error == nil)
        #expect(decode("*1\r\n$600000000\r\n", isAuthenticated: false).error == .invalidBulkLength)
        // Inline requests have no unauthenticated limit of their own.
        let inline = decode("AUTH a b c d e f g h i j k l\r\n", isAuthenticated: false)
        #expect(inline.commands.first?.arguments.count == 13)
    }

    @Test func authenticationCanChangeBetweenRequests() throws {
        var decoder = RESPCommandDecoder(isAuthenticated: false)
        var buffer = ByteBuffer(string: "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n")
        #expect(try decoder.decode(buffer: &buffer) == command("AUTH", "pw"))
        decoder.isAuthenticated = true
        buffer.writeString("*1\r\n$20000\r\n" + String(repeating: "v", count: 20000) + "\r\n")
        #expect(try decoder.decode(buffer: &buffer)?.arguments.first?.readableBytes == 20000)
    }

    @Test func binaryGarbage() {
        var generator = SplitMix64(seed: 0x5EED)
        for _ in 0..<200 {
            let length = Int(generator.next() % 64) + 1
            var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            bytes[0] = UInt8(ascii: "*")
            // Whatever the bytes, both feeding modes agree and nothing crashes.
            _ = decode(bytes)
        }
        #expect(decode([UInt8(ascii: "*"), 0xFF, 0xFE, 0x0D, 0x0A]).error == .invalidMultibulkLength)
        let dollar = decode([UInt8(ascii: "*"), UInt8(ascii: "1"), 0x0D, 0x0A, 0xC3, 0x0D, 0x0A])
        #expect(dollar.error?.messageBytes == Array("Protocol error: expected '$', got '".utf8) + [0xC3, 0x27])
    }

    // MARK: Incremental parsing

    @Test func largeValueInManyReadsKeepsArgumentsAndDoesNotShareTheInput() throws {
        var decoder = RESPCommandDecoder()
        var buffer = ByteBuffer()
        buffer.reserveCapacity(1 << 20)
        let size = 200_000
        buffer.writeString("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$\(size)\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readableBytes == "$\(size)\r\n".utf8.count)
        let chunk = [UInt8](repeating: UInt8(ascii: "v"), count: 1000)
        for _ in 0..<(size / chunk.count) {
            // The decoder holds copies of SET and key, not slices, so appending never reallocates the
            // (uniquely referenced) input storage.
            let before = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            buffer.writeBytes(chunk)
            let after = buffer.withVeryUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            #expect(before == after)
            #expect(try decoder.decode(buffer: &buffer) == nil)
            #expect(buffer.readableBytes > 0)
        }
        buffer.writeString("\r\n")
        let result = try #require(try decoder.decode(buffer: &buffer))
        #expect(result.arguments.count == 3)
        #expect(result.arguments[0] == ByteBuffer(string: "SET"))
        #expect(result.arguments[1] == ByteBuffer(string: "key"))
        #expect(result.arguments[2].readableBytes == size)
        #expect(buffer.readableBytes == 0)
    }

    @Test func embeddedChannelDeliversCommandsAndSurfacesErrors() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(RESPCommandDecoder()))
        let input = ByteBuffer(string: "*1\r\n$4\r\nPING\r\nECHO hi\r\n*1\r\n$x\r\n")
        #expect(throws: RESPProtocolError.invalidBulkLength) { try channel.writeInbound(input) }
        #expect(try channel.readInbound(as: RESPCommand.self) == command("PING"))
        #expect(try channel.readInbound(as: RESPCommand.self) == command("ECHO", "hi", inline: true))
        #expect(try channel.readInbound(as: RESPCommand.self) == nil)
        _ = try? channel.finish()
    }
}

/// A small deterministic generator so the garbage test is reproducible.
private struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { self.state = seed }
    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
