import NeptuneBenchmarkKit
import Testing

@Suite struct RESPReplyScannerTests {
    /// Replies of every RESP2 and RESP3 type, each with whether it is an error.
    static let replies: [(bytes: String, isError: Bool)] = [
        ("+OK\r\n", false),
        ("-ERR unknown command 'FOO'\r\n", true),
        (":1000\r\n", false),
        ("$5\r\nhello\r\n", false),
        ("$0\r\n\r\n", false),
        ("$-1\r\n", false),
        ("$12\r\nline\r\nbreaks\r\n", false),
        ("*0\r\n", false),
        ("*-1\r\n", false),
        ("*3\r\n:1\r\n$3\r\nfoo\r\n*2\r\n+a\r\n-inner error is not a reply error\r\n", false),
        ("%2\r\n+k1\r\n:1\r\n+k2\r\n*1\r\n_\r\n", false),
        ("~2\r\n,3.14\r\n#t\r\n", false),
        ("(12345678901234567890\r\n", false),
        ("=15\r\ntxt:Some string\r\n", false),
        ("!21\r\nSYNTAX invalid syntax\r\n", true),
        ("|1\r\n+ttl\r\n:3600\r\n$2\r\nok\r\n", false),
        ("*2\r\n|1\r\n+a\r\n+b\r\n:1\r\n:2\r\n", false),
        ("_\r\n", false),
        ("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n", true),
    ]

    static var stream: [UInt8] { Array(Self.replies.map(\.bytes).joined().utf8) }

    static func scan(_ chunks: [ArraySlice<UInt8>], scanner: inout RESPReplyScanner) throws -> [Bool] {
        var events: [Bool] = []
        for chunk in chunks {
            try Array(chunk).withUnsafeBytes { bytes in
                try scanner.scan(bytes) { events.append($0) }
            }
        }
        return events
    }

    @Test func findsEveryReplyInOneBuffer() throws {
        var scanner = RESPReplyScanner()
        let events = try Self.scan([Self.stream[...]], scanner: &scanner)
        #expect(events == Self.replies.map(\.isError))
        #expect(scanner.isAtReplyBoundary)
    }

    @Test func findsTheSameRepliesWhenSplitAtAnyTwoPoints() throws {
        let stream = Self.stream
        let expected = Self.replies.map(\.isError)
        for first in 0...stream.count {
            for second in stride(from: first, through: stream.count, by: 7) {
                var scanner = RESPReplyScanner()
                let chunks = [stream[..<first], stream[first..<second], stream[second...]]
                let events = try Self.scan(chunks, scanner: &scanner)
                #expect(events == expected, "split at \(first) and \(second)")
                #expect(scanner.isAtReplyBoundary)
            }
        }
    }

    @Test func findsTheSameRepliesFedByteByByte() throws {
        var scanner = RESPReplyScanner()
        let chunks = Self.stream.indices.map { Self.stream[$0...$0] }
        #expect(try Self.scan(chunks, scanner: &scanner) == Self.replies.map(\.isError))
    }

    @Test func reportsNothingUntilAReplyIsComplete() throws {
        var scanner = RESPReplyScanner()
        let partial = Array("*2\r\n$3\r\nfoo\r\n$3\r\nba".utf8)
        #expect(try Self.scan([partial[...]], scanner: &scanner).isEmpty)
        #expect(!scanner.isAtReplyBoundary)
        #expect(try Self.scan([Array("r\r\n".utf8)[...]], scanner: &scanner) == [false])
    }

    @Test func capturesTheFirstErrorTextsAcrossSplits() throws {
        var scanner = RESPReplyScanner(maximumCapturedErrors: 2)
        let stream = Array("-ERR one\r\n+OK\r\n!7\r\nERR two\r\n-ERR three\r\n".utf8)
        let chunks = stream.indices.map { stream[$0...$0] }
        #expect(try Self.scan(chunks, scanner: &scanner) == [true, false, true, true])
        #expect(scanner.capturedErrors == ["ERR one", "ERR two"])
    }

    @Test func skipsTopLevelPushes() throws {
        var scanner = RESPReplyScanner()
        let stream = Array(">2\r\n+message\r\n+hello\r\n+OK\r\n".utf8)
        #expect(try Self.scan([stream[...]], scanner: &scanner) == [false])
    }

    @Test(arguments: ["hello\r\n", "$abc\r\n", "$?\r\n", "*99999999999999\r\n"])
    func rejectsBytesThatAreNotRESP(input: String) {
        var scanner = RESPReplyScanner()
        #expect(throws: BenchmarkError(.protocolViolation, "")) {
            _ = try Self.scan([Array(input.utf8)[...]], scanner: &scanner)
        }
    }

    @Test func rejectsNestingBeyondTheLimit() {
        var scanner = RESPReplyScanner()
        let input = String(repeating: "*1\r\n", count: RESPReplyScanner.maximumDepth + 1)
        #expect(throws: BenchmarkError(.protocolViolation, "")) {
            _ = try Self.scan([Array(input.utf8)[...]], scanner: &scanner)
        }
    }
}
