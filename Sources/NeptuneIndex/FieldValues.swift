/// Parsing of hash field values into indexable values, as RediSearch does it.
enum FieldValues {
    /// Parses a numeric field value the way `strtod` with a full-consumption check does (leading spaces allowed,
    /// `inf`, exponents, hex floats); NaN and anything unparsable give nil.
    static func parseNumber<Bytes: Collection>(_ bytes: Bytes) -> Double? where Bytes.Element == UInt8 {
        var start = bytes.startIndex
        while start != bytes.endIndex, isSpace(bytes[start]) { start = bytes.index(after: start) }
        guard start != bytes.endIndex else { return nil }
        let text = String(decoding: bytes[start...], as: UTF8.self)
        guard let value = Double(text), !value.isNaN else { return nil }
        return value
    }

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// Splits a tag field value by `separator`, trims surrounding whitespace of each tag, drops empty tags and
    /// lowercases unless case-sensitive. The result is sorted and without duplicates.
    static func tags(_ bytes: [UInt8], separator: UInt8, caseSensitive: Bool) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != separator { end += 1 }
            var lo = start
            var hi = end
            while lo < hi && isSpace(bytes[lo]) { lo += 1 }
            while hi > lo && isSpace(bytes[hi - 1]) { hi -= 1 }
            if lo < hi {
                let tag = Array(bytes[lo..<hi])
                result.append(caseSensitive ? tag : lowercase(tag))
            }
            start = end + 1
        }
        if result.count > 1 {
            result.sort { $0.lexicographicallyPrecedes($1) }
            var unique: [[UInt8]] = [result[0]]
            for tag in result.dropFirst() where tag != unique[unique.count - 1] { unique.append(tag) }
            result = unique
        }
        return result
    }

    /// Lowercases ASCII bytes, and valid UTF-8 text by Unicode rules (invalid UTF-8 keeps its non-ASCII bytes).
    static func lowercase(_ bytes: [UInt8]) -> [UInt8] {
        var ascii = true
        for byte in bytes where byte >= 0x80 {
            ascii = false
            break
        }
        if ascii {
            return bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
        }
        if let text = String(validating: bytes, as: UTF8.self) {
            return Array(text.lowercased().utf8)
        }
        return bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
    }
}
