public import NIOCore

/// Decodes replies, every RESP2 and RESP3 type, into ``RESPValue``s: the client side of the protocol.
///
/// Parsing runs on a copy of the input, so the reader index only moves once a whole value is present. RESP3
/// attributes (`|`) are read and dropped, and the value they annotate is returned. Aggregates nested more than
/// ``maximumDepth`` levels deep throw.
///
/// A reply that is still incomplete is parsed again from its start on the next call, which is cheap for the
/// replies a client usually waits on (a large bulk string is checked in O(1)), but quadratic for a very long
/// aggregate that arrives in many small reads.
///
/// ```swift
/// var decoder = RESPValueDecoder()
/// var buffer = ByteBuffer(string: "%1\r\n+key\r\n:1\r\n")
/// let value = try decoder.decode(buffer: &buffer)  // .map([RESPValuePair(key: .simpleString("key"), ...)])
/// ```
public struct RESPValueDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = RESPValue

    /// The deepest nesting of aggregates accepted; a top-level array is at depth 1.
    public static let maximumDepth = 100

    /// Creates a decoder.
    public init() {}

    /// Decodes the next reply, or returns `nil` when more bytes are needed.
    ///
    /// - Parameter buffer: The received bytes; a complete reply is consumed from it.
    /// - Returns: The reply, or `nil` if `buffer` holds no complete reply.
    /// - Throws: ``RESPProtocolError`` for malformed input or nesting deeper than ``maximumDepth``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        var copy = buffer
        guard let value = try Self.readValue(&copy, depth: 0) else {
            return nil
        }
        buffer.moveReaderIndex(to: copy.readerIndex)
        return value
    }

    /// Decodes like ``decode(buffer:)``.
    ///
    /// - Parameters:
    ///   - buffer: The remaining received bytes.
    ///   - seenEOF: Whether the stream ended.
    /// - Returns: The reply, or `nil` if `buffer` holds no complete reply.
    /// - Throws: ``RESPProtocolError`` for malformed input.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        try self.decode(buffer: &buffer)
    }

    // MARK: Parsing

    private static func failure(_ what: String) -> RESPProtocolError {
        RESPProtocolError(message: "Protocol error: \(what)")
    }

    /// Reads one value; `nil` when the input ends before it does.
    private static func readValue(_ buffer: inout ByteBuffer, depth: Int) throws -> RESPValue? {
        guard let type = buffer.readInteger(as: UInt8.self) else {
            return nil
        }
        switch type {
        case UInt8(ascii: "+"):
            return try readLine(&buffer).map { .simpleString(String(buffer: $0)) }
        case UInt8(ascii: "-"):
            return try readLine(&buffer).map { .error(String(buffer: $0)) }
        case UInt8(ascii: ":"):
            guard let line = try readLine(&buffer) else {
                return nil
            }
            guard let value = parseInteger(line) else {
                throw failure("invalid integer '\(String(buffer: line))'")
            }
            return .integer(value)
        case UInt8(ascii: "$"):
            guard let length = try readLength(&buffer, allowNull: true) else {
                return nil
            }
            if length < 0 {
                return .null
            }
            return try readBlob(&buffer, length: length).map { .bulkString(Array($0.readableBytesView)) }
        case UInt8(ascii: "!"):
            guard let length = try readLength(&buffer, allowNull: false) else {
                return nil
            }
            return try readBlob(&buffer, length: length).map { .error(String(buffer: $0)) }
        case UInt8(ascii: "="):
            guard let length = try readLength(&buffer, allowNull: false) else {
                return nil
            }
            guard let blob = try readBlob(&buffer, length: length) else {
                return nil
            }
            guard blob.readableBytes >= 4, blob.getInteger(at: blob.readerIndex + 3, as: UInt8.self) == 0x3A else {
                throw failure("invalid verbatim string")
            }
            let format = blob.getString(at: blob.readerIndex, length: 3)!
            let text = blob.getString(at: blob.readerIndex + 4, length: blob.readableBytes - 4)!
            return .verbatimString(format: format, text: text)
        case UInt8(ascii: "_"):
            guard let line = try readLine(&buffer) else {
                return nil
            }
            guard line.readableBytes == 0 else {
                throw failure("invalid null")
            }
            return .null
        case UInt8(ascii: ","):
            guard let line = try readLine(&buffer) else {
                return nil
            }
            guard let value = Double(String(buffer: line)) else {
                throw failure("invalid double '\(String(buffer: line))'")
            }
            return .double(value)
        case UInt8(ascii: "#"):
            guard let line = try readLine(&buffer) else {
                return nil
            }
            switch String(buffer: line) {
            case "t": return .boolean(true)
            case "f": return .boolean(false)
            default: throw failure("invalid boolean")
            }
        case UInt8(ascii: "("):
            guard let line = try readLine(&buffer) else {
                return nil
            }
            let text = String(buffer: line)
            let digits = text.utf8.drop { $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "+") }
            guard text.utf8.count - digits.count <= 1, !digits.isEmpty,
                digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
            else {
                throw failure("invalid big number")
            }
            return .bigNumber(text)
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            guard let count = try readLength(&buffer, allowNull: type == UInt8(ascii: "*")) else {
                return nil
            }
            if count < 0 {
                return .null
            }
            guard let elements = try readElements(&buffer, count: count, depth: depth + 1) else {
                return nil
            }
            switch type {
            case UInt8(ascii: "*"): return .array(elements)
            case UInt8(ascii: "~"): return .set(elements)
            default: return .push(elements)
            }
        case UInt8(ascii: "%"):
            guard let count = try readLength(&buffer, allowNull: false) else {
                return nil
            }
            guard let flat = try readElements(&buffer, count: count * 2, depth: depth + 1) else {
                return nil
            }
            let pairs = stride(from: 0, to: flat.count, by: 2).map {
                RESPValuePair(key: flat[$0], value: flat[$0 + 1])
            }
            return .map(pairs)
        case UInt8(ascii: "|"):
            // An attribute annotates the value that follows it; drop it and return that value.
            guard let count = try readLength(&buffer, allowNull: false) else {
                return nil
            }
            guard try readElements(&buffer, count: count * 2, depth: depth + 1) != nil else {
                return nil
            }
            return try readValue(&buffer, depth: depth)
        default:
            let shown = type >= 0x20 && type < 0x7F ? String(UnicodeScalar(type)) : "\\x\(String(type, radix: 16))"
            throw failure("unknown reply type '\(shown)'")
        }
    }

    private static func readElements(_ buffer: inout ByteBuffer, count: Int, depth: Int) throws -> [RESPValue]? {
        if depth > Self.maximumDepth {
            throw failure("reply nested deeper than \(Self.maximumDepth) levels")
        }
        var elements: [RESPValue] = []
        elements.reserveCapacity(min(count, 1024))
        for _ in 0..<count {
            guard let element = try readValue(&buffer, depth: depth) else {
                return nil
            }
            elements.append(element)
        }
        return elements
    }

    /// Reads a line ending in CRLF and returns it without the CRLF; `nil` when incomplete.
    private static func readLine(_ buffer: inout ByteBuffer) throws -> ByteBuffer? {
        let view = buffer.readableBytesView
        guard let carriageReturn = view.firstIndex(of: UInt8(ascii: "\r")) else {
            return nil
        }
        guard carriageReturn + 1 < view.endIndex else {
            return nil
        }
        guard view[carriageReturn + 1] == UInt8(ascii: "\n") else {
            throw failure("expected CRLF")
        }
        let line = buffer.readSlice(length: carriageReturn - view.startIndex)!
        buffer.moveReaderIndex(forwardBy: 2)
        return line
    }

    /// Reads a length or count line; `-1` is accepted only where it means null.
    private static func readLength(_ buffer: inout ByteBuffer, allowNull: Bool) throws -> Int? {
        guard let line = try readLine(&buffer) else {
            return nil
        }
        guard let value = parseInteger(line), value >= (allowNull ? -1 : 0), value <= Int64(Int32.max) else {
            if line.readableBytes == 1 && line.getInteger(at: line.readerIndex, as: UInt8.self) == 0x3F {
                throw failure("streamed replies are not supported")
            }
            throw failure("invalid length '\(String(buffer: line))'")
        }
        return Int(value)
    }

    /// Reads `length` bytes followed by CRLF; `nil` when incomplete.
    private static func readBlob(_ buffer: inout ByteBuffer, length: Int) throws -> ByteBuffer? {
        guard buffer.readableBytes >= length + 2 else {
            return nil
        }
        let blob = buffer.readSlice(length: length)!
        guard buffer.readInteger(as: UInt16.self) == 0x0D0A else {
            throw failure("expected CRLF after bulk data")
        }
        return blob
    }

    /// Parses an optionally signed decimal that fits in `Int64`.
    private static func parseInteger(_ line: ByteBuffer) -> Int64? {
        let view = line.readableBytesView
        guard var index = view.first.map({ _ in view.startIndex }) else {
            return nil
        }
        var negative = false
        if view[index] == UInt8(ascii: "-") || view[index] == UInt8(ascii: "+") {
            negative = view[index] == UInt8(ascii: "-")
            index += 1
        }
        guard index < view.endIndex else {
            return nil
        }
        var magnitude: UInt64 = 0
        while index < view.endIndex {
            let byte = view[index]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                return nil
            }
            let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                return nil
            }
            magnitude = sum
            index += 1
        }
        if negative {
            return magnitude <= UInt64(Int64.max) + 1 ? Int64(truncatingIfNeeded: 0 &- magnitude) : nil
        }
        return magnitude <= UInt64(Int64.max) ? Int64(magnitude) : nil
    }
}
