public import NIOCore

/// How a key index becomes key bytes: a prefix followed by the index in decimal, zero-padded to a fixed width.
public struct KeyFormat: Sendable, Hashable {
    /// The bytes before the index, `key:` by default.
    public let prefix: [UInt8]
    /// The number of digits: at least 8, more if the keyspace needs them.
    public let width: Int

    /// Creates the format for a keyspace.
    /// - Parameters:
    ///   - prefix: The key prefix.
    ///   - keyspace: The number of keys; indices run from 0 to `keyspace - 1`.
    public init(prefix: String, keyspace: Int) {
        self.prefix = Array(prefix.utf8)
        self.width = max(8, decimalDigitCount(max(keyspace - 1, 0)))
    }

    /// The key length in bytes.
    public var length: Int { self.prefix.count + self.width }

    /// The key for an index, as bytes.
    /// - Parameter index: A key index within the keyspace.
    public func key(_ index: Int) -> [UInt8] {
        var bytes = self.prefix
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: self.width)
        writeDigits(of: index, into: &digits)
        bytes += digits
        return bytes
    }
}

/// Encodes one ``CommandTemplate`` as RESP arrays of bulk strings, straight into a `ByteBuffer`.
///
/// Everything that does not depend on the key index or the value size is pre-encoded at creation, so writing a
/// request is a few `memcpy`s plus the key's digits.
public struct RequestEncoder: Sendable {
    private enum Operation: Sendable {
        /// A range of ``literals``; ranges instead of arrays keep the hot loop free of reference counting.
        case literal(start: Int, count: Int)
        case keyDigits
        /// `$<length>\r\n` for an argument containing `__data__`: its static bytes plus `count` values.
        case dataArgumentHeader(staticLength: Int, dataCount: Int)
        case data
    }

    private let operations: [Operation]
    private let literals: [UInt8]
    private let keyWidth: Int

    /// Compiles a template.
    /// - Parameters:
    ///   - template: The command to encode.
    ///   - keyFormat: How `__key__` is spelled.
    ///   - fixedDataSize: The value size when every request uses the same one; `nil` when it varies, so argument
    ///     lengths are written per request.
    public init(template: CommandTemplate, keyFormat: KeyFormat, fixedDataSize: Int?) {
        var operations: [Operation] = []
        var literals: [UInt8] = []
        var pending: [UInt8] = []
        func flushLiteral() {
            if !pending.isEmpty {
                operations.append(.literal(start: literals.count, count: pending.count))
                literals += pending
                pending = []
            }
        }
        pending += Array("*\(template.arguments.count)\r\n".utf8)
        for argument in template.arguments {
            var staticLength = 0
            var dataCount = 0
            for segment in argument {
                switch segment {
                case .literal(let bytes): staticLength += bytes.count
                case .key: staticLength += keyFormat.length
                case .data: dataCount += 1
                }
            }
            if dataCount == 0 || fixedDataSize != nil {
                let length = staticLength + dataCount * (fixedDataSize ?? 0)
                pending += Array("$\(length)\r\n".utf8)
            } else {
                flushLiteral()
                operations.append(.dataArgumentHeader(staticLength: staticLength, dataCount: dataCount))
            }
            for segment in argument {
                switch segment {
                case .literal(let bytes):
                    pending += bytes
                case .key:
                    pending += keyFormat.prefix
                    flushLiteral()
                    operations.append(.keyDigits)
                case .data:
                    flushLiteral()
                    operations.append(.data)
                }
            }
            pending += [UInt8(ascii: "\r"), UInt8(ascii: "\n")]
        }
        flushLiteral()
        self.operations = operations
        self.literals = literals
        self.keyWidth = keyFormat.width
    }

    /// Appends one request.
    /// - Parameters:
    ///   - keyIndex: The key index substituted for `__key__`.
    ///   - dataSize: The value size for `__data__`; at most `data.count`.
    ///   - data: The value bytes; the first `dataSize` are sent.
    ///   - buffer: The buffer to append to.
    @inline(__always)
    public func write(keyIndex: Int, dataSize: Int, data: [UInt8], into buffer: inout ByteBuffer) {
        self.literals.withUnsafeBytes { literals in
            self.write(keyIndex: keyIndex, dataSize: dataSize, data: data, literals: literals, into: &buffer)
        }
    }

    @inline(__always)
    private func write(
        keyIndex: Int,
        dataSize: Int,
        data: [UInt8],
        literals: UnsafeRawBufferPointer,
        into buffer: inout ByteBuffer
    ) {
        for operation in self.operations {
            switch operation {
            case .literal(let start, let count):
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: literals[start..<(start + count)]))
            case .keyDigits:
                writeDecimal(keyIndex, width: self.keyWidth, into: &buffer)
            case .dataArgumentHeader(let staticLength, let dataCount):
                buffer.writeInteger(UInt8(ascii: "$"))
                writeDecimal(staticLength + dataCount * dataSize, into: &buffer)
                buffer.writeInteger(UInt16(0x0D0A))
            case .data:
                data.withUnsafeBytes { bytes in
                    _ = buffer.writeBytes(UnsafeRawBufferPointer(rebasing: bytes[0..<dataSize]))
                }
            }
        }
    }

    /// Encodes one request into a new array (for tests and diagnostics; the load generator uses
    /// ``write(keyIndex:dataSize:data:into:)``).
    /// - Parameters:
    ///   - keyIndex: The key index substituted for `__key__`.
    ///   - dataSize: The value size for `__data__`.
    ///   - data: The value bytes; the first `dataSize` are sent.
    /// - Returns: The RESP bytes of the request.
    public func encode(keyIndex: Int, dataSize: Int, data: [UInt8]) -> [UInt8] {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        self.write(keyIndex: keyIndex, dataSize: dataSize, data: data, into: &buffer)
        return buffer.readBytes(length: buffer.readableBytes) ?? []
    }
}

func decimalDigitCount(_ value: Int) -> Int {
    var count = 1
    var rest = value / 10
    while rest > 0 {
        count += 1
        rest /= 10
    }
    return count
}

private func writeDigits(of value: Int, into digits: inout [UInt8]) {
    var rest = value
    var position = digits.count
    while position > 0 {
        position -= 1
        digits[position] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
        rest /= 10
    }
}

@inline(__always)
private func writeDecimal(_ value: Int, into buffer: inout ByteBuffer) {
    writeDecimal(value, width: decimalDigitCount(value), into: &buffer)
}

/// Writes the non-negative `value` as exactly `width` decimal digits (zero-padded; higher digits are dropped).
@inline(__always)
private func writeDecimal(_ value: Int, width: Int, into buffer: inout ByteBuffer) {
    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: width) { pointer in
        var rest = value
        var position = width
        while position > 0 {
            position -= 1
            pointer[position] = UInt8(truncatingIfNeeded: rest % 10) &+ UInt8(ascii: "0")
            rest /= 10
        }
        return width
    }
}
