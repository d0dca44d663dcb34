import NeptuneRESP
import Testing

@Suite struct InlineArgumentsTests {
    private func split(_ line: String) -> [String]? {
        InlineArguments.split(line)?.map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func blanksSeparateArguments() {
        #expect(split("SET key value") == ["SET", "key", "value"])
        #expect(split("  \t GET   key \r\n") == ["GET", "key"])
        #expect(split("") == [])
        #expect(split(" \t\r\n\u{0B}\u{0C}") == [])
    }

    @Test func verticalTabAndFormFeedOnlySkipLeadingBlanks() {
        // sdssplitargs skips any isspace() byte between arguments but ends an unquoted one only on
        // space, \t, \n, \r.
        #expect(split("\u{0B}a\u{0B}b c") == ["a\u{0B}b", "c"])
        #expect(split("a\u{0C}b") == ["a\u{0C}b"])
    }

    @Test func doubleQuotesAndTheirEscapes() {
        #expect(split(#"SET k "hello world""#) == ["SET", "k", "hello world"])
        #expect(split(#""a\nb\rc\td\be\af\\g\"h\qi""#) == ["a\nb\rc\td\u{08}e\u{07}f\\g\"hqi"])
        #expect(split(#""\x41\x6a\x6A""#) == ["Ajj"])
        #expect(split(#""\x4" "\xZZ""#) == ["x4", "xZZ"])
        #expect(split(#""" x"#) == ["", "x"])
        #expect(InlineArguments.split(Array(#""\xff\x00""#.utf8)) == [[0xFF, 0x00]])
    }

    @Test func singleQuotesOnlyUnescapeTheQuote() {
        #expect(split(#"'it\'s' '\n\x41'"#) == ["it's", #"\n\x41"#])
        #expect(split("'' b") == ["", "b"])
    }

    @Test func quotesMayOpenInsideAnArgument() {
        #expect(split(#"ab"c d"e"#) == nil)
        #expect(split(#"ab"c d" e"#) == ["abc d", "e"])
        #expect(split(#"x'y z'"#) == ["xy z"])
        #expect(split(#"a"b"#) == nil)
    }

    @Test func closingQuoteMustBeFollowedByBlankOrEnd() {
        #expect(split(#""foo"bar"#) == nil)
        #expect(split(#"'foo'bar"#) == nil)
        #expect(split("\"foo\"\tbar") == ["foo", "bar"])
        #expect(split("\"foo\"\u{0B}bar") == ["foo", "bar"])
    }

    @Test func unterminatedQuotesFail() {
        #expect(split(#"SET k "abc"#) == nil)
        #expect(split("SET k 'abc") == nil)
        #expect(split(#""abc\"#) == nil)
        #expect(split(#""abc\""#) == nil)
    }

    @Test func nulEndsTheLineLikeACString() {
        #expect(InlineArguments.split([0x61, 0x20, 0x62, 0x00, 0x63]) == [[0x61], [0x62]])
        #expect(InlineArguments.split([0x22, 0x61, 0x00, 0x22]) == nil)
    }

    @Test func rawPointerOverloadAgreesWithArrayOverload() {
        let line = Array(#"a "b c" 'd'"#.utf8)
        let viaPointer = line.withUnsafeBytes { InlineArguments.split($0) }
        #expect(viaPointer == InlineArguments.split(line))
        #expect(viaPointer?.count == 3)
    }
}
