import NeptuneCache
import Testing

/// One pattern/subject pair and the answer Redis 7.0.15 gives. Strings are read as Latin-1 so that `\u{FF}` stands
/// for the single byte 0xFF (binary-safe keys), not for its UTF-8 encoding.
struct GlobCase: Sendable, CustomTestStringConvertible {
    let pattern: [UInt8]
    let subject: [UInt8]
    let expected: Bool

    init(_ pattern: String, _ subject: String, _ expected: Bool) {
        self.pattern = latin1(pattern)
        self.subject = latin1(subject)
        self.expected = expected
    }

    var testDescription: String {
        "\(render(pattern)) ~ \(render(subject)) -> \(expected)"
    }
}

private func latin1(_ text: String) -> [UInt8] {
    text.unicodeScalars.map { UInt8($0.value) }
}

private func render(_ bytes: [UInt8]) -> String {
    "\"" + bytes.map { $0 >= 0x20 && $0 < 0x7F ? String(UnicodeScalar($0)) : "\\x\(String($0, radix: 16))" }.joined()
        + "\""
}

@Suite struct GlobPatternTests {
    /// Each row was checked with `SET <subject> 1` + `KEYS <pattern>` against redis-server 7.0.15 (which also agreed
    /// with this matcher on 1.2 million random pattern/key pairs). KEYS treats the lone `*` as match-all before
    /// calling the matcher, hence `isMatchAll(_:) || matches(...)` below.
    static let keysCases: [GlobCase] = [
        GlobCase("*", "abc", true),
        GlobCase("*", "", true),
        GlobCase("**", "", false),
        GlobCase("", "", true),
        GlobCase("", "a", false),
        GlobCase("a*", "", false),
        GlobCase("a*", "a", true),
        GlobCase("*a", "a", true),
        GlobCase("*a", "ba", true),
        GlobCase("*a", "ab", false),
        GlobCase("h?llo", "hello", true),
        GlobCase("h?llo", "hllo", false),
        GlobCase("h*llo", "heeeello", true),
        GlobCase("h*llo", "hllo", true),
        GlobCase("h[ae]llo", "hallo", true),
        GlobCase("h[ae]llo", "hillo", false),
        GlobCase("h[^e]llo", "hallo", true),
        GlobCase("h[^e]llo", "hello", false),
        GlobCase("h[a-b]llo", "hbllo", true),
        // Reversed ranges are swapped.
        GlobCase("h[b-a]llo", "hallo", true),
        GlobCase("h[b-a]llo", "hcllo", false),
        // `[a-]` is the range a..`]` (swapped to `]`..a), and the `]` is eaten as the range end.
        GlobCase("[a-]", "^", true),
        GlobCase("[a-]", "-", false),
        GlobCase("[a-]", "_", true),
        GlobCase("[a-]x", "_x", false),
        GlobCase("[a-]x", "x", true),
        GlobCase("[a-]]", "a", true),
        // Escapes outside and inside brackets; a trailing backslash is literal.
        GlobCase("\\*", "*", true),
        GlobCase("\\*", "a", false),
        GlobCase("a\\", "a\\", true),
        GlobCase("a\\", "a", false),
        GlobCase("\\?", "?", true),
        GlobCase("\\?", "x", false),
        GlobCase("[\\]]", "]", true),
        GlobCase("[\\^a]", "^", true),
        GlobCase("[\\-]", "-", true),
        GlobCase("[a\\-z]", "b", false),
        GlobCase("[a\\-z]", "-", true),
        GlobCase("[a\\-z]", "z", true),
        GlobCase("[\\", "\\", true),
        GlobCase("[a\\", "\\", true),
        // Unterminated and empty sets.
        GlobCase("[abc", "b", true),
        GlobCase("[abc", "d", false),
        GlobCase("[", "[", false),
        GlobCase("[", "a", false),
        GlobCase("a[", "a", false),
        GlobCase("a[", "a[", false),
        GlobCase("[^", "x", true),
        GlobCase("[^", "", false),
        GlobCase("[]", "]", false),
        GlobCase("[]]", "]", false),
        GlobCase("[^]", "x", true),
        GlobCase("[^]]", "x]", true),
        GlobCase("[^]]", "x", false),
        GlobCase("[]a]", "a", false),
        // Range bounds compare as signed chars: 0x80...0xFF sort below ASCII.
        GlobCase("[a-\u{FF}]", "0", true),
        GlobCase("[a-\u{FF}]", "\u{80}", false),
        GlobCase("[a-\u{FF}]", "\u{FF}", true),
        GlobCase("[a-\u{FF}]", "b", false),
        GlobCase("[\u{80}-\u{FF}]", "\u{90}", true),
        GlobCase("[\u{0}-\u{7F}]", "\u{80}", false),
        GlobCase("[\u{7F}-\u{80}]", "a", true),
        GlobCase("[\u{7F}-\u{80}]", "\u{C0}", true),
        // NUL bytes are ordinary bytes.
        GlobCase("a\u{0}b", "a\u{0}b", true),
        GlobCase("a?b", "a\u{0}b", true),
        GlobCase("[\u{0}]", "\u{0}", true),
        GlobCase("a\u{0}", "a", false),
        // Stars.
        GlobCase("*a*", "bab", true),
        GlobCase("a*b*c", "aXbYc", true),
        GlobCase("a*b*c", "aXbY", false),
        GlobCase("a*b*c", "abcabc", true),
        GlobCase("*?", "a", true),
        GlobCase("*?", "", false),
        GlobCase("?*", "a", true),
        GlobCase("a**b", "ab", true),
        GlobCase("*\\*", "ab*", true),
        GlobCase("*\\*", "ab", false),
        GlobCase("***", "x", true),
        GlobCase("HELLO", "hello", false),
        GlobCase("user:[0-9]*", "user:42", true),
        GlobCase("user:[0-9]*", "user:x2", false),
        GlobCase("*[ab]", "xxb", true),
        GlobCase("*[ab]", "xxc", false),
        // `?` is one byte, not one character.
        GlobCase("?", "\u{E9}", true),
        GlobCase("??", "\u{C3}\u{A9}", true),
    ]

    @Test(arguments: keysCases)
    func keysAgreesWithRedis(_ testCase: GlobCase) {
        let matched = testCase.pattern.withUnsafeBytes { pattern in
            testCase.subject.withUnsafeBytes { subject in
                GlobPattern.isMatchAll(pattern) || GlobPattern.matches(pattern: pattern, string: subject)
            }
        }
        #expect(matched == testCase.expected)
    }

    /// Case-insensitive rows (Redis's `nocase`, as `CONFIG GET` uses it), following glibc's C-locale `tolower` on
    /// signed chars: escapes inside brackets stay exact, range bounds are folded after the swap (so `[Z-a]` is
    /// empty), and 0xFF is `EOF` to `tolower` so `[\x80-\xff]` folds into an empty range. Checked against Redis's
    /// code built with the same libc, and in part with `CONFIG GET [L-M]AXMEMORY` (matches) and
    /// `CONFIG GET [\M]AXMEMORY` (does not).
    static let caseInsensitiveCases: [GlobCase] = [
        GlobCase("HELLO", "hello", true),
        GlobCase("h[A-Z]llo", "hello", true),
        GlobCase("[L-M]AXMEMORY", "maxmemory", true),
        GlobCase("[\\M]AXMEMORY", "maxmemory", false),
        GlobCase("[\\E]", "e", false),
        GlobCase("[\\e]", "e", true),
        GlobCase("[a-\u{FF}]", "0", true),
        GlobCase("[a-\u{FF}]", "Z", false),
        GlobCase("[a-\u{FF}]", "\u{80}", false),
        GlobCase("[\u{80}-\u{FE}]", "\u{90}", true),
        GlobCase("[\u{80}-\u{FF}]", "\u{90}", false),
        GlobCase("[Z-a]", "_", false),
        GlobCase("[Z-a]", "z", false),
        GlobCase("[Z-a]", "A", false),
        GlobCase("*LO", "hello", true),
        GlobCase("\u{C9}", "\u{E9}", false),
        GlobCase("h?LLO", "HeLlo", true),
    ]

    @Test(arguments: caseInsensitiveCases)
    func caseInsensitiveFollowsRedis(_ testCase: GlobCase) {
        #expect(
            GlobPattern.matches(pattern: testCase.pattern, string: testCase.subject, caseInsensitive: true)
                == testCase.expected
        )
    }

    @Test func caseSensitiveRangesDifferFromCaseInsensitiveOnes() {
        #expect(GlobPattern.matches(pattern: latin1("[a-\u{FF}]"), string: Array("Z".utf8)))
        #expect(!GlobPattern.matches(pattern: latin1("[a-\u{FF}]"), string: Array("Z".utf8), caseInsensitive: true))
        #expect(GlobPattern.matches(pattern: latin1("[\u{80}-\u{FF}]"), string: [0x90]))
        #expect(!GlobPattern.matches(pattern: latin1("[\u{80}-\u{FF}]"), string: [0x90], caseInsensitive: true))
    }

    /// The matcher itself never matches an empty subject with a non-empty pattern; only the callers' `*` fast path
    /// does. Redis shows it with `PSUBSCRIBE *`, which does not receive `PUBLISH "" msg`.
    @Test func loneStarDoesNotMatchEmptySubjectWithoutFastPath() {
        #expect(!GlobPattern.matches(pattern: "*", string: ""))
        #expect(GlobPattern.matches(pattern: "*", string: "x"))
        #expect(GlobPattern.matches(pattern: "", string: ""))
    }

    @Test func isMatchAllOnlyForTheLoneStar() {
        #expect(GlobPattern.isMatchAll("*"))
        #expect(GlobPattern.isMatchAll(Array("*".utf8)))
        #expect(!GlobPattern.isMatchAll("**"))
        #expect(!GlobPattern.isMatchAll(""))
        #expect(!GlobPattern.isMatchAll("\\*"))
        #expect(!GlobPattern.isMatchAll("a"))
        "*".utf8.withContiguousStorageIfAvailable { bytes in
            #expect(GlobPattern.isMatchAll(UnsafeRawBufferPointer(bytes)))
        }
    }

    @Test func stringOverloadMatchesUTF8Bytes() {
        #expect(GlobPattern.matches(pattern: "caf?", string: "café") == false)  // é is two bytes
        #expect(GlobPattern.matches(pattern: "caf??", string: "café"))
        #expect(GlobPattern.matches(pattern: "h?llo", string: "HELLO", caseInsensitive: true))
    }

    /// `KEYS` with `a*` repeated n times then `a`, against n + 1 letters `a`: Redis 7.0.15 finds the key for
    /// n = 1000 and not for n = 1001, because it gives up on branches nested deeper than 1000 stars.
    @Test(arguments: [(999, true), (1000, true), (1001, false), (1500, false)])
    func nestingLimitMatchesRedis(_ stars: Int, _ expected: Bool) {
        let subject = [UInt8](repeating: UInt8(ascii: "a"), count: stars + 1)
        let leading = Array(repeatElement(Array("a*".utf8), count: stars).joined()) + Array("a".utf8)
        let trailing = Array(repeatElement(Array("*a".utf8), count: stars).joined())
        #expect(GlobPattern.matches(pattern: leading, string: subject) == expected)
        #expect(GlobPattern.matches(pattern: trailing, string: subject) == expected)
        #expect(GlobPattern.maximumNesting == 1000)
    }

    /// Without Redis's early cut-off this pattern takes exponential time (and without the nesting guard the long one
    /// would recurse once per star); both must finish promptly and answer "no match".
    @Test func pathologicalPatternsTerminate() {
        let subject = [UInt8](repeating: UInt8(ascii: "a"), count: 10_000)
        let manyStars = Array(repeatElement(Array("a*".utf8), count: 60).joined()) + Array("b".utf8)
        #expect(!GlobPattern.matches(pattern: manyStars, string: subject))
        let deep = Array(repeatElement(Array("*a".utf8), count: 5000).joined()) + Array("b".utf8)
        #expect(!GlobPattern.matches(pattern: deep, string: subject))
        let matching = Array(repeatElement(Array("a*".utf8), count: 60).joined()) + Array("a".utf8)
        #expect(GlobPattern.matches(pattern: matching, string: subject))
    }

    /// For patterns made only of literals, `?` and `*`, Redis's matcher agrees with the textbook definition, except
    /// that an empty subject only matches the empty pattern. Checked on every pattern up to length 5 over
    /// `{a, b, ?, *}` against every subject up to length 4 over `{a, b}`.
    @Test func simplePatternsAgreeWithDynamicProgramming() {
        let patternAlphabet = Array("ab?*".utf8)
        let subjectAlphabet = Array("ab".utf8)
        let patterns = allWords(over: patternAlphabet, upTo: 5)
        let subjects = allWords(over: subjectAlphabet, upTo: 4)
        var mismatches: [String] = []
        for pattern in patterns {
            for subject in subjects {
                let expected = subject.isEmpty ? pattern.isEmpty : textbookMatch(pattern, subject)
                if GlobPattern.matches(pattern: pattern, string: subject) != expected {
                    mismatches.append("\(render(pattern)) ~ \(render(subject))")
                }
            }
        }
        #expect(mismatches.isEmpty)
    }

    private func allWords(over alphabet: [UInt8], upTo length: Int) -> [[UInt8]] {
        var words: [[UInt8]] = [[]]
        var layer: [[UInt8]] = [[]]
        for _ in 0..<length {
            layer = layer.flatMap { word in alphabet.map { word + [$0] } }
            words += layer
        }
        return words
    }

    private func textbookMatch(_ pattern: [UInt8], _ subject: [UInt8]) -> Bool {
        // table[i][j]: pattern[i...] matches subject[j...]
        var table = [[Bool]](repeating: [Bool](repeating: false, count: subject.count + 1), count: pattern.count + 1)
        table[pattern.count][subject.count] = true
        for i in stride(from: pattern.count - 1, through: 0, by: -1) {
            for j in stride(from: subject.count, through: 0, by: -1) {
                switch pattern[i] {
                case UInt8(ascii: "*"):
                    table[i][j] = table[i + 1][j] || (j < subject.count && table[i][j + 1])
                case UInt8(ascii: "?"):
                    table[i][j] = j < subject.count && table[i + 1][j + 1]
                default:
                    table[i][j] = j < subject.count && subject[j] == pattern[i] && table[i + 1][j + 1]
                }
            }
        }
        return table[0][0]
    }
}
