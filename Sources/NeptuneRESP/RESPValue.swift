/// A reply as a client sees it: any RESP2 or RESP3 value.
///
/// ``RESPValueDecoder`` produces these; clients, tests and the benchmark tool read them.
public enum RESPValue: Sendable, Equatable {
    /// `+text`: a status reply such as `OK`.
    case simpleString(String)
    /// `-text` or `!<length>` (RESP3 blob error): the error text including its prefix (`ERR ...`).
    case error(String)
    /// `:n`.
    case integer(Int64)
    /// `$<length>`: binary-safe bytes.
    case bulkString([UInt8])
    /// RESP2's null bulk string (`$-1`) and null array (`*-1`), and RESP3's `_`.
    case null
    /// `*<count>`.
    case array([RESPValue])
    /// `%<count>` (RESP3): key-value pairs in the order they were sent.
    case map([RESPValuePair])
    /// `~<count>` (RESP3).
    case set([RESPValue])
    /// `><count>` (RESP3): an out-of-band message such as a pub/sub delivery.
    case push([RESPValue])
    /// `,<number>` (RESP3), including `inf`, `-inf` and `nan`.
    case double(Double)
    /// `#t` or `#f` (RESP3).
    case boolean(Bool)
    /// `(<digits>` (RESP3): an integer of any size, kept as its decimal text.
    case bigNumber(String)
    /// `=<length>` (RESP3): text with a three-letter format such as `txt` or `mkd`.
    case verbatimString(format: String, text: String)
}

/// One entry of a ``RESPValue/map(_:)``.
public struct RESPValuePair: Sendable, Equatable {
    /// The key.
    public var key: RESPValue
    /// The value.
    public var value: RESPValue

    /// Creates a pair.
    ///
    /// - Parameters:
    ///   - key: The key.
    ///   - value: The value.
    public init(key: RESPValue, value: RESPValue) {
        self.key = key
        self.value = value
    }
}

extension RESPValue {
    /// The text of a simple string, bulk string (decoded as UTF-8), verbatim string or big number; else `nil`.
    public var stringValue: String? {
        switch self {
        case .simpleString(let text), .bigNumber(let text), .verbatimString(_, let text): text
        case .bulkString(let bytes): String(decoding: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The bytes of a bulk string, or the UTF-8 bytes of a simple or verbatim string; else `nil`.
    public var bytesValue: [UInt8]? {
        switch self {
        case .bulkString(let bytes): bytes
        case .simpleString(let text), .verbatimString(_, let text): Array(text.utf8)
        default: nil
        }
    }

    /// The value of an integer reply; else `nil`.
    public var intValue: Int? {
        if case .integer(let value) = self {
            return Int(exactly: value)
        }
        return nil
    }

    /// The number of a double reply, an integer reply, or a string that spells a number (RESP2 sends scores as
    /// bulk strings); else `nil`.
    public var doubleValue: Double? {
        switch self {
        case .double(let value): value
        case .integer(let value): Double(value)
        case .bulkString, .simpleString: self.stringValue.flatMap { Double($0) }
        default: nil
        }
    }

    /// The value of a boolean reply, or of the integers 1 and 0 (RESP2's form of booleans); else `nil`.
    public var boolValue: Bool? {
        switch self {
        case .boolean(let value): value
        case .integer(1): true
        case .integer(0): false
        default: nil
        }
    }

    /// The elements of an array, set or push message; else `nil`.
    public var arrayValue: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): elements
        default: nil
        }
    }

    /// The pairs of a map, or of an array with an even number of elements read as key, value, key, value
    /// (RESP2's form of maps); else `nil`.
    public var mapValue: [RESPValuePair]? {
        switch self {
        case .map(let pairs):
            return pairs
        case .array(let elements) where elements.count % 2 == 0:
            return stride(from: 0, to: elements.count, by: 2).map {
                RESPValuePair(key: elements[$0], value: elements[$0 + 1])
            }
        default:
            return nil
        }
    }

    /// The text of an error reply; else `nil`.
    public var errorMessage: String? {
        if case .error(let message) = self {
            return message
        }
        return nil
    }

    /// Whether this is ``null``.
    public var isNull: Bool {
        self == .null
    }
}
