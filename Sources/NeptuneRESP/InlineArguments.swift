/// Splits a text line into arguments with the rules of Redis's `sdssplitargs`.
///
/// Used for inline requests (`SET key "hello world"`) and for `redis.conf` lines.
///
/// - Arguments are separated by blanks. Leading blanks are any of space, `\t`, `\n`, `\v`, `\f`, `\r`; inside an
///   unquoted argument only space, `\t`, `\n` and `\r` end it.
/// - `"double quotes"` understand `\n`, `\r`, `\t`, `\b`, `\a`, `\xHH` (two hex digits) and `\<any>` for that
///   character itself (so `\\` and `\"`).
/// - `'single quotes'` understand only `\'`.
/// - A quote may open in the middle of an argument (`a"b c"` is one argument `ab c`), but a closing quote must be
///   followed by a blank or the end of the line.
/// - A NUL byte ends the line, as it ends the C string `sdssplitargs` reads.
///
/// ```swift
/// InlineArguments.split(Array(#"SET k "a\x41\n""#.utf8))  // [SET, k, aA\n]
/// InlineArguments.split(Array(#"SET k "oops"#.utf8))      // nil
/// ```
public enum InlineArguments {
    /// Splits `line` into arguments.
    ///
    /// - Parameter line: The bytes of one line, without its line terminator (a trailing one is harmless).
    /// - Returns: The arguments (empty for a blank line), or `nil` when a quote is unterminated or a closing quote
    ///   is followed by something other than a blank.
    /// - Complexity: O(*n*) in the length of the line.
    public static func split(_ line: UnsafeRawBufferPointer) -> [[UInt8]]? {
        var arguments: [[UInt8]] = []
        let count = line.firstIndex(of: 0) ?? line.count
        // Reads past the end (or at a NUL) yield 0, as C's terminator does.
        func at(_ index: Int) -> UInt8 {
            index < count ? line[index] : 0
        }
        var p = 0
        while true {
            while p < count && isSpace(line[p]) {
                p += 1
            }
            if p >= count {
                return arguments
            }
            var current: [UInt8] = []
            var inDoubleQuotes = false
            var inSingleQuotes = false
            var done = false
            while !done {
                let byte = at(p)
                if inDoubleQuotes {
                    if byte == UInt8(ascii: "\\") && at(p + 1) == UInt8(ascii: "x"),
                        let high = hexValue(at(p + 2)), let low = hexValue(at(p + 3))
                    {
                        current.append(high << 4 | low)
                        p += 3
                    } else if byte == UInt8(ascii: "\\") && at(p + 1) != 0 {
                        p += 1
                        current.append(unescape(line[p]))
                    } else if byte == UInt8(ascii: "\"") {
                        let next = at(p + 1)
                        if next != 0 && !isSpace(next) {
                            return nil
                        }
                        done = true
                    } else if byte == 0 {
                        return nil
                    } else {
                        current.append(byte)
                    }
                } else if inSingleQuotes {
                    if byte == UInt8(ascii: "\\") && at(p + 1) == UInt8(ascii: "'") {
                        p += 1
                        current.append(UInt8(ascii: "'"))
                    } else if byte == UInt8(ascii: "'") {
                        let next = at(p + 1)
                        if next != 0 && !isSpace(next) {
                            return nil
                        }
                        done = true
                    } else if byte == 0 {
                        return nil
                    } else {
                        current.append(byte)
                    }
                } else {
                    switch byte {
                    case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"), 0:
                        done = true
                    case UInt8(ascii: "\""):
                        inDoubleQuotes = true
                    case UInt8(ascii: "'"):
                        inSingleQuotes = true
                    default:
                        current.append(byte)
                    }
                }
                if p < count {
                    p += 1
                }
            }
            arguments.append(current)
        }
    }

    /// Splits `line` into arguments; see ``split(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter line: The bytes of one line.
    /// - Returns: The arguments, or `nil` for unbalanced quotes.
    public static func split(_ line: [UInt8]) -> [[UInt8]]? {
        line.withUnsafeBytes { Self.split($0) }
    }

    /// Splits the UTF-8 bytes of `line` into arguments; see ``split(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter line: One line of text.
    /// - Returns: The arguments, or `nil` for unbalanced quotes.
    public static func split(_ line: String) -> [[UInt8]]? {
        Self.split(Array(line.utf8))
    }

    /// C's `isspace` in the C locale.
    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func unescape(_ byte: UInt8) -> UInt8 {
        switch byte {
        case UInt8(ascii: "n"): UInt8(ascii: "\n")
        case UInt8(ascii: "r"): UInt8(ascii: "\r")
        case UInt8(ascii: "t"): UInt8(ascii: "\t")
        case UInt8(ascii: "b"): 0x08
        case UInt8(ascii: "a"): 0x07
        default: byte
        }
    }
}
