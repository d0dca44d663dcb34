public import NIOCore

/// The RESP protocol version a connection speaks.
///
/// Connections start in ``v2``; `HELLO 3` switches them to ``v3``. Writers that have a RESP3-only type
/// (null, map, set, push, double, boolean, verbatim string) take the version and fall back to the RESP2 shape
/// Redis 7.0 uses.
public enum RESPVersion: Int, Sendable, Hashable {
    /// RESP2: simple strings, errors, integers, bulk strings and arrays only.
    case v2 = 2
    /// RESP3: adds null, double, boolean, verbatim string, map, set and push types.
    case v3 = 3
}

extension ByteBuffer {
    // MARK: Raw writing

    /// Reserves `capacity` writable bytes, lets `body` write at most that many at the writer index and moves the
    /// writer index over the count it returns.
    ///
    /// Replies are built from many small writes; this goes to the storage in one step, where `writeStaticString`
    /// or `writeWithUnsafeMutableBytes` slice the storage buffer generically (`dropFirst`) on every call, which
    /// costs more than writing a short reply.
    @inlinable
    internal mutating func _writeRESPRaw(capacity: Int, _ body: (UnsafeMutableRawPointer) -> Int) {
        if self.writableBytes < capacity {
            self.reserveCapacity(minimumWritableBytes: capacity)
        }
        let start = self.writerIndex
        let written = self.withVeryUnsafeMutableBytes { storage in
            body(storage.baseAddress.unsafelyUnwrapped + start)
        }
        self.moveWriterIndex(forwardBy: written)
    }

    /// Writes the bytes of `text`, a short constant such as `$-1\r\n`.
    @inlinable
    internal mutating func _writeRESPConstant(_ text: StaticString) {
        let count = text.utf8CodeUnitCount
        let source = text.utf8Start
        self._writeRESPRaw(capacity: count) { target in
            target.copyMemory(from: source, byteCount: count)
            return count
        }
    }

    /// Writes `<marker><bytes>\r\n`: a simple string's or an error's line.
    @inlinable
    internal mutating func _writeRESPLine(_ marker: UInt8, _ bytes: UnsafeRawBufferPointer) {
        let count = bytes.count
        self._writeRESPRaw(capacity: count + 3) { target in
            target.storeBytes(of: marker, as: UInt8.self)
            if let source = bytes.baseAddress, count > 0 {
                (target + 1).copyMemory(from: source, byteCount: count)
            }
            target.storeBytes(of: UInt8(ascii: "\r"), toByteOffset: count + 1, as: UInt8.self)
            target.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: count + 2, as: UInt8.self)
            return count + 3
        }
    }

    // MARK: Simple strings and errors

    /// Writes a RESP simple string, for example `+OK\r\n`.
    ///
    /// - Parameter s: The status text. It must not contain `\r` or `\n`.
    @inlinable
    public mutating func writeRESPSimpleString(_ s: StaticString) {
        self._writeRESPLine(UInt8(ascii: "+"), UnsafeRawBufferPointer(start: s.utf8Start, count: s.utf8CodeUnitCount))
    }

    /// Writes a RESP simple string, for example `+OK\r\n`.
    ///
    /// - Parameter s: The status text, written as UTF-8. It must not contain `\r` or `\n`.
    @inlinable
    public mutating func writeRESPSimpleString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            self._writeRESPLine(UInt8(ascii: "+"), UnsafeRawBufferPointer(utf8))
        }
    }

    /// Writes a RESP error: `-` followed by the message and CRLF.
    ///
    /// The message already holds its prefix (`"ERR syntax error"`, `"WRONGTYPE Operation against..."`).
    /// Any `\r` or `\n` inside it is written as a space so that the reply stays one protocol line, as Redis does.
    ///
    /// - Parameter message: The error text including its prefix.
    @inlinable
    public mutating func writeRESPError(_ message: String) {
        self.writeInteger(UInt8(ascii: "-"))
        var message = message
        message.withUTF8 { utf8 -> Void in
            self.writeWithUnsafeMutableBytes(minimumWritableBytes: utf8.count) { target in
                for (index, byte) in utf8.enumerated() {
                    let isLineBreak = byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
                    target[index] = isLineBreak ? UInt8(ascii: " ") : byte
                }
                return utf8.count
            }
        }
        self.writeStaticString("\r\n")
    }

    /// Writes the reply Redis sends for a protocol error: `-ERR ` followed by the exact message bytes and CRLF.
    ///
    /// - Parameter error: The error thrown by ``RESPCommandDecoder``.
    @inlinable
    public mutating func writeRESPError(_ error: RESPProtocolError) {
        self.writeStaticString("-ERR ")
        self.writeBytes(error.messageBytes)
        self.writeStaticString("\r\n")
    }

    // MARK: Integers

    /// Writes a RESP integer, for example `:123\r\n`, without going through `String`.
    ///
    /// - Parameter value: The integer to write.
    @inlinable
    public mutating func writeRESPInteger(_ value: Int) {
        self._writeRESPPrefixedInteger(UInt8(ascii: ":"), value)
    }

    /// Writes `<prefix><decimal value>\r\n`, the line shape shared by integers and aggregate or bulk headers.
    @inlinable
    internal mutating func _writeRESPPrefixedInteger(_ prefix: UInt8, _ value: Int) {
        // 1 prefix + 1 sign + 20 digits + CRLF fits in 24 bytes.
        self._writeRESPRaw(capacity: 24) { target in
            Self._encodeRESPPrefixedInteger(prefix, value, into: UnsafeMutableRawBufferPointer(start: target, count: 24))
        }
    }

    /// Encodes `<prefix><decimal value>\r\n` at the start of `buffer` (at least 24 bytes) and returns its length.
    @inlinable
    internal static func _encodeRESPPrefixedInteger(
        _ prefix: UInt8,
        _ value: Int,
        into buffer: UnsafeMutableRawBufferPointer
    ) -> Int {
        buffer[0] = prefix
        var magnitude = value.magnitude
        var digitCount = 1
        var probe = magnitude
        while probe >= 10 {
            probe /= 10
            digitCount += 1
        }
        var position = 1
        if value < 0 {
            buffer[1] = UInt8(ascii: "-")
            position = 2
        }
        var index = position + digitCount - 1
        repeat {
            let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
            buffer[index] = UInt8(truncatingIfNeeded: remainder) &+ UInt8(ascii: "0")
            magnitude = quotient
            index -= 1
        } while magnitude != 0
        position += digitCount
        buffer[position] = UInt8(ascii: "\r")
        buffer[position + 1] = UInt8(ascii: "\n")
        return position + 2
    }

    // MARK: Bulk strings

    /// Writes a RESP bulk string: `$<length>\r\n<bytes>\r\n`.
    ///
    /// - Parameter bytes: The payload; it may hold any byte, including `\r`, `\n` and NUL.
    @inlinable
    public mutating func writeRESPBulkString(_ bytes: UnsafeRawBufferPointer) {
        // One reservation for the header, the payload and the CRLF: this is the GET reply.
        let capacity = 24 + bytes.count + 2
        self._writeRESPRaw(capacity: capacity) { target in
            let buffer = UnsafeMutableRawBufferPointer(start: target, count: capacity)
            var position = Self._encodeRESPPrefixedInteger(UInt8(ascii: "$"), bytes.count, into: buffer)
            if let source = bytes.baseAddress, bytes.count > 0 {
                (buffer.baseAddress.unsafelyUnwrapped + position).copyMemory(from: source, byteCount: bytes.count)
                position += bytes.count
            }
            buffer[position] = UInt8(ascii: "\r")
            buffer[position + 1] = UInt8(ascii: "\n")
            return position + 2
        }
    }

    /// Writes the readable bytes of `bytes` as a RESP bulk string. The reader index of `bytes` is not moved.
    ///
    /// - Parameter bytes: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ bytes: ByteBuffer) {
        self._writeRESPPrefixedInteger(UInt8(ascii: "$"), bytes.readableBytes)
        self.writeImmutableBuffer(bytes)
        self.writeStaticString("\r\n")
    }

    /// Writes a byte array as a RESP bulk string.
    ///
    /// - Parameter bytes: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ bytes: [UInt8]) {
        self._writeRESPPrefixedInteger(UInt8(ascii: "$"), bytes.count)
        self.writeBytes(bytes)
        self.writeStaticString("\r\n")
    }

    /// Writes the UTF-8 bytes of a string as a RESP bulk string.
    ///
    /// - Parameter s: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ s: String) {
        self._writeRESPPrefixedInteger(UInt8(ascii: "$"), s.utf8.count)
        self.writeString(s)
        self.writeStaticString("\r\n")
    }

    /// Writes a static string as a RESP bulk string.
    ///
    /// - Parameter s: The payload.
    @inlinable
    public mutating func writeRESPBulkString(_ s: StaticString) {
        s.withUTF8Buffer { utf8 in
            self.writeRESPBulkString(UnsafeRawBufferPointer(utf8))
        }
    }

    // MARK: Nulls

    /// Writes a null bulk string: `$-1\r\n` in RESP2, `_\r\n` in RESP3.
    ///
    /// - Parameter version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPNull(_ version: RESPVersion) {
        switch version {
        case .v2: self._writeRESPConstant("$-1\r\n")
        case .v3: self._writeRESPConstant("_\r\n")
        }
    }

    /// Writes a null array: `*-1\r\n` in RESP2, `_\r\n` in RESP3.
    ///
    /// - Parameter version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPNullArray(_ version: RESPVersion) {
        switch version {
        case .v2: self._writeRESPConstant("*-1\r\n")
        case .v3: self._writeRESPConstant("_\r\n")
        }
    }

    // MARK: Aggregate headers

    /// Writes an array header, `*<count>\r\n`; the caller then writes `count` elements.
    ///
    /// - Parameter count: The number of elements.
    @inlinable
    public mutating func writeRESPArrayHeader(_ count: Int) {
        self._writeRESPPrefixedInteger(UInt8(ascii: "*"), count)
    }

    /// Writes a map header: `%<count>\r\n` in RESP3, a flat array `*<2 * count>\r\n` in RESP2.
    ///
    /// The caller then writes `count` key-value pairs, key first.
    ///
    /// - Parameters:
    ///   - count: The number of key-value pairs.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPMapHeader(_ count: Int, _ version: RESPVersion) {
        switch version {
        case .v2: self._writeRESPPrefixedInteger(UInt8(ascii: "*"), count * 2)
        case .v3: self._writeRESPPrefixedInteger(UInt8(ascii: "%"), count)
        }
    }

    /// Writes a set header: `~<count>\r\n` in RESP3, `*<count>\r\n` in RESP2.
    ///
    /// - Parameters:
    ///   - count: The number of elements.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPSetHeader(_ count: Int, _ version: RESPVersion) {
        switch version {
        case .v2: self._writeRESPPrefixedInteger(UInt8(ascii: "*"), count)
        case .v3: self._writeRESPPrefixedInteger(UInt8(ascii: "~"), count)
        }
    }

    /// Writes a push header (pub/sub messages): `><count>\r\n` in RESP3, `*<count>\r\n` in RESP2.
    ///
    /// - Parameters:
    ///   - count: The number of elements.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPPushHeader(_ count: Int, _ version: RESPVersion) {
        switch version {
        case .v2: self._writeRESPPrefixedInteger(UInt8(ascii: "*"), count)
        case .v3: self._writeRESPPrefixedInteger(UInt8(ascii: ">"), count)
        }
    }

    // MARK: RESP3 scalars

    /// Writes a double the way Redis 7.0's `addReplyDouble` does.
    ///
    /// The text is C's `%.17g` (`1.5`, `0.10000000000000001`, `1.0000000000000001e+300`, `-0`). Infinities are
    /// written as `inf` and `-inf`. In RESP2 the text is a bulk string; in RESP3 it is `,<text>\r\n`.
    ///
    /// - Parameters:
    ///   - value: The number.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPDouble(_ value: Double, _ version: RESPVersion) {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { scratch in
            let length = RESPFormat._formatDouble17g(value, into: scratch)
            let text = UnsafeRawBufferPointer(rebasing: scratch[..<length])
            switch version {
            case .v2:
                self.writeRESPBulkString(text)
            case .v3:
                self.writeInteger(UInt8(ascii: ","))
                self.writeBytes(text)
                self.writeStaticString("\r\n")
            }
        }
    }

    /// Writes a boolean: `#t\r\n`/`#f\r\n` in RESP3, `:1\r\n`/`:0\r\n` in RESP2.
    ///
    /// - Parameters:
    ///   - value: The boolean.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPBoolean(_ value: Bool, _ version: RESPVersion) {
        switch (version, value) {
        case (.v2, true): self._writeRESPConstant(":1\r\n")
        case (.v2, false): self._writeRESPConstant(":0\r\n")
        case (.v3, true): self._writeRESPConstant("#t\r\n")
        case (.v3, false): self._writeRESPConstant("#f\r\n")
        }
    }

    /// Writes a verbatim text string of format `txt`: `=<length + 4>\r\ntxt:<text>\r\n` in RESP3, a plain bulk
    /// string in RESP2 (as `INFO` and `CLIENT LIST` replies are).
    ///
    /// - Parameters:
    ///   - text: The text, written as UTF-8.
    ///   - version: The connection's protocol version.
    @inlinable
    public mutating func writeRESPVerbatimString(_ text: String, _ version: RESPVersion) {
        switch version {
        case .v2:
            self.writeRESPBulkString(text)
        case .v3:
            self._writeRESPPrefixedInteger(UInt8(ascii: "="), text.utf8.count + 4)
            self.writeStaticString("txt:")
            self.writeString(text)
            self.writeStaticString("\r\n")
        }
    }
}
