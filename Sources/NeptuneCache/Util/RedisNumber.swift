#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Number parsing and formatting with the exact rules of Redis 7.0 (`string2ll`, `string2ld`, `string2d`,
/// `ld2string`, `ll2string`), so that `INCR`, `INCRBYFLOAT`, `ZADD`... accept, reject and print numbers as Redis does.
///
/// Everything works on raw bytes; the `[UInt8]` and `String` overloads are conveniences. Parsing and the
/// buffer-writing formatters allocate nothing on the heap for ordinary inputs (a temporary copy is made on the stack
/// to give the C library the NUL-terminated text it needs; only inputs longer than about 1 KiB can need a heap
/// buffer).
///
/// Floating-point text goes through the C library (`strtold`, `strtod` and glibc's printf engine), exactly as in
/// Redis, so results match Redis on the same platform. Like Redis, the process must keep the C locale for
/// `LC_NUMERIC` (Swift programs do unless they call `setlocale`).
///
/// ```swift
/// RedisNumber.parseInt64("-42")  // -42
/// RedisNumber.parseInt64("042")  // nil: Redis rejects leading zeros
/// let sum = RedisNumber.parseLongDouble("10.5")! + RedisNumber.parseLongDouble("0.1")!
/// RedisNumber.formatLongDouble(sum, humanFriendly: true)  // Array("10.6".utf8)
/// ```
public enum RedisNumber {
    /// The longest text Redis accepts or produces for a long double, terminator included (`MAX_LONG_DOUBLE_CHARS`):
    /// ``parseLongDouble(_:)-(UnsafeRawBufferPointer)`` rejects inputs of this length or more, and
    /// ``formatLongDouble(_:humanFriendly:)`` yields nothing for results that long.
    public static let maximumLongDoubleCharacters = 5 * 1024

    /// The longest decimal text of an `Int64` (`-9223372036854775808`); a buffer this large always fits
    /// ``formatInt64(_:into:)``.
    public static let maximumInt64Characters = 20

    /// The length from which Redis's `string2ll` rejects text outright (`LONG_STR_SIZE`).
    private static let int64RejectLength = 21

    // MARK: - Integers

    /// Parses a signed 64-bit integer exactly as Redis's `string2ll`.
    ///
    /// Accepted: an optional `-`, then digits with no leading zero (`0` itself is fine), and nothing else. Rejected:
    /// empty text, text of 21 bytes or more, spaces anywhere, a `+` sign, leading zeros, `-0`, and values outside
    /// the `Int64` range.
    ///
    /// - Parameter bytes: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reply `ERR value is not an integer or out of range`.
    public static func parseInt64(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        let count = bytes.count
        if count == 0 || count >= int64RejectLength {
            return nil
        }
        if count == 1 && bytes[0] == UInt8(ascii: "0") {
            return 0
        }
        var index = 0
        let negative = bytes[0] == UInt8(ascii: "-")
        if negative {
            index = 1
            if count == 1 {
                return nil
            }
        }
        let first = bytes[index] &- UInt8(ascii: "0")
        guard first >= 1 && first <= 9 else {
            return nil
        }
        var magnitude = UInt64(first)
        index += 1
        while index < count {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit <= 9 else {
                return nil
            }
            let (times10, overflowMultiply) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflowAdd) = times10.addingReportingOverflow(UInt64(digit))
            if overflowMultiply || overflowAdd {
                return nil
            }
            magnitude = sum
            index += 1
        }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else {
                return nil
            }
            return Int64(bitPattern: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else {
            return nil
        }
        return Int64(magnitude)
    }

    /// Parses a signed 64-bit integer exactly as Redis's `string2ll`; see
    /// ``parseInt64(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter bytes: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    @inlinable
    public static func parseInt64(_ bytes: [UInt8]) -> Int64? {
        bytes.withUnsafeBytes { parseInt64($0) }
    }

    /// Parses the UTF-8 bytes of `string` exactly as Redis's `string2ll`; see
    /// ``parseInt64(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter string: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    @inlinable
    public static func parseInt64(_ string: String) -> Int64? {
        var string = string
        return string.withUTF8 { parseInt64(UnsafeRawBufferPointer($0)) }
    }

    /// Writes the decimal text of `value` at the start of `buffer`, as Redis's `ll2string` (no terminator).
    ///
    /// - Parameters:
    ///   - value: The integer to format.
    ///   - buffer: Where to write; ``maximumInt64Characters`` bytes always suffice.
    /// - Returns: The number of bytes written, or 0 (with nothing written) if the text does not fit.
    public static func formatInt64(_ value: Int64, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        var magnitude = value.magnitude
        let length = decimalDigitCount(magnitude) + (value < 0 ? 1 : 0)
        guard length <= buffer.count else {
            return 0
        }
        var index = length
        repeat {
            index -= 1
            buffer[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: magnitude % 10)
            magnitude /= 10
        } while magnitude != 0
        if value < 0 {
            buffer[0] = UInt8(ascii: "-")
        }
        return length
    }

    /// Appends the decimal text of `value` to `bytes`, as Redis's `ll2string`.
    ///
    /// - Parameters:
    ///   - value: The integer to format.
    ///   - bytes: The array to append to.
    public static func formatInt64(_ value: Int64, appendingTo bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(byteCount: maximumInt64Characters, alignment: 1) { scratch in
            let length = formatInt64(value, into: scratch)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<length]))
        }
    }

    /// Returns the decimal text of `value`, as Redis's `ll2string`.
    ///
    /// - Parameter value: The integer to format.
    /// - Returns: The ASCII digits, with a leading `-` for negative values.
    public static func formatInt64(_ value: Int64) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maximumInt64Characters) { buffer, initializedCount in
            initializedCount = formatInt64(value, into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    private static func decimalDigitCount(_ value: UInt64) -> Int {
        var count = 1
        var threshold: UInt64 = 10
        while value >= threshold {
            count += 1
            if count == 20 {
                break
            }
            threshold &*= 10
        }
        return count
    }

    // MARK: - Floating point parsing

    /// Parses a long double exactly as Redis's `string2ld` (used by `INCRBYFLOAT`, `HINCRBYFLOAT`).
    ///
    /// Whatever `strtold` accepts as a whole is accepted: decimal and hexadecimal (`0x1p-3`) forms, a leading `+` or
    /// `-`, `inf`/`infinity` in any case. Rejected: empty text, text of ``maximumLongDoubleCharacters`` bytes or
    /// more, a leading space (or tab, newline...), trailing bytes (an embedded NUL included), NaN, and values that
    /// overflow to infinity or underflow to zero (subnormal results are kept).
    ///
    /// - Parameter bytes: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reply `ERR value is not a valid float`.
    public static func parseLongDouble(_ bytes: UnsafeRawBufferPointer) -> Float80? {
        let count = bytes.count
        if count == 0 || count >= maximumLongDoubleCharacters || isCSpace(bytes[0]) {
            return nil
        }
        return withTerminatedCopy(of: bytes) { text -> Float80? in
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let value = strtold(text, &end)
            let failed = errno
            guard let end, end - text == count, !value.isNaN else {
                return nil
            }
            if failed == ERANGE && (value.isInfinite || value == 0) || failed == EINVAL {
                return nil
            }
            return value
        }
    }

    /// Parses a long double exactly as Redis's `string2ld`; see ``parseLongDouble(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter bytes: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    @inlinable
    public static func parseLongDouble(_ bytes: [UInt8]) -> Float80? {
        bytes.withUnsafeBytes { parseLongDouble($0) }
    }

    /// Parses the UTF-8 bytes of `string` exactly as Redis's `string2ld`; see
    /// ``parseLongDouble(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter string: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    @inlinable
    public static func parseLongDouble(_ string: String) -> Float80? {
        var string = string
        return string.withUTF8 { parseLongDouble(UnsafeRawBufferPointer($0)) }
    }

    /// Parses a double exactly as Redis's `string2d` / `getDoubleFromObject` (used by `ZADD`, `ZINCRBY`,
    /// `GEOADD`...).
    ///
    /// Whatever `strtod` accepts as a whole is accepted (decimal, hexadecimal, `inf`). Rejected: empty text, a
    /// leading space (or tab, newline...), trailing bytes (an embedded NUL included), NaN, and values that overflow
    /// to infinity or underflow to zero (subnormal results are kept). There is no length limit.
    ///
    /// - Parameter bytes: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    public static func parseDouble(_ bytes: UnsafeRawBufferPointer) -> Double? {
        let count = bytes.count
        if count == 0 || isCSpace(bytes[0]) {
            return nil
        }
        return withTerminatedCopy(of: bytes) { text -> Double? in
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let value = strtod(text, &end)
            let failed = errno
            guard let end, end - text == count, !value.isNaN else {
                return nil
            }
            if failed == ERANGE && (value.isInfinite || value == 0) {
                return nil
            }
            return value
        }
    }

    /// Parses a double exactly as Redis's `string2d`; see ``parseDouble(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter bytes: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    @inlinable
    public static func parseDouble(_ bytes: [UInt8]) -> Double? {
        bytes.withUnsafeBytes { parseDouble($0) }
    }

    /// Parses the UTF-8 bytes of `string` exactly as Redis's `string2d`; see
    /// ``parseDouble(_:)-(UnsafeRawBufferPointer)``.
    ///
    /// - Parameter string: The text to parse.
    /// - Returns: The value, or `nil` if Redis would reject the text.
    @inlinable
    public static func parseDouble(_ string: String) -> Double? {
        var string = string
        return string.withUTF8 { parseDouble(UnsafeRawBufferPointer($0)) }
    }

    /// `isspace` in the C locale: space, `\t`, `\n`, `\v`, `\f`, `\r`.
    @inline(__always)
    private static func isCSpace(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || (byte >= 0x09 && byte <= 0x0D)
    }

    /// Runs `body` on a NUL-terminated copy of `bytes` (on the stack when small).
    @inline(__always)
    private static func withTerminatedCopy<Result>(
        of bytes: UnsafeRawBufferPointer,
        _ body: (UnsafeMutablePointer<CChar>) -> Result
    ) -> Result {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: bytes.count + 1) { buffer in
            let base = buffer.baseAddress!
            UnsafeMutableRawPointer(base).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
            base[bytes.count] = 0
            return body(base)
        }
    }

    // MARK: - Floating point formatting

    /// Formats a long double exactly as Redis's `ld2string`, writing at the start of `buffer` (no terminator).
    ///
    /// - `humanFriendly: true` is `LD_STR_HUMAN` (what `INCRBYFLOAT` stores and replies): `%.17Lf`, then trailing
    ///   zeros after the point and a bare trailing point are removed, and `-0` becomes `0`.
    /// - `humanFriendly: false` is `LD_STR_AUTO`: `%.17Lg`.
    /// - Infinities are `inf` and `-inf` in both modes.
    ///
    /// - Parameters:
    ///   - value: The number to format.
    ///   - humanFriendly: Whether to use Redis's human-friendly form.
    ///   - buffer: Where to write. It needs one byte more than the text: the C library writes a NUL after it
    ///     (not counted in the result). ``maximumLongDoubleCharacters`` bytes always suffice.
    /// - Returns: The number of bytes of text, or 0 if the text and its NUL do not fit in `buffer` or the text is
    ///   ``maximumLongDoubleCharacters`` long or longer (Redis then produces nothing).
    public static func formatLongDouble(
        _ value: Float80,
        humanFriendly: Bool,
        into buffer: UnsafeMutableRawBufferPointer
    ) -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else {
            return 0
        }
        if value.isInfinite {
            let text: StaticString = value < 0 ? "-inf" : "inf"
            guard text.utf8CodeUnitCount <= buffer.count else {
                return 0
            }
            base.copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
            return text.utf8CodeUnitCount
        }
        let characters = base.assumingMemoryBound(to: CChar.self)
        let length = printLongDouble(value, humanFriendly: humanFriendly, into: characters, capacity: buffer.count)
        guard length < buffer.count && length < maximumLongDoubleCharacters else {
            return 0
        }
        return humanFriendly ? humanize(UnsafeMutableRawBufferPointer(rebasing: buffer[..<length])) : length
    }

    /// Appends the text of `value` to `bytes`, exactly as Redis's `ld2string`; see
    /// ``formatLongDouble(_:humanFriendly:into:)``. Appends nothing where Redis would produce nothing.
    ///
    /// - Parameters:
    ///   - value: The number to format.
    ///   - humanFriendly: Whether to use Redis's human-friendly form (`LD_STR_HUMAN`) rather than `%.17Lg`.
    ///   - bytes: The array to append to.
    public static func formatLongDouble(_ value: Float80, humanFriendly: Bool, appendingTo bytes: inout [UInt8]) {
        // Nearly every value prints in a few dozen characters; only huge magnitudes need the exact-size path.
        let smallCapacity = 64
        let appended = withUnsafeTemporaryAllocation(byteCount: smallCapacity, alignment: 1) { scratch -> Bool in
            let length = formatLongDouble(value, humanFriendly: humanFriendly, into: scratch)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<length]))
            return length > 0
        }
        if appended || value.isInfinite {
            return
        }
        var empty: CChar = 0
        let needed = printLongDouble(value, humanFriendly: humanFriendly, into: &empty, capacity: 0)
        guard needed >= smallCapacity && needed < maximumLongDoubleCharacters else {
            return
        }
        withUnsafeTemporaryAllocation(byteCount: needed + 1, alignment: 1) { scratch in
            let length = formatLongDouble(value, humanFriendly: humanFriendly, into: scratch)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<length]))
        }
    }

    /// Returns the text of `value`, exactly as Redis's `ld2string`; see ``formatLongDouble(_:humanFriendly:into:)``.
    ///
    /// - Parameters:
    ///   - value: The number to format.
    ///   - humanFriendly: Whether to use Redis's human-friendly form (`LD_STR_HUMAN`) rather than `%.17Lg`.
    /// - Returns: The ASCII text, or an empty array where Redis would produce nothing.
    public static func formatLongDouble(_ value: Float80, humanFriendly: Bool) -> [UInt8] {
        var bytes: [UInt8] = []
        formatLongDouble(value, humanFriendly: humanFriendly, appendingTo: &bytes)
        return bytes
    }

    /// Strips what `LD_STR_HUMAN` strips from `%.17Lf` text, in place; returns the new length.
    private static func humanize(_ text: UnsafeMutableRawBufferPointer) -> Int {
        var length = text.count
        if text.contains(UInt8(ascii: ".")) {
            while text[length - 1] == UInt8(ascii: "0") {
                length -= 1
            }
            if text[length - 1] == UInt8(ascii: ".") {
                length -= 1
            }
        }
        if length == 2 && text[0] == UInt8(ascii: "-") && text[1] == UInt8(ascii: "0") {
            text[0] = UInt8(ascii: "0")
            length = 1
        }
        return length
    }

    /// Prints `value` with `%.17Lf` or `%.17Lg` into `characters` (NUL-terminated when it fits) and returns the
    /// length the full text has, as `snprintf` does.
    private static func printLongDouble(
        _ value: Float80,
        humanFriendly: Bool,
        into characters: UnsafeMutablePointer<CChar>,
        capacity: Int
    ) -> Int {
        if let strfroml = LongDoublePrinter.strfroml {
            // strfroml is glibc's non-variadic entry point to the same engine as snprintf("%.17Lf").
            let format: StaticString = humanFriendly ? "%.17f" : "%.17g"
            let formatCharacters = UnsafeRawPointer(format.utf8Start).assumingMemoryBound(to: CChar.self)
            return Int(strfroml(characters, capacity, formatCharacters, value))
        }
        let format = humanFriendly ? "%.17Lf" : "%.17Lg"
        let length = withVaList([value]) { arguments in
            vsnprintf(characters, capacity, format, arguments)
        }
        return Int(length)
    }
}

/// Looks up glibc's `strfroml` once. Swift cannot call C variadic functions such as `snprintf`, and the `va_list`
/// route (`withVaList`) allocates on every call; `strfroml` (glibc 2.25+) takes the `long double` directly. Its
/// declaration is not visible to Swift (it sits behind a feature-test macro), hence the lookup by name.
private enum LongDoublePrinter {
    typealias Function = @convention(c) (
        UnsafeMutablePointer<CChar>?, Int, UnsafePointer<CChar>?, Float80
    ) -> Int32

    static let strfroml: Function? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "strfroml") else {
            return nil
        }
        return unsafeBitCast(symbol, to: Function.self)
        #else
        return nil
        #endif
    }()
}
