import NeptuneIndex
import Testing

private func parse(_ text: String, _ params: [String: String] = [:]) throws(IndexError) -> IndexQuery {
    var parameters: [[UInt8]: [UInt8]] = [:]
    for (k, v) in params { parameters[Array(k.utf8)] = Array(v.utf8) }
    return try QueryParser(parameters: parameters).parse(Array(text.utf8))
}

private func f(_ s: String) -> [UInt8] { Array(s.utf8) }

@Suite struct QueryParserTests {
    @Test func wildcardAndEmpty() throws {
        #expect(try parse("*") == .all)
        #expect(try parse("(*)") == .all)
        #expect(try parse("  ") == .empty)
        #expect(try parse("") == .empty)
    }

    @Test func numericRanges() throws {
        #expect(try parse("@price:[10 20]") == .numericRange(field: f("price"), range: NumericRange(min: 10, max: 20)))
        #expect(
            try parse("@p:[(10 (20]")
                == .numericRange(field: f("p"), range: NumericRange(min: 10, minInclusive: false, max: 20, maxInclusive: false))
        )
        #expect(try parse("@p:[-inf +inf]") == .numericRange(field: f("p"), range: NumericRange()))
        #expect(try parse("@p:[-1.5e2 inf]") == .numericRange(field: f("p"), range: NumericRange(min: -150)))
        #expect(try parse("@p:[7]") == .numericRange(field: f("p"), range: NumericRange(min: 7, max: 7)))
        #expect(
            try parse("@p:[$lo $hi]", ["lo": "(1", "hi": "5"])
                == .numericRange(field: f("p"), range: NumericRange(min: 1, minInclusive: false, max: 5))
        )
    }

    @Test func tagLists() throws {
        #expect(try parse("@t:{a | b}") == .tags(field: f("t"), patterns: [.exact(f("a")), .exact(f("b"))]))
        #expect(try parse(#"@t:{hello\ world | x\-y}"#) == .tags(field: f("t"), patterns: [.exact(f("hello world")), .exact(f("x-y"))]))
        #expect(try parse("@t:{new york}") == .tags(field: f("t"), patterns: [.exact(f("new york"))]))
        #expect(try parse("@t:{ab*}") == .tags(field: f("t"), patterns: [.prefix(f("ab"))]))
        #expect(try parse("@t:{$v}", ["v": "a b"]) == .tags(field: f("t"), patterns: [.exact(f("a b"))]))
        #expect(try parse("@t:{42}") == .tags(field: f("t"), patterns: [.exact(f("42"))]))
    }

    @Test func dialectTwoPrecedence() throws {
        let a = IndexQuery.tags(field: f("t"), patterns: [.exact(f("a"))])
        let b = IndexQuery.tags(field: f("t"), patterns: [.exact(f("b"))])
        let c = IndexQuery.tags(field: f("t"), patterns: [.exact(f("c"))])
        let d = IndexQuery.tags(field: f("t"), patterns: [.exact(f("d"))])
        // Intersection binds tighter than union.
        #expect(try parse("@t:{a} @t:{b} | @t:{c} @t:{d}") == .or([.and([a, b]), .and([c, d])]))
        #expect(try parse("@t:{a} (@t:{b} | @t:{c})") == .and([a, .or([b, c])]))
        #expect(try parse("-@t:{a} @t:{b}") == .and([.not(a), b]))
        #expect(try parse("-(@t:{a} | @t:{b})") == .not(.or([a, b])))
        #expect(try parse("@t:{a} ~@t:{b}") == a)
    }

    @Test(arguments: [
        ("@p:[1 2", "Syntax error at offset 6 near 2"),
        ("@p:[a 2]", "Syntax error at offset 4 near a"),
        ("@t:{}", "Syntax error at offset 4 near }"),
        ("@t:{a", "Syntax error at offset 4 near a"),
        ("(@t:{a}", "Syntax error at offset 6 near }"),
        ("@t:{a} )", "Syntax error at offset 7 near )"),
        ("()", "Syntax error at offset 1 near )"),
        ("@p:[1 2 3]", "Syntax error at offset 8 near 3"),
        ("|", "Syntax error at offset 0 near |"),
    ])
    func syntaxErrors(query: String, message: String) {
        #expect(throws: IndexError(message)) { try parse(query) }
    }

    @Test func missingOrBadParameters() {
        #expect(throws: IndexError("No such parameter `x`")) { try parse("@p:[$x 5]") }
        #expect(throws: IndexError("Invalid numeric value (abc) for parameter `x`")) { try parse("@p:[$x 5]", ["x": "abc"]) }
        #expect(throws: IndexError("No such parameter `v`")) { try parse("@t:{$v}") }
    }

    @Test func fullTextIsAClearError() {
        #expect(throws: IndexError.self) { try parse("hello") }
        do {
            _ = try parse("@title:hello")
            Issue.record("expected an error")
        } catch {
            #expect(error.message.hasPrefix("Full-text queries are not supported (offset 7 near hello)"))
        }
    }
}
