import NeptuneCache
import Testing

/// Expected values below were read from redis-server 7.0.15 (`INCRBY k <text>` for integers, `INCRBYFLOAT` for long
/// doubles, `ZADD z <text> m` for doubles) unless a comment says otherwise.
@Suite struct RedisNumberTests {
    // MARK: parseInt64 (string2ll)

    static let integerCases: [(String, Int64?)] = [
        ("0", 0),
        ("-1", -1),
        ("42", 42),
        ("9223372036854775807", .max),
        ("-9223372036854775808", .min),
        ("9223372036854775808", nil),
        ("-9223372036854775809", nil),
        ("18446744073709551616", nil),
        ("100000000000000000000", nil),
        ("+1", nil),
        (" 1", nil),
        ("1 ", nil),
        ("01", nil),
        ("00", nil),
        ("-0", nil),
        ("", nil),
        ("-", nil),
        ("12a", nil),
        ("1.0", nil),
        ("0x10", nil),
    ]

    @Test(arguments: integerCases)
    func parseInt64AgreesWithRedis(_ text: String, _ expected: Int64?) {
        #expect(RedisNumber.parseInt64(text) == expected)
        #expect(RedisNumber.parseInt64(Array(text.utf8)) == expected)
        Array(text.utf8).withUnsafeBytes { bytes in
            #expect(RedisNumber.parseInt64(bytes) == expected)
        }
    }

    @Test func parseInt64RejectsEmbeddedNulAndLongInput() {
        #expect(RedisNumber.parseInt64([UInt8(ascii: "1"), 0]) == nil)
        // 21 bytes are rejected before looking at them (Redis's LONG_STR_SIZE).
        #expect(RedisNumber.parseInt64(String(repeating: "1", count: 21)) == nil)
        #expect(RedisNumber.parseInt64(String(repeating: "1", count: 18)) == 111_111_111_111_111_111)
    }

    // MARK: formatInt64 (ll2string)

    @Test(arguments: [Int64.min, -1_000_000, -10, -9, -1, 0, 1, 9, 10, 99, 100, 123_456_789, Int64.max])
    func formatInt64RoundTrips(_ value: Int64) {
        let expected = Array(String(value).utf8)
        #expect(RedisNumber.formatInt64(value) == expected)
        var appended = Array("x".utf8)
        RedisNumber.formatInt64(value, appendingTo: &appended)
        #expect(appended == Array("x".utf8) + expected)
        var storage = [UInt8](repeating: 0xEE, count: RedisNumber.maximumInt64Characters)
        let written = storage.withUnsafeMutableBytes { RedisNumber.formatInt64(value, into: $0) }
        #expect(Array(storage[..<written]) == expected)
        #expect(RedisNumber.parseInt64(expected) == value)
    }

    @Test func formatInt64WritesNothingWhenTheBufferIsTooSmall() {
        var storage = [UInt8](repeating: 0xEE, count: 3)
        let written = storage.withUnsafeMutableBytes { RedisNumber.formatInt64(-100, into: $0) }
        #expect(written == 0)
        #expect(storage == [0xEE, 0xEE, 0xEE])
        let exact = storage.withUnsafeMutableBytes { RedisNumber.formatInt64(-10, into: $0) }
        #expect(exact == 3)
        #expect(storage == Array("-10".utf8))
        #expect(RedisNumber.formatInt64(Int64.min).count == RedisNumber.maximumInt64Characters)
    }

    // MARK: INCRBYFLOAT = parseLongDouble + add + formatLongDouble(humanFriendly: true)

    /// What `INCRBYFLOAT` stores and replies, computed as the engine does.
    private func incrbyfloat(_ current: String, _ increment: String) -> String? {
        guard let base = RedisNumber.parseLongDouble(current),
            let delta = RedisNumber.parseLongDouble(increment)
        else {
            return nil
        }
        return String(decoding: RedisNumber.formatLongDouble(base + delta, humanFriendly: true), as: UTF8.self)
    }

    static let incrbyfloatCases: [(String, String, String)] = [
        ("10.5", "0.1", "10.6"),
        ("10.6", "5.0e3", "5010.60000000000000009"),
        ("1", "0x10", "17"),
        ("17", "0x1p-3", "17.125"),
        ("5", "0X1P4", "21"),
        ("5", "-.5e1", "0"),
        ("0", "-0", "0"),
        ("1", "+1", "2"),
        ("1", ".5", "1.5"),
        ("1.5", "5.", "6.5"),
        ("1", "1e20", "100000000000000000000"),
        ("100000000000000000000", "1e-20", "100000000000000000000"),
        ("3", "1e17", "100000000000000003"),
        ("0.1", "0.2", "0.3"),
        ("0.1", "0.1", "0.2"),
        ("0.2", "1e-17", "0.20000000000000001"),
        ("0", "-1e-30", "0"),
        ("1.5", "-3", "-1.5"),
        ("1.0", "0", "1"),
        ("-0.0", "0", "0"),
        ("123456789012345678", "0", "123456789012345678"),
        ("0", "1e-4940", "0"),
    ]

    @Test(arguments: incrbyfloatCases)
    func incrbyfloatAgreesWithRedis(_ current: String, _ increment: String, _ reply: String) {
        #expect(incrbyfloat(current, increment) == reply)
    }

    @Test func incrbyfloatNearDoubleOverflowPrintsEveryDigit() {
        // SET k 1; INCRBYFLOAT k 1e308 (twice): long doubles go far beyond the double range.
        let once =
            "999999999999999999966858796558456456605600998474155672077970479949217348688380618721001269218885"
            + "393204467472250540132231521347495939605835974208144301964187679591000196031907786631096045071066"
            + "679391533957889389145605435630612683649016186302170865892534448816237913008557573181424245104527"
            + "28255046343928578048"
        let twice =
            "199999999999999999993371759311691291321120199694831134415594095989843469737676123744200253843777"
            + "078640893494450108026446304269499187921167194841628860392837535918200039206381557326219209014213"
            + "335878306791577877829121087126122536729803237260434173178506889763247582601711514636284849020905"
            + "456510092687857156096"
        #expect(incrbyfloat("1", "1e308") == once)
        #expect(incrbyfloat(once, "1e308") == twice)
    }

    @Test func hugeLongDoublesFormatInFull() throws {
        // SET k 1e4932; INCRBYFLOAT k 0 -> 4933 digits starting like this.
        let value = try #require(RedisNumber.parseLongDouble("1e4932"))
        let huge = RedisNumber.formatLongDouble(value, humanFriendly: true)
        #expect(huge.count == 4933)
        #expect(huge.starts(with: Array("100000000000000000000601894938796389132383777425453311477378".utf8)))
        let negativeValue = try #require(RedisNumber.parseLongDouble("-1.18e4932"))
        let negative = RedisNumber.formatLongDouble(negativeValue, humanFriendly: true)
        #expect(negative.count == 4934)
        #expect(negative.starts(with: Array("-11800000000000000000006528129180936992026904371401604717298".utf8)))
        // The appending and buffer forms give the same bytes as the array form.
        var appended: [UInt8] = [0x2A]
        RedisNumber.formatLongDouble(value, humanFriendly: true, appendingTo: &appended)
        #expect(appended == [0x2A] + huge)
        var storage = [UInt8](repeating: 0, count: RedisNumber.maximumLongDoubleCharacters)
        let written = storage.withUnsafeMutableBytes { buffer in
            RedisNumber.formatLongDouble(value, humanFriendly: true, into: buffer)
        }
        #expect(Array(storage[..<written]) == huge)
        let tooSmall = storage.withUnsafeMutableBytes { buffer in
            RedisNumber.formatLongDouble(
                value,
                humanFriendly: true,
                into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<100])
            )
        }
        #expect(tooSmall == 0)
    }

    // MARK: parseLongDouble (string2ld)

    static let rejectedLongDoubles: [String] = [
        "", " 1", "\t1", "1 ", "nan", "NaN", "1\u{0}abc", "1\u{0}", "0x", "1e", "1e5000", "-1e5000", "1.19e4932",
        "1e-5000", "abc",
    ]

    @Test(arguments: rejectedLongDoubles)
    func parseLongDoubleRejectsWhatRedisRejects(_ text: String) {
        #expect(RedisNumber.parseLongDouble(text) == nil)
        #expect(RedisNumber.parseLongDouble(Array(text.utf8)) == nil)
    }

    @Test func parseLongDoubleAcceptsInfinityAndSubnormals() {
        // INCRBYFLOAT k inf / -infinity: parsed, then refused as "increment would produce NaN or Infinity".
        #expect(RedisNumber.parseLongDouble("inf") == .infinity)
        #expect(RedisNumber.parseLongDouble("INF") == .infinity)
        #expect(RedisNumber.parseLongDouble("-infinity") == -.infinity)
        // 1e-4940 is subnormal in a long double: kept (ERANGE is only fatal for zero or infinity).
        let tiny = RedisNumber.parseLongDouble("1e-4940")
        #expect(tiny != nil && tiny! > 0 && tiny!.isSubnormal)
        #expect(RedisNumber.parseLongDouble("1.18e4932") != nil)
        #expect(RedisNumber.parseLongDouble("0x1p-3") == 0.125)
        #expect(RedisNumber.parseLongDouble("-0")?.sign == .minus)
    }

    @Test func parseLongDoubleLengthLimitIsRedis() {
        // INCRBYFLOAT accepts 5119 bytes of text and rejects 5120.
        let limit = RedisNumber.maximumLongDoubleCharacters
        #expect(limit == 5120)
        #expect(RedisNumber.parseLongDouble("0." + String(repeating: "0", count: limit - 3)) == 0)
        #expect(RedisNumber.parseLongDouble("0." + String(repeating: "0", count: limit - 2)) == nil)
        #expect(RedisNumber.parseLongDouble("1" + String(repeating: "0", count: limit - 2)) == nil)  // overflow
        #expect(RedisNumber.parseLongDouble("1." + String(repeating: "0", count: limit - 3)) == 1)
        #expect(RedisNumber.parseLongDouble("1." + String(repeating: "0", count: limit - 2)) == nil)
    }

    // MARK: parseDouble (string2d)

    static let doubleCases: [(String, Double?)] = [
        ("1e309", nil),
        ("-1e309", nil),
        ("1e-400", nil),
        ("1e-310", Double(bitPattern: 0x0000_1268_8B70_E62B)),  // subnormal: ZSCORE prints 9.9999999999999694e-311
        ("0x1p-1074", .leastNonzeroMagnitude),
        ("inf", .infinity),
        ("-inf", -.infinity),
        ("infinity", .infinity),
        ("nan", nil),
        (" 1", nil),
        ("\t2", nil),
        ("1 ", nil),
        ("", nil),
        ("+5", 5),
        ("1\u{0}", nil),
        ("0x10", 16),
        ("0x1.8p1", 3),
        ("1e", nil),
        (".5", 0.5),
        ("5.", 5),
        ("1.5e3", 1500),
    ]

    @Test(arguments: doubleCases)
    func parseDoubleAgreesWithRedis(_ text: String, _ expected: Double?) {
        #expect(RedisNumber.parseDouble(text) == expected)
        #expect(RedisNumber.parseDouble(Array(text.utf8)) == expected)
    }

    @Test func parseDoubleHasNoLengthLimit() {
        let long = "0." + String(repeating: "0", count: 10_000) + "1e10000"
        #expect(RedisNumber.parseDouble(long) == 1e-1)
        #expect(RedisNumber.parseDouble("-0")?.sign == .minus)
    }

    // MARK: formatLongDouble modes

    /// `%.17Lg` (LD_STR_AUTO) and `%.17Lf` after clean-up (LD_STR_HUMAN), as printed by glibc for the same values.
    static let formatCases: [(String, String, String)] = [
        ("0.1", "0.1", "0.1"),
        ("1e20", "1e+20", "100000000000000000000"),
        ("123456789012345678", "1.2345678901234568e+17", "123456789012345678"),
        ("-0", "-0", "0"),
        ("1e-5", "1e-05", "0.00001"),
        ("100", "100", "100"),
        ("1e17", "1e+17", "100000000000000000"),
        ("1e16", "10000000000000000", "10000000000000000"),
        ("2.5", "2.5", "2.5"),
        ("10.6", "10.6", "10.6"),
        ("1e-300", "1e-300", "0"),
        ("inf", "inf", "inf"),
        ("-inf", "-inf", "-inf"),
    ]

    @Test(arguments: formatCases)
    func formatLongDoubleModes(_ text: String, _ auto: String, _ human: String) throws {
        let value = try #require(RedisNumber.parseLongDouble(text))
        #expect(String(decoding: RedisNumber.formatLongDouble(value, humanFriendly: false), as: UTF8.self) == auto)
        #expect(String(decoding: RedisNumber.formatLongDouble(value, humanFriendly: true), as: UTF8.self) == human)
    }

    @Test func formatLongDoubleOfOneThird() {
        let third: Float80 = 1 / 3
        #expect(RedisNumber.formatLongDouble(third, humanFriendly: false) == Array("0.33333333333333333".utf8))
        #expect(RedisNumber.formatLongDouble(third, humanFriendly: true) == Array("0.33333333333333333".utf8))
        #expect(RedisNumber.formatLongDouble(-third, humanFriendly: true) == Array("-0.33333333333333333".utf8))
    }
}
