/// Glob-style pattern matching with the exact semantics of Redis 7.0 (`KEYS`, `SCAN MATCH`, `PSUBSCRIBE`,
/// `CONFIG GET`...).
///
/// The syntax is:
/// - `*` matches any run of bytes, including an empty one;
/// - `?` matches exactly one byte;
/// - `[abc]` matches one byte of the set, `[^abc]` one byte outside it, `[a-z]` one byte in the range (a reversed
///   range such as `[z-a]` is taken as `[a-z]`), and `\x` inside the brackets stands for the byte `x`;
/// - `\x` outside brackets matches the byte `x` literally (a `\` that ends the pattern matches a `\`).
///
/// Redis's corner cases are kept on purpose, because clients see them:
/// - an unterminated `[` (as in `a[bc`) acts as if the set were closed at the end of the pattern;
/// - `[a-]` is the range from `a` to `]` (the `]` is taken as the range's end, so the set continues);
/// - range bounds are compared as C `char`s, which are signed on the platforms Redis ships for: bytes `0x80...0xFF`
///   sort *below* ASCII, so `[a-\xff]` is the range `\xff...a` and contains `0`...`9` but not `\x80`;
/// - `*` never matches against an empty subject when it is the whole pattern: Redis takes a fast path for the
///   lone `*` before it calls the matcher (use ``isMatchAll(_:)-(UnsafeRawBufferPointer)`` for that), and `**` does
///   not match the empty key;
/// - recursion stops at a nesting of 1000 stars (``maximumNesting``): a branch deeper than that is a non-match, which
///   protects the stack against abusive patterns.
///
/// Matching takes time polynomial in the lengths, never exponential: like Redis, once the part of the pattern after
/// a star fails at every position of the rest of the subject, the enclosing stars give up instead of trying longer
/// matches.
///
/// ```swift
/// GlobPattern.matches(pattern: "user:[0-9]*", string: "user:42")  // true
/// GlobPattern.matches(pattern: "h?llo", string: "HELLO", caseInsensitive: true)  // true
/// ```
public enum GlobPattern {
    /// The deepest star nesting that is explored; a branch that would go deeper counts as a non-match (Redis's
    /// protection against abusive patterns).
    public static let maximumNesting = 1000

    /// Tells whether `string` matches the glob `pattern`, byte for byte as Redis 7.0's `stringmatchlen` does.
    ///
    /// - Parameters:
    ///   - pattern: The glob pattern bytes.
    ///   - string: The subject bytes (a key, a channel name...).
    ///   - caseInsensitive: Fold ASCII letters `A`-`Z` onto `a`-`z` (Redis's `nocase`, used by `CONFIG GET`).
    ///     Escaped bytes inside brackets are still compared exactly, as in Redis.
    /// - Returns: `true` if the whole subject matches the whole pattern.
    /// - Complexity: O(*p* × *s*) at worst, with recursion bounded by ``maximumNesting``; no allocation.
    public static func matches(
        pattern: UnsafeRawBufferPointer,
        string: UnsafeRawBufferPointer,
        caseInsensitive: Bool = false
    ) -> Bool {
        var matcher = Matcher(pattern: pattern, subject: string, caseInsensitive: caseInsensitive)
        return matcher.match(patternIndex: 0, subjectIndex: 0, nesting: 0)
    }

    /// Tells whether `string` matches the glob `pattern`: the raw-buffer matcher applied to the arrays' bytes.
    ///
    /// - Parameters:
    ///   - pattern: The glob pattern bytes.
    ///   - string: The subject bytes.
    ///   - caseInsensitive: Fold ASCII letters, as Redis's `nocase`.
    /// - Returns: `true` if the whole subject matches the whole pattern.
    @inlinable
    public static func matches(pattern: [UInt8], string: [UInt8], caseInsensitive: Bool = false) -> Bool {
        pattern.withUnsafeBytes { patternBytes in
            string.withUnsafeBytes { stringBytes in
                matches(pattern: patternBytes, string: stringBytes, caseInsensitive: caseInsensitive)
            }
        }
    }

    /// Tells whether the UTF-8 bytes of `string` match the UTF-8 bytes of the glob `pattern`: the raw-buffer
    /// matcher applied to both strings' UTF-8 bytes.
    ///
    /// - Parameters:
    ///   - pattern: The glob pattern, matched on its UTF-8 bytes.
    ///   - string: The subject, matched on its UTF-8 bytes.
    ///   - caseInsensitive: Fold ASCII letters, as Redis's `nocase`.
    /// - Returns: `true` if the whole subject matches the whole pattern.
    @inlinable
    public static func matches(pattern: String, string: String, caseInsensitive: Bool = false) -> Bool {
        var pattern = pattern
        var string = string
        return pattern.withUTF8 { patternBytes in
            string.withUTF8 { stringBytes in
                matches(
                    pattern: UnsafeRawBufferPointer(patternBytes),
                    string: UnsafeRawBufferPointer(stringBytes),
                    caseInsensitive: caseInsensitive
                )
            }
        }
    }

    /// Tells whether `pattern` is exactly `*`, the pattern for which Redis skips matching and takes every key
    /// (including the empty key, which the matcher itself would reject).
    ///
    /// - Parameter pattern: The glob pattern bytes.
    /// - Returns: `true` only for the one-byte pattern `*` (`**` is not a match-all in Redis).
    @inlinable
    public static func isMatchAll(_ pattern: UnsafeRawBufferPointer) -> Bool {
        pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
    }

    /// Tells whether `pattern` is exactly `*`; see ``isMatchAll(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter pattern: The glob pattern bytes.
    /// - Returns: `true` only for the one-byte pattern `*`.
    @inlinable
    public static func isMatchAll(_ pattern: [UInt8]) -> Bool {
        pattern.count == 1 && pattern[0] == UInt8(ascii: "*")
    }

    /// Tells whether `pattern` is exactly `*`; see ``isMatchAll(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter pattern: The glob pattern, looked at as UTF-8 bytes.
    /// - Returns: `true` only for the pattern `"*"`.
    @inlinable
    public static func isMatchAll(_ pattern: String) -> Bool {
        pattern.utf8.count == 1 && pattern.utf8.first == UInt8(ascii: "*")
    }
}

extension GlobPattern {
    /// The state shared by one top-level match: both inputs, the case mode and Redis's "no longer match can help"
    /// flag. Reading past the end of the pattern yields 0, as reading the NUL terminator of Redis's sds strings does.
    private struct Matcher {
        let pattern: UnsafeRawBufferPointer
        let subject: UnsafeRawBufferPointer
        let caseInsensitive: Bool
        /// Set once the rest of the pattern after some star failed at every subject position: longer matches for
        /// earlier stars cannot help, so every enclosing star gives up.
        var skipLongerMatches = false

        init(pattern: UnsafeRawBufferPointer, subject: UnsafeRawBufferPointer, caseInsensitive: Bool) {
            self.pattern = pattern
            self.subject = subject
            self.caseInsensitive = caseInsensitive
        }

        /// The pattern byte at `index`, or 0 past the end (the terminator Redis's loops rely on).
        @inline(__always)
        func patternByte(_ index: Int) -> UInt8 {
            index < pattern.count ? pattern[index] : 0
        }

        mutating func match(patternIndex: Int, subjectIndex: Int, nesting: Int) -> Bool {
            if nesting > GlobPattern.maximumNesting {
                return false
            }
            let patternCount = pattern.count
            let subjectCount = subject.count
            var p = patternIndex
            var s = subjectIndex
            while p < patternCount && s < subjectCount {
                switch pattern[p] {
                case UInt8(ascii: "*"):
                    while p + 1 < patternCount && pattern[p + 1] == UInt8(ascii: "*") {
                        p += 1
                    }
                    if patternCount - p == 1 {
                        return true
                    }
                    while s < subjectCount {
                        if match(patternIndex: p + 1, subjectIndex: s, nesting: nesting + 1) {
                            return true
                        }
                        if skipLongerMatches {
                            return false
                        }
                        s += 1
                    }
                    skipLongerMatches = true
                    return false
                case UInt8(ascii: "?"):
                    s += 1
                case UInt8(ascii: "["):
                    guard matchBracket(patternIndex: &p, subjectByte: subject[s]) else {
                        return false
                    }
                    s += 1
                case UInt8(ascii: "\\"):
                    if patternCount - p >= 2 {
                        p += 1
                    }
                    guard bytesEqual(pattern[p], subject[s]) else {
                        return false
                    }
                    s += 1
                default:
                    guard bytesEqual(pattern[p], subject[s]) else {
                        return false
                    }
                    s += 1
                }
                p += 1
                if s == subjectCount {
                    while patternByte(p) == UInt8(ascii: "*") {
                        p += 1
                    }
                    break
                }
            }
            return p == patternCount && s == subjectCount
        }

        /// Matches one subject byte against the bracket set whose `[` is at `patternIndex`; on return
        /// `patternIndex` is at the closing `]` (or at the last pattern byte if the set is unterminated).
        @inline(__always)
        func matchBracket(patternIndex: inout Int, subjectByte: UInt8) -> Bool {
            let patternCount = pattern.count
            var p = patternIndex + 1
            let negated = patternByte(p) == UInt8(ascii: "^")
            if negated {
                p += 1
            }
            var matched = false
            while true {
                let remaining = patternCount - p
                let byte = patternByte(p)
                if byte == UInt8(ascii: "\\") && remaining >= 2 {
                    p += 1
                    // Redis compares escaped bytes exactly, even in case-insensitive mode.
                    if pattern[p] == subjectByte {
                        matched = true
                    }
                } else if byte == UInt8(ascii: "]") {
                    break
                } else if remaining == 0 {
                    p -= 1
                    break
                } else if remaining >= 3 && pattern[p + 1] == UInt8(ascii: "-") {
                    var start = Self.signedChar(byte)
                    var end = Self.signedChar(pattern[p + 2])
                    var candidate = Self.signedChar(subjectByte)
                    if start > end {
                        swap(&start, &end)
                    }
                    if caseInsensitive {
                        start = Self.cLower(start)
                        end = Self.cLower(end)
                        candidate = Self.cLower(candidate)
                    }
                    p += 2
                    if candidate >= start && candidate <= end {
                        matched = true
                    }
                } else if bytesEqual(byte, subjectByte) {
                    matched = true
                }
                p += 1
            }
            patternIndex = p
            return matched != negated
        }

        @inline(__always)
        func bytesEqual(_ a: UInt8, _ b: UInt8) -> Bool {
            if caseInsensitive {
                return Self.asciiLower(a) == Self.asciiLower(b)
            }
            return a == b
        }

        /// A byte read as a C `char` the way Redis's x86_64 builds read it: signed, so `0x80...0xFF` is -128...-1.
        @inline(__always)
        static func signedChar(_ byte: UInt8) -> Int {
            Int(Int8(bitPattern: byte))
        }

        /// glibc's `tolower` in the C locale applied to a signed `char` value: ASCII capitals fold, negative values
        /// other than -1 (`EOF`) come back as their unsigned byte value, everything else is unchanged.
        @inline(__always)
        static func cLower(_ value: Int) -> Int {
            if value >= 65 && value <= 90 {
                return value + 32
            }
            if value < -1 {
                return value + 256
            }
            return value
        }

        @inline(__always)
        static func asciiLower(_ byte: UInt8) -> UInt8 {
            byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
        }
    }
}
