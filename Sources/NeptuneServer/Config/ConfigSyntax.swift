#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The number and text conventions of Redis's configuration code, byte for byte.
enum ConfigSyntax {
    /// Redis's `string2ll`: an optional `-`, then digits with no leading zero (except `0` itself), no blanks, no `+`,
    /// and no overflow.
    static func strictInteger<C: Collection<UInt8>>(_ bytes: C) -> Int64? {
        guard let first = bytes.first else {
            return nil
        }
        if bytes.count == 1 && first == UInt8(ascii: "0") {
            return 0
        }
        var digits = bytes[...]
        let negative = first == UInt8(ascii: "-")
        if negative {
            digits = digits.dropFirst()
        }
        guard let leading = digits.first, leading >= UInt8(ascii: "1"), leading <= UInt8(ascii: "9") else {
            return nil
        }
        // Accumulate as a negative number so that Int64.min fits.
        var value: Int64 = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else {
                return nil
            }
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.subtractingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                return nil
            }
            value = next
        }
        if negative {
            return value
        }
        return value == Int64.min ? nil : -value
    }

    /// Redis's `memtoull`: digits then an optional unit `b`, `k` (1000), `kb` (1024), `m`, `mb`, `g`, `gb`, case
    /// insensitive. A leading `-` is refused; too many digits saturate and a large unit wraps around, as the C code
    /// does.
    static func memory<C: Collection<UInt8>>(_ bytes: C) -> UInt64? {
        let bytes = Array(bytes)
        if bytes.first == UInt8(ascii: "-") {
            return nil
        }
        let digitCount = bytes.prefix(while: { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }).count
        let unit = String(decoding: bytes[digitCount...], as: UTF8.self).lowercased()
        let multiplier: UInt64
        switch unit {
        case "", "b": multiplier = 1
        case "k": multiplier = 1000
        case "kb": multiplier = 1024
        case "m": multiplier = 1000 * 1000
        case "mb": multiplier = 1024 * 1024
        case "g": multiplier = 1000 * 1000 * 1000
        case "gb": multiplier = 1024 * 1024 * 1024
        default: return nil
        }
        if digitCount >= 128 {
            return nil
        }
        var value: UInt64 = 0
        for byte in bytes[..<digitCount] {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                value = UInt64.max
                break
            }
            value = next
        }
        return value &* multiplier
    }

    /// C's `strtoll(text, &end, 10)` followed by the check `*end == '\0'`: leading blanks and a sign are allowed,
    /// overflow saturates, and no digits at all is a failure unless the text is empty (then the result is 0).
    static func looseInteger<C: Collection<UInt8>>(_ bytes: C) -> Int64? {
        var index = bytes.startIndex
        while index != bytes.endIndex, isSpace(bytes[index]) {
            index = bytes.index(after: index)
        }
        var negative = false
        if index != bytes.endIndex, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
            negative = bytes[index] == UInt8(ascii: "-")
            index = bytes.index(after: index)
        }
        var magnitude: UInt64 = 0
        var sawDigit = false
        var overflow = false
        while index != bytes.endIndex, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            sawDigit = true
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(UInt64(bytes[index] - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                overflow = true
            } else {
                magnitude = next
            }
            index = bytes.index(after: index)
        }
        if !sawDigit {
            // strtoll leaves the end pointer at the start of the text: only the empty text ends there.
            return bytes.isEmpty ? 0 : nil
        }
        guard index == bytes.endIndex else {
            return nil
        }
        if negative {
            if overflow || magnitude > UInt64(Int64.max) + 1 {
                return Int64.min
            }
            return magnitude == UInt64(Int64.max) + 1 ? Int64.min : -Int64(magnitude)
        }
        if overflow || magnitude > UInt64(Int64.max) {
            return Int64.max
        }
        return Int64(magnitude)
    }

    /// Redis's `string2d`: C's `strtod` over the whole text, with no leading blank, no NaN and no overflow.
    static func double(_ bytes: [UInt8]) -> Double? {
        guard let first = bytes.first, !isSpace(first), !bytes.contains(0) else {
            return nil
        }
        let text = String(decoding: bytes, as: UTF8.self)
        return text.withCString { pointer -> Double? in
            var end: UnsafeMutablePointer<CChar>? = nil
            errno = 0
            let value = strtod(pointer, &end)
            guard let end, end.pointee == 0 else {
                return nil
            }
            if value.isNaN {
                return nil
            }
            if errno == ERANGE && (value.isInfinite || value == 0) {
                return nil
            }
            return value
        }
    }

    /// C's `printf("%f")` with trailing zeros and a trailing point removed, as Redis prints percentiles.
    static func formatDouble(_ value: Double) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        let length = withVaList([value]) { arguments in
            buffer.withUnsafeMutableBufferPointer { pointer in
                Int(vsnprintf(pointer.baseAddress, pointer.count, "%f", arguments))
            }
        }
        var text = String(
            decoding: buffer.prefix(max(0, min(length, buffer.count - 1))).map { UInt8(bitPattern: $0) },
            as: UTF8.self
        )
        if text.contains(".") {
            while text.hasSuffix("0") {
                text.removeLast()
            }
            if text.hasSuffix(".") {
                text.removeLast()
            }
        }
        return text
    }

    /// Redis's `sdscatrepr`: the bytes in double quotes, with escapes that `sdssplitargs` reads back.
    static func quoted(_ bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = [UInt8(ascii: "\"")]
        let hexDigits = Array("0123456789abcdef".utf8)
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\\"): result += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case UInt8(ascii: "\""): result += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\n"): result += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case UInt8(ascii: "\r"): result += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case UInt8(ascii: "\t"): result += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x07: result += [UInt8(ascii: "\\"), UInt8(ascii: "a")]
            case 0x08: result += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x20...0x7E: result.append(byte)
            default:
                result += [
                    UInt8(ascii: "\\"), UInt8(ascii: "x"), hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)],
                ]
            }
        }
        result.append(UInt8(ascii: "\""))
        return result
    }

    /// Splits on every single space, keeping empty pieces, as Redis's `sdssplitlen(value, " ")` does for the value of
    /// a multi-argument parameter in `CONFIG SET`. The empty text gives no pieces.
    static func splitOnSpaces(_ bytes: [UInt8]) -> [[UInt8]] {
        if bytes.isEmpty {
            return []
        }
        return bytes.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false).map { Array($0) }
    }

    /// ASCII lower case, as `sdstolower` and `strcasecmp` see letters.
    static func lowercased(_ bytes: [UInt8]) -> [UInt8] {
        bytes.map { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") ? $0 + 32 : $0 }
    }

    /// Case-insensitive ASCII comparison (`strcasecmp(a, b) == 0`).
    static func equalsIgnoringCase(_ bytes: [UInt8], _ text: String) -> Bool {
        self.lowercased(bytes) == self.lowercased(Array(text.utf8))
    }

    /// Removes the characters `sdstrim(line, " \t\r\n")` removes from both ends.
    static func trimmed(_ line: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        func isTrimmed(_ byte: UInt8) -> Bool {
            byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
                || byte == UInt8(ascii: "\n")
        }
        var slice = line
        while let first = slice.first, isTrimmed(first) {
            slice = slice.dropFirst()
        }
        while let last = slice.last, isTrimmed(last) {
            slice = slice.dropLast()
        }
        return slice
    }

    /// C's `isspace` in the C locale.
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// The text of a C `errno` value, as `strerror` gives it.
    static func errorText(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
