/// Parsing of hash field values into indexable values, as RediSearch does it.
enum FieldValues {
    /// Parses a numeric field value the way `strtod` with a full-consumption check does (leading spaces allowed,
    /// `inf`, exponents, hex floats); NaN and anything unparsable give nil.
    static func parseNumber<Bytes: Collection>(_ bytes: Bytes) -> Double? where Bytes.Element == UInt8 {
        var start = bytes.startIndex
        while start != bytes.endIndex, isSpace(bytes[start]) { start = bytes.index(after: start) }
        guard start != bytes.endIndex else { return nil }
        if let value = parseInteger(bytes[start...]) { return value }
        let text = String(decoding: bytes[start...], as: UTF8.self)
        guard let value = Double(text), !value.isNaN else { return nil }
        return value
    }

    /// ``parseNumber(_:)`` for bytes in memory (the write path): the decimal-integer case without generic indexing.
    static func parseNumber(_ bytes: UnsafeRawBufferPointer) -> Double? {
        var i = 0
        let count = bytes.count
        while i < count, isSpace(bytes[i]) { i += 1 }
        guard i < count else { return nil }
        let start = i
        let negative = bytes[i] == 0x2D
        if negative || bytes[i] == 0x2B { i += 1 }
        let firstDigit = i
        var value: Int64 = 0
        while i < count && i - firstDigit < 15 {
            let digit = bytes[i] &- 0x30
            guard digit < 10 else { break }
            value = value &* 10 &+ Int64(digit)
            i += 1
        }
        if i == count && i > firstDigit {
            let number = Double(value)
            return negative ? -number : number
        }
        return parseNumber(bytes[start...])  // the general path (the generic overload)
    }

    /// Fast path of ``parseNumber(_:)`` for the common case, an optionally signed decimal integer of at most 15
    /// digits: exactly representable, so it gives what `strtod` gives without building a String. Anything else is nil
    /// (the caller then takes the general path).
    @inline(__always)
    static func parseInteger<Bytes: Collection>(_ bytes: Bytes) -> Double? where Bytes.Element == UInt8 {
        var index = bytes.startIndex
        var negative = false
        if bytes[index] == 0x2D || bytes[index] == 0x2B {
            negative = bytes[index] == 0x2D
            index = bytes.index(after: index)
        }
        var value: Int64 = 0
        var digits = 0
        while index != bytes.endIndex {
            let digit = bytes[index] &- 0x30
            guard digit < 10, digits < 15 else { return nil }
            value = value &* 10 &+ Int64(digit)
            digits += 1
            index = bytes.index(after: index)
        }
        guard digits > 0 else { return nil }
        let number = Double(value)
        return negative ? -number : number
    }

    @inline(__always)
    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// Splits a tag field value by `separator`, trims surrounding whitespace of each tag, drops empty tags and
    /// lowercases unless case-sensitive. The result is sorted and without duplicates.
    static func tags(_ bytes: [UInt8], separator: UInt8, caseSensitive: Bool) -> [[UInt8]] {
        if let tag = singleASCIITag(bytes, separator: separator, caseSensitive: caseSensitive) {
            return tag.isEmpty ? [] : [tag]
        }
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

    /// Fast path of ``tags(_:separator:caseSensitive:)`` for an ASCII value without the separator: the trimmed
    /// (and lowercased) tag built in one allocation, empty when the value is blank; nil when the fast path does not
    /// apply.
    @inline(__always)
    static func singleASCIITag(_ bytes: [UInt8], separator: UInt8, caseSensitive: Bool) -> [UInt8]? {
        bytes.withUnsafeBufferPointer { buffer -> [UInt8]? in
            var lo = 0
            var hi = buffer.count
            for byte in buffer where byte == separator || byte >= 0x80 { return nil }
            while lo < hi && isSpace(buffer[lo]) { lo += 1 }
            while hi > lo && isSpace(buffer[hi - 1]) { hi -= 1 }
            if lo == hi { return [] }
            return [UInt8](unsafeUninitializedCapacity: hi - lo) { out, count in
                for i in lo..<hi {
                    let byte = buffer[i]
                    out[i - lo] = !caseSensitive && byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
                }
                count = hi - lo
            }
        }
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
