/// Parses RediSearch query strings (dialect 2) into ``IndexQuery``.
///
/// Supported: numeric ranges `@f:[min max]` (`(` for an exclusive bound, `-inf`/`+inf`, `[n]` for equality),
/// tag sets `@f:{a | b}` with backslash escapes and `prefix*`, intersection by whitespace, union `|` (binding
/// looser than intersection, as dialect 2 does), negation `-`, optional `~` (does not filter), parentheses, `*`,
/// and `$name` parameters. Full-text terms are rejected with a clear error.
public struct QueryParser {
    /// PARAMS: name to value.
    public var parameters: [[UInt8]: [UInt8]]

    /// Creates a parser with query parameters.
    public init(parameters: [[UInt8]: [UInt8]] = [:]) {
        self.parameters = parameters
    }

    /// Parses a query string.
    /// - Parameter query: The query bytes.
    /// - Returns: The query tree; `.empty` for an empty query.
    /// - Throws: ``IndexError`` with RediSearch's message (`Syntax error at offset N near X`,
    ///   `No such parameter ...`) or an unsupported-feature message.
    public func parse<Bytes: Collection>(_ query: Bytes) throws(IndexError) -> IndexQuery where Bytes.Element == UInt8 {
        var state = ParserState(tokens: try QueryLexer.tokenize(Array(query)), parameters: parameters)
        return try state.parseQuery()
    }
}

struct QueryToken {
    enum Kind: Equatable {
        case term, number, modifier, param, prefix, suffix, contains, verbatim
        case quote, or, lp, rp, lb, rb, colon, semicolon, arrow, minus, tilde, star, percent, lsqb, rsqb
        case eof
    }
    var kind: Kind
    var offset: Int
    /// Unescaped text for terms, numbers, modifiers, params and affixes; the source text otherwise.
    var text: [UInt8]
    var number: Double = 0
}

enum QueryLexer {
    static func isPunct(_ c: UInt8) -> Bool {
        (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E)
    }

    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0D) }

    static func isCntrl(_ c: UInt8) -> Bool { c < 0x20 || c == 0x7F }

    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// Length of the term starting at `i` (term characters, `_`, and backslash escapes of punctuation or space).
    static func termLength(_ s: [UInt8], _ i: Int) -> Int {
        var j = i
        while j < s.count {
            let c = s[j]
            if c == 0x5C {
                if j + 1 < s.count && (isPunct(s[j + 1]) || isSpace(s[j + 1])) {
                    j += 2
                    continue
                }
                break
            }
            if c == UInt8(ascii: "_") || !(isPunct(c) || isCntrl(c) || isSpace(c)) {
                j += 1
                continue
            }
            break
        }
        return j - i
    }

    static func unescape(_ s: ArraySlice<UInt8>) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(s.count)
        var i = s.startIndex
        while i < s.endIndex {
            if s[i] == 0x5C && i + 1 < s.endIndex && (isPunct(s[i + 1]) || isSpace(s[i + 1])) {
                i += 1
            }
            out.append(s[i])
            i += 1
        }
        return out
    }

    /// Length of a number (`-?digits(.digits)?([eE]-?digits)?`) at `i`, or 0.
    static func numberLength(_ s: [UInt8], _ i: Int) -> Int {
        var j = i
        if j < s.count && s[j] == UInt8(ascii: "-") { j += 1 }
        let digitsStart = j
        while j < s.count && isDigit(s[j]) { j += 1 }
        if j == digitsStart { return 0 }
        if j + 1 < s.count && s[j] == UInt8(ascii: ".") && isDigit(s[j + 1]) {
            j += 1
            while j < s.count && isDigit(s[j]) { j += 1 }
        }
        if j < s.count && (s[j] == UInt8(ascii: "e") || s[j] == UInt8(ascii: "E")) {
            var k = j + 1
            if k < s.count && s[k] == UInt8(ascii: "-") { k += 1 }
            if k < s.count && isDigit(s[k]) {
                while k < s.count && isDigit(s[k]) { k += 1 }
                j = k
            }
        }
        return j - i
    }

    /// Length of `inf`, `+inf` or `-inf` at `i`, or 0.
    static func infLength(_ s: [UInt8], _ i: Int) -> Int {
        var j = i
        if j < s.count && (s[j] == UInt8(ascii: "+") || s[j] == UInt8(ascii: "-")) { j += 1 }
        if j + 3 <= s.count && s[j] == UInt8(ascii: "i") && s[j + 1] == UInt8(ascii: "n") && s[j + 2] == UInt8(ascii: "f") {
            return j + 3 - i
        }
        return 0
    }

    static func tokenize(_ s: [UInt8]) throws(IndexError) -> [QueryToken] {
        var tokens: [QueryToken] = []
        var i = 0
        func single(_ kind: QueryToken.Kind) {
            tokens.append(QueryToken(kind: kind, offset: i, text: [s[i]]))
            i += 1
        }
        while i < s.count {
            let c = s[i]
            if isSpace(c) || isCntrl(c) {
                i += 1
                continue
            }
            // Numbers, infinities and terms compete: the longest match wins, numbers on ties.
            let term = termLength(s, i)
            let number = numberLength(s, i)
            let inf = infLength(s, i)
            if inf > 0 && inf >= term && inf >= number {
                let negative = s[i] == UInt8(ascii: "-")
                tokens.append(
                    QueryToken(kind: .number, offset: i, text: Array(s[i..<(i + inf)]), number: negative ? -.infinity : .infinity)
                )
                i += inf
                continue
            }
            if number > 0 && number >= term {
                let text = Array(s[i..<(i + number)])
                if i + number < s.count && s[i + number] == UInt8(ascii: "*") {
                    tokens.append(QueryToken(kind: .prefix, offset: i, text: text))
                    i += number + 1
                    continue
                }
                let value = Double(String(decoding: text, as: UTF8.self)) ?? 0
                tokens.append(QueryToken(kind: .number, offset: i, text: text, number: value))
                i += number
                continue
            }
            if term > 0 {
                let text = unescape(s[i..<(i + term)])
                if i + term < s.count && s[i + term] == UInt8(ascii: "*") {
                    tokens.append(QueryToken(kind: .prefix, offset: i, text: text))
                    i += term + 1
                } else {
                    tokens.append(QueryToken(kind: .term, offset: i, text: text))
                    i += term
                }
                continue
            }
            switch c {
            case UInt8(ascii: "@"), UInt8(ascii: "$"):
                let length = termLength(s, i + 1)
                if length == 0 {
                    i += 1  // stray punctuation is ignored, as RediSearch's lexer does
                    continue
                }
                let text = unescape(s[(i + 1)..<(i + 1 + length)])
                if c == UInt8(ascii: "$") && i + 1 + length < s.count && s[i + 1 + length] == UInt8(ascii: "*") {
                    tokens.append(QueryToken(kind: .prefix, offset: i, text: Array(s[i..<(i + 1 + length)])))
                    i += length + 2
                    continue
                }
                tokens.append(QueryToken(kind: c == UInt8(ascii: "@") ? .modifier : .param, offset: i, text: text))
                i += 1 + length
            case UInt8(ascii: "*"):
                let length = termLength(s, i + 1)
                if length > 0 {
                    let end = i + 1 + length
                    let text = unescape(s[(i + 1)..<end])
                    if end < s.count && s[end] == UInt8(ascii: "*") {
                        tokens.append(QueryToken(kind: .contains, offset: i, text: text))
                        i = end + 1
                    } else {
                        tokens.append(QueryToken(kind: .suffix, offset: i, text: text))
                        i = end
                    }
                } else {
                    single(.star)
                }
            case UInt8(ascii: "'"):
                var j = i + 1
                while j < s.count && s[j] != UInt8(ascii: "'") { j += s[j] == 0x5C ? 2 : 1 }
                if j >= s.count {
                    i += 1
                    continue
                }
                tokens.append(QueryToken(kind: .verbatim, offset: i, text: Array(s[(i + 1)..<j])))
                i = j + 1
            case UInt8(ascii: "\""): single(.quote)
            case UInt8(ascii: "|"): single(.or)
            case UInt8(ascii: "("): single(.lp)
            case UInt8(ascii: ")"): single(.rp)
            case UInt8(ascii: "{"): single(.lb)
            case UInt8(ascii: "}"): single(.rb)
            case UInt8(ascii: ":"): single(.colon)
            case UInt8(ascii: ";"): single(.semicolon)
            case UInt8(ascii: "-"): single(.minus)
            case UInt8(ascii: "~"): single(.tilde)
            case UInt8(ascii: "%"): single(.percent)
            case UInt8(ascii: "["): single(.lsqb)
            case UInt8(ascii: "]"): single(.rsqb)
            case UInt8(ascii: "="):
                if i + 1 < s.count && s[i + 1] == UInt8(ascii: ">") {
                    tokens.append(QueryToken(kind: .arrow, offset: i, text: [0x3D, 0x3E]))
                    i += 2
                } else {
                    i += 1
                }
            default:
                i += 1  // other punctuation separates tokens and is otherwise ignored
            }
        }
        let last = tokens.last
        tokens.append(QueryToken(kind: .eof, offset: last?.offset ?? 0, text: last?.text ?? []))
        return tokens
    }
}

struct ParserState {
    var tokens: [QueryToken]
    var index = 0
    let parameters: [[UInt8]: [UInt8]]

    init(tokens: [QueryToken], parameters: [[UInt8]: [UInt8]]) {
        self.tokens = tokens
        self.parameters = parameters
    }

    var current: QueryToken { tokens[index] }

    mutating func advance() { if index < tokens.count - 1 { index += 1 } }

    func syntaxError(_ token: QueryToken? = nil) -> IndexError {
        let token = token ?? current
        return .syntax(offset: token.offset, near: token.text)
    }

    func unsupportedText(_ token: QueryToken) -> IndexError {
        IndexError(
            "Full-text queries are not supported (offset \(token.offset) near \(String(decoding: token.text, as: UTF8.self))): "
                + "query NUMERIC fields with @field:[min max] and TAG fields with @field:{value}"
        )
    }

    mutating func expect(_ kind: QueryToken.Kind) throws(IndexError) {
        guard current.kind == kind else { throw syntaxError() }
        advance()
    }

    mutating func parseQuery() throws(IndexError) -> IndexQuery {
        if current.kind == .eof { return .empty }
        // `*` and `(*)` only as the whole query, as in RediSearch's grammar.
        var probe = index
        var depth = 0
        while tokens[probe].kind == .lp {
            depth += 1
            probe += 1
        }
        if tokens[probe].kind == .star {
            var end = probe + 1
            var closing = 0
            while closing < depth && tokens[end].kind == .rp {
                closing += 1
                end += 1
            }
            if closing == depth && tokens[end].kind == .eof { return .all }
        }
        let result = try parseUnion()
        guard current.kind == .eof else { throw syntaxError() }
        return result
    }

    mutating func parseUnion() throws(IndexError) -> IndexQuery {
        var children = [try parseIntersection()]
        while current.kind == .or {
            advance()
            children.append(try parseIntersection())
        }
        return children.count == 1 ? children[0] : .or(children)
    }

    mutating func parseIntersection() throws(IndexError) -> IndexQuery {
        var children: [IndexQuery] = []
        repeat {
            if let child = try parseUnary() { children.append(child) }
        } while current.kind != .or && current.kind != .rp && current.kind != .eof
        if children.isEmpty { return .all }
        return children.count == 1 ? children[0] : .and(children)
    }

    /// A clause; nil for an optional clause (`~x`), which never filters.
    mutating func parseUnary() throws(IndexError) -> IndexQuery? {
        switch current.kind {
        case .minus:
            advance()
            guard let child = try parseUnary() else { return .empty }
            return .not(child)
        case .tilde:
            advance()
            _ = try parseUnary()
            return nil
        default:
            return try parsePrimary()
        }
    }

    mutating func parsePrimary() throws(IndexError) -> IndexQuery {
        let token = current
        switch token.kind {
        case .lp:
            advance()
            if current.kind == .rp { throw syntaxError() }
            let inner = try parseUnion()
            try expect(.rp)
            return inner
        case .modifier:
            advance()
            if current.kind == .or {
                // `@a|b:...` names several text fields.
                throw unsupportedText(token)
            }
            try expect(.colon)
            switch current.kind {
            case .lsqb:
                advance()
                return .numericRange(field: token.text, range: try parseRange())
            case .lb:
                advance()
                return .tags(field: token.text, patterns: try parseTagList())
            case .eof:
                throw syntaxError()
            default:
                throw unsupportedText(current)
            }
        case .term, .number, .param, .prefix, .suffix, .contains, .verbatim, .quote, .percent:
            throw unsupportedText(token)
        default:
            throw syntaxError()
        }
    }

    mutating func parseBound() throws(IndexError) -> (value: Double, inclusive: Bool)? {
        var inclusive = true
        if current.kind == .lp {
            inclusive = false
            advance()
        }
        var negate = false
        while current.kind == .minus {
            negate.toggle()
            advance()
        }
        switch current.kind {
        case .number:
            let value = current.number
            advance()
            return (negate ? -value : value, inclusive)
        case .param:
            let token = current
            advance()
            guard let raw = parameters[token.text] else {
                throw IndexError("No such parameter `\(String(decoding: token.text, as: UTF8.self))`")
            }
            var bytes = raw[...]
            if bytes.first == UInt8(ascii: "(") {
                inclusive = false
                bytes = bytes.dropFirst()
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard let value = Self.parseParameterNumber(text) else {
                throw IndexError(
                    "Invalid numeric value (\(String(decoding: raw, as: UTF8.self))) for parameter `\(String(decoding: token.text, as: UTF8.self))`"
                )
            }
            return (negate ? -value : value, inclusive)
        default:
            if !inclusive || negate { throw syntaxError() }
            return nil
        }
    }

    static func parseParameterNumber(_ text: String) -> Double? {
        switch text {
        case "inf", "+inf": return .infinity
        case "-inf": return -.infinity
        default:
            guard let value = Double(text), !value.isNaN else { return nil }
            return value
        }
    }

    mutating func parseRange() throws(IndexError) -> NumericRange {
        guard let low = try parseBound() else { throw syntaxError() }
        if current.kind == .rsqb {
            advance()
            return NumericRange(min: low.value, minInclusive: true, max: low.value, maxInclusive: true)
        }
        guard let high = try parseBound() else { throw syntaxError() }
        try expect(.rsqb)
        return NumericRange(min: low.value, minInclusive: low.inclusive, max: high.value, maxInclusive: high.inclusive)
    }

    mutating func parseTagList() throws(IndexError) -> [TagPattern] {
        var patterns: [TagPattern] = []
        while true {
            // One alternative: a run of words (joined by a space), a prefix, or a parameter.
            var words: [[UInt8]] = []
            var pattern: TagPattern? = nil
            loop: while true {
                let token = current
                switch token.kind {
                case .term, .number:
                    words.append(token.text)
                    advance()
                case .param:
                    guard let value = parameters[token.text] else {
                        throw IndexError("No such parameter `\(String(decoding: token.text, as: UTF8.self))`")
                    }
                    words.append(value)
                    advance()
                case .prefix:
                    guard words.isEmpty else { throw syntaxError() }
                    var text = token.text
                    if text.first == UInt8(ascii: "$") {
                        let name = Array(text.dropFirst())
                        guard let value = parameters[name] else {
                            throw IndexError("No such parameter `\(String(decoding: name, as: UTF8.self))`")
                        }
                        text = value
                    }
                    pattern = .prefix(text)
                    advance()
                    break loop
                case .suffix, .contains, .verbatim:
                    throw IndexError(
                        "Unsupported tag query (offset \(token.offset) near \(String(decoding: token.text, as: UTF8.self))): "
                            + "suffix, infix and wildcard tag matching are not supported"
                    )
                default:
                    break loop
                }
            }
            if let pattern {
                patterns.append(pattern)
            } else {
                guard !words.isEmpty else { throw syntaxError() }
                patterns.append(.exact(Array(words.joined(separator: [0x20]))))
            }
            if current.kind == .or {
                advance()
                continue
            }
            try expect(.rb)
            return patterns
        }
    }
}
