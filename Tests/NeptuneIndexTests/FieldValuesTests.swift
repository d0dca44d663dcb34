import Testing

@testable import NeptuneIndex

/// The byte-level fast paths of ``FieldValues`` agree with the general (String-based) rules.
@Suite struct FieldValuesTests {
    /// What `strtod` with a full-consumption check gives: the reference for ``FieldValues/parseNumber(_:)``.
    static func reference(_ text: String) -> Double? {
        let trimmed = text.drop { $0 == " " || $0 == "\t" || $0 == "\n" }
        guard !trimmed.isEmpty, let value = Double(String(trimmed)), !value.isNaN else { return nil }
        return value
    }

    @Test(arguments: [
        "0", "-0", "+0", "7", "-7", "+42", "123456789012345", "-999999999999999", "1234567890123456",
        "99999999999999999999", " 12", "\t-3", "12 ", "1e5", "1.5", "-", "+", "", "  ", "0x10", "inf", "-inf", "nan",
        "12a", "--1", "+-1", "007",
    ])
    func numbersMatchTheGeneralParser(_ text: String) {
        let parsed = FieldValues.parseNumber(Array(text.utf8))
        let expected = Self.reference(text)
        #expect(parsed?.bitPattern == expected?.bitPattern, "\(text)")
    }

    @Test func integerFastPathKeepsTheSignOfZero() {
        #expect(FieldValues.parseNumber(Array("-0".utf8))?.sign == .minus)
        #expect(FieldValues.parseInteger(Array("1234567890123456".utf8)) == nil)
    }

    /// Split, trim, lowercase, sort, dedupe: the rule written plainly.
    static func referenceTags(_ text: String, separator: Character, caseSensitive: Bool) -> [[UInt8]] {
        let tags = text.split(separator: separator, omittingEmptySubsequences: false)
            .map { $0.trimmingSpaces() }
            .filter { !$0.isEmpty }
            .map { caseSensitive ? $0 : $0.lowercased() }
        return Set(tags).map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    @Test(arguments: ["Books", " Books ", "", "   ", "a,b", "B, a ,b", ",,", "Toys,", "MiXeD Case", "x"])
    func tagsMatchTheReference(_ text: String) {
        for caseSensitive in [false, true] {
            #expect(
                FieldValues.tags(Array(text.utf8), separator: UInt8(ascii: ","), caseSensitive: caseSensitive)
                    == Self.referenceTags(text, separator: ",", caseSensitive: caseSensitive), "\(text)")
        }
    }

    @Test func nonASCIITagsTakeTheGeneralPath() {
        #expect(FieldValues.singleASCIITag(Array("Ärger".utf8), separator: UInt8(ascii: ","), caseSensitive: false) == nil)
        #expect(FieldValues.tags(Array("Ärger".utf8), separator: UInt8(ascii: ","), caseSensitive: false) == [Array("ärger".utf8)])
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        return String(drop(while: isSpace).reversed().drop(while: isSpace).reversed())
    }

    @Test(arguments: ["12", " 12", "+5", "-0", "-17", "1e3", "0x10", "123456789012345678", "", " ", "12a", "inf", "-", "1.5",
                      "999999999999999", "nan", "\t7"])
    func inMemoryParseAgreesWithTheGeneralOne(text: String) {
        let bytes = Array(text.utf8)
        let general = FieldValues.parseNumber(bytes)
        let inMemory = bytes.withUnsafeBytes { FieldValues.parseNumber($0) }
        #expect(general?.bitPattern == inMemory?.bitPattern)
    }
}
