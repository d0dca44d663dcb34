public import NIOCore

/// One client request: the command name and its arguments.
public struct RESPCommand: Sendable, Equatable {
    /// The arguments, command name first. Each is binary-safe; for multibulk requests they are slices of the
    /// received bytes (no copy), so copy any you keep beyond the request.
    public var arguments: [ByteBuffer]
    /// `true` when the request came as a plain text line (`PING\r\n`) rather than a RESP array.
    public var isInline: Bool

    /// Creates a request.
    ///
    /// - Parameters:
    ///   - arguments: The arguments, command name first.
    ///   - isInline: Whether the request was an inline text line.
    public init(arguments: [ByteBuffer], isInline: Bool = false) {
        self.arguments = arguments
        self.isInline = isInline
    }
}

/// Size limits the request decoder enforces, named after Redis's.
public struct RESPDecoderLimits: Sendable, Hashable {
    /// The longest bulk string accepted (`proto-max-bulk-len`).
    public var maxBulkLength: Int
    /// The most elements a request array may declare.
    ///
    /// Redis 7.0 only rejects counts above `INT_MAX`; Neptune defaults to 1024 * 1024, Redis's older limit.
    public var maxMultibulkLength: Int
    /// The longest line without an end of line: an inline request, or a `*`/`$` count (`PROTO_INLINE_MAX_SIZE`).
    public var maxInlineLength: Int

    /// Creates limits.
    ///
    /// - Parameters:
    ///   - maxBulkLength: The longest bulk string, 512 MB by default.
    ///   - maxMultibulkLength: The largest element count, 1024 * 1024 by default.
    ///   - maxInlineLength: The longest unterminated line, 64 KB by default.
    public init(
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxMultibulkLength: Int = 1024 * 1024,
        maxInlineLength: Int = 64 * 1024
    ) {
        self.maxBulkLength = maxBulkLength
        self.maxMultibulkLength = maxMultibulkLength
        self.maxInlineLength = maxInlineLength
    }
}

/// Decodes client requests, multibulk (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`) or inline (`GET k\r\n`), exactly as
/// Redis 7.0's `processMultibulkBuffer` and `processInlineBuffer` do, down to the error messages.
///
/// The decoder keeps its place inside a request between calls: a large value that arrives in many reads is
/// checked in O(1) per read, and arguments already parsed are not parsed again. The reader index only moves over
/// the `*<count>` line and complete elements (`$<length>` line, value and terminator).
///
/// Empty requests (`*0\r\n`, `*-1\r\n`, blank lines) are consumed and produce nothing, as in Redis. Malformed
/// input throws a ``RESPProtocolError``; the server then replies `-ERR <message>` and closes the connection.
///
/// ```swift
/// let handler = ByteToMessageHandler(RESPCommandDecoder(limits: .init(), isAuthenticated: true))
/// ```
public struct RESPCommandDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = RESPCommand

    /// The size limits in force; may be changed between requests (`CONFIG SET proto-max-bulk-len`).
    public var limits: RESPDecoderLimits
    /// When `false`, Redis's stricter limits for unauthenticated clients apply: at most 10 elements per request
    /// and bulk strings of at most 16384 bytes.
    public var isAuthenticated: Bool

    /// Elements of the current multibulk request still to read; 0 when between requests.
    private var remainingElements: Int = 0
    /// The element being read, once its `$` line was parsed: that line's length (CRLF included) and the value's.
    /// The reader index stays on the `$` until the whole element is there.
    private var pendingBulk: (headerLength: Int, length: Int)? = nil
    /// Whether the last request ``decode(buffer:into:)`` returned came as an inline text line.
    public private(set) var lastRequestWasInline = false
    /// Arguments of the current multibulk request read so far.
    private var arguments: [ByteBuffer] = []
    /// How many leading `arguments` are private copies rather than slices of the input.
    private var detachedArguments: Int = 0
    /// Bytes after the reader index already known to hold no line end, so a line that arrives slowly is scanned
    /// once; `lineScanBlocked` is set when a NUL byte was found, which Redis's `strchr` never scans past.
    private var lineScanOffset: Int = 0
    private var lineScanBlocked: Bool = false

    private static let unauthenticatedMaxMultibulkLength = 10
    private static let unauthenticatedMaxBulkLength = 16384

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - limits: The size limits.
    ///   - isAuthenticated: Pass `false` while the client still has to authenticate.
    public init(limits: RESPDecoderLimits = .init(), isAuthenticated: Bool = true) {
        self.limits = limits
        self.isAuthenticated = isAuthenticated
    }

    /// Decodes the next non-empty request, or returns `nil` when more bytes are needed.
    ///
    /// - Parameter buffer: The received bytes; complete requests are consumed from it.
    /// - Returns: The request, or `nil` if `buffer` holds no complete request.
    /// - Throws: ``RESPProtocolError`` for malformed input.
    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPCommand? {
        var arguments: [ByteBuffer] = []
        guard try self.decode(buffer: &buffer, into: &arguments) else {
            return nil
        }
        return RESPCommand(arguments: arguments, isInline: self.lastRequestWasInline)
    }

    /// Decodes the next non-empty request into `arguments`, which a server reuses from request to request so that
    /// decoding allocates nothing.
    ///
    /// `arguments` is emptied first (keeping its capacity). Empty it again once the request has run: its
    /// elements are slices of `buffer` and keep its storage shared, so appending to `buffer` would copy it.
    ///
    /// ```swift
    /// var arguments: [ByteBuffer] = []
    /// while try decoder.decode(buffer: &received, into: &arguments) {
    ///     run(arguments)
    ///     arguments.removeAll(keepingCapacity: true)
    /// }
    /// ```
    ///
    /// - Parameters:
    ///   - buffer: The received bytes; a complete request is consumed from it.
    ///   - arguments: Receives the request's arguments, command name first.
    /// - Returns: `true` if a request was decoded (``lastRequestWasInline`` tells its form), `false` if `buffer`
    ///   holds no complete request.
    /// - Throws: ``RESPProtocolError`` for malformed input.
    public mutating func decode(buffer: inout ByteBuffer, into arguments: inout [ByteBuffer]) throws -> Bool {
        // Popping is much cheaper than `removeAll(keepingCapacity:)` (the generic `replaceSubrange`), and a server
        // hands the array over already empty.
        while arguments.popLast() != nil {}
        if self.remainingElements == 0 && !self.lineScanBlocked && self.decodeBufferedRequest(&buffer, &arguments) {
            self.lastRequestWasInline = false
            return true
        }
        while true {
            if self.remainingElements == 0 {
                guard let first = buffer.readableBytesView.first else {
                    return false
                }
                if first == UInt8(ascii: "*") {
                    guard let count = try self.readMultibulkCount(&buffer) else {
                        return false
                    }
                    if count <= 0 {
                        continue
                    }
                    self.remainingElements = count
                    self.arguments.reserveCapacity(min(count, 1024))
                } else {
                    guard let command = try self.readInline(&buffer) else {
                        return false
                    }
                    if command.arguments.isEmpty {
                        continue
                    }
                    arguments = command.arguments
                    self.lastRequestWasInline = true
                    return true
                }
            }
            guard try self.readBulkStrings(&buffer) else {
                self.detachPendingArguments()
                return false
            }
            arguments = self.arguments
            self.arguments = []
            self.detachedArguments = 0
            self.lastRequestWasInline = false
            return true
        }
    }

    /// The fast path of ``decode(buffer:into:)``: a multibulk request that is wholly buffered and well within the
    /// limits, decoded in one pass over the bytes.
    ///
    /// It accepts exactly the requests the general path would return whole, with the same arguments and the same
    /// bytes consumed. Anything else (an incomplete request, a malformed or over-limit count, a NUL before a line
    /// end, an empty request) returns `false` with `buffer` and `arguments` untouched, and the general path,
    /// which keeps its place across reads and reports Redis's errors, takes over.
    private mutating func decodeBufferedRequest(_ buffer: inout ByteBuffer, _ arguments: inout [ByteBuffer]) -> Bool {
        let maxCount =
            self.isAuthenticated
            ? self.limits.maxMultibulkLength
            : min(self.limits.maxMultibulkLength, Self.unauthenticatedMaxMultibulkLength)
        let maxBulk =
            self.isAuthenticated
            ? self.limits.maxBulkLength : min(self.limits.maxBulkLength, Self.unauthenticatedMaxBulkLength)
        let readerIndex = buffer.readerIndex
        let consumed = buffer.withUnsafeReadableBytes { bytes -> Int in
            guard let (count, countEnd) = Self.countLine(bytes, at: 0, marker: UInt8(ascii: "*")),
                count > 0, count <= maxCount
            else {
                return 0
            }
            arguments.reserveCapacity(min(count, 1024))
            var position = countEnd
            for _ in 0..<count {
                guard let (length, valueStart) = Self.countLine(bytes, at: position, marker: UInt8(ascii: "$")),
                    length >= 0, length <= maxBulk, length <= bytes.count - valueStart - 2
                else {
                    arguments.removeAll(keepingCapacity: true)
                    return 0
                }
                arguments.append(buffer.getSlice(at: readerIndex + valueStart, length: length).unsafelyUnwrapped)
                // The value is followed by two bytes that Redis skips without looking at them.
                position = valueStart + length + 2
            }
            return position
        }
        guard consumed > 0 else {
            return false
        }
        buffer.moveReaderIndex(forwardBy: consumed)
        self.resetLineScan()
        return true
    }

    /// Reads a `*<count>` or `$<length>` line that starts at `start` in `bytes`, for the fast path.
    ///
    /// - Returns: The number and the offset just past the line (its `\r` plus one byte, as Redis skips it), or
    ///   `nil` if the line does not start with `marker`, is incomplete, holds a NUL or is not a valid number.
    @inline(__always)
    private static func countLine(_ bytes: UnsafeRawBufferPointer, at start: Int, marker: UInt8) -> (Int, Int)? {
        guard start < bytes.count, bytes[start] == marker else {
            return nil
        }
        // A valid count has at most 20 characters; a longer line is left to the general path.
        let end = min(bytes.count, start + 23)
        var index = start + 1
        while index < end {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\r") {
                guard index + 2 <= bytes.count, let value = Self.parseInteger(bytes, from: start + 1, to: index) else {
                    return nil
                }
                return (value, index + 2)
            }
            if byte == 0 {
                return nil
            }
            index += 1
        }
        return nil
    }

    /// Decodes like ``decode(buffer:)``; an incomplete request left at the end of the stream is ignored.
    ///
    /// - Parameters:
    ///   - buffer: The remaining received bytes.
    ///   - seenEOF: Whether the stream ended.
    /// - Returns: The request, or `nil` if `buffer` holds no complete request.
    /// - Throws: ``RESPProtocolError`` for malformed input.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPCommand? {
        try self.decode(buffer: &buffer)
    }

    // MARK: Lines

    /// Finds `terminator` the way C's `strchr` does on Redis's query buffer: the search stops at a NUL byte.
    ///
    /// - Returns: The offset of `terminator` from the reader index, or `nil` if it is not (yet) there.
    private mutating func findLineEnd(_ buffer: ByteBuffer, terminator: UInt8) -> Int? {
        if self.lineScanBlocked {
            return nil
        }
        let start = self.lineScanOffset
        let found: Int? = buffer.withUnsafeReadableBytes { bytes in
            var index = start
            while index < bytes.count {
                let byte = bytes[index]
                if byte == terminator || byte == 0 {
                    return index
                }
                index += 1
            }
            return nil
        }
        guard let index = found else {
            self.lineScanOffset = buffer.readableBytes
            return nil
        }
        if buffer.getInteger(at: buffer.readerIndex + index, as: UInt8.self) == 0 {
            self.lineScanBlocked = true
            return nil
        }
        return index
    }

    private mutating func resetLineScan() {
        self.lineScanOffset = 0
        self.lineScanBlocked = false
    }

    /// Locates a `*` or `$` count line ending in `\r` plus one more byte (Redis does not check that it is `\n`).
    ///
    /// - Returns: The offset of the `\r`, or `nil` if the line is incomplete.
    /// - Throws: `tooBig` when the buffered bytes exceed the inline limit without a line end.
    private mutating func findCountLine(_ buffer: ByteBuffer, tooBig: RESPProtocolError) throws -> Int? {
        guard let carriageReturn = self.findLineEnd(buffer, terminator: UInt8(ascii: "\r")) else {
            if buffer.readableBytes > self.limits.maxInlineLength {
                throw tooBig
            }
            return nil
        }
        if carriageReturn > buffer.readableBytes - 2 {
            return nil
        }
        return carriageReturn
    }

    /// Parses `*<count>\r\n`, consuming it.
    ///
    /// - Returns: The count (possibly 0 or negative: an empty request), or `nil` if the line is incomplete.
    private mutating func readMultibulkCount(_ buffer: inout ByteBuffer) throws -> Int? {
        guard let lineEnd = try self.findCountLine(buffer, tooBig: .tooBigMultibulkCountString) else {
            return nil
        }
        let value = Self.parseInteger(buffer, from: 1, to: lineEnd)
        guard let count = value, count <= self.limits.maxMultibulkLength else {
            throw RESPProtocolError.invalidMultibulkLength
        }
        if count > Self.unauthenticatedMaxMultibulkLength && !self.isAuthenticated {
            throw RESPProtocolError.unauthenticatedMultibulkLength
        }
        buffer.moveReaderIndex(forwardBy: lineEnd + 2)
        self.resetLineScan()
        return count
    }

    /// Reads the remaining elements of the current multibulk request.
    ///
    /// - Returns: `true` once every element is read, `false` if more bytes are needed.
    private mutating func readBulkStrings(_ buffer: inout ByteBuffer) throws -> Bool {
        while self.remainingElements > 0 {
            let headerLength: Int
            let length: Int
            if let pending = self.pendingBulk {
                (headerLength, length) = pending
            } else {
                guard let lineEnd = try self.findCountLine(buffer, tooBig: .tooBigBulkCountString) else {
                    return false
                }
                let marker = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self)!
                if marker != UInt8(ascii: "$") {
                    throw RESPProtocolError.expectedDollar(got: marker)
                }
                guard let parsed = Self.parseInteger(buffer, from: 1, to: lineEnd),
                    parsed >= 0, parsed <= self.limits.maxBulkLength
                else {
                    throw RESPProtocolError.invalidBulkLength
                }
                if parsed > Self.unauthenticatedMaxBulkLength && !self.isAuthenticated {
                    throw RESPProtocolError.unauthenticatedBulkLength
                }
                self.resetLineScan()
                headerLength = lineEnd + 2
                length = parsed
                self.pendingBulk = (headerLength, length)
            }
            // The value is followed by two bytes that Redis skips without looking at them.
            guard buffer.readableBytes >= headerLength + length + 2 else {
                return false
            }
            buffer.moveReaderIndex(forwardBy: headerLength)
            self.arguments.append(buffer.readSlice(length: length)!)
            buffer.moveReaderIndex(forwardBy: 2)
            self.pendingBulk = nil
            self.remainingElements -= 1
        }
        return true
    }

    /// Replaces the arguments that are still slices of the input by copies, so that the input buffer is not
    /// shared while the decoder waits: otherwise every read appended to it would copy it whole.
    private mutating func detachPendingArguments() {
        while self.detachedArguments < self.arguments.count {
            let slice = self.arguments[self.detachedArguments]
            self.arguments[self.detachedArguments] = ByteBuffer(bytes: slice.readableBytesView)
            self.detachedArguments += 1
        }
    }

    /// Parses an inline request line ending in `\n` (an optional `\r` before it is dropped), consuming it.
    ///
    /// - Returns: The request (with no arguments for a blank line), or `nil` if the line is incomplete.
    private mutating func readInline(_ buffer: inout ByteBuffer) throws -> RESPCommand? {
        guard let newline = self.findLineEnd(buffer, terminator: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > self.limits.maxInlineLength {
                throw RESPProtocolError.tooBigInlineRequest
            }
            return nil
        }
        var lineLength = newline
        if lineLength > 0 && buffer.getInteger(at: buffer.readerIndex + lineLength - 1, as: UInt8.self) == 13 {
            lineLength -= 1
        }
        let split = buffer.withUnsafeReadableBytes { bytes in
            InlineArguments.split(UnsafeRawBufferPointer(rebasing: bytes[..<lineLength]))
        }
        guard let arguments = split else {
            throw RESPProtocolError.unbalancedQuotes
        }
        buffer.moveReaderIndex(forwardBy: newline + 1)
        self.resetLineScan()
        return RESPCommand(arguments: arguments.map { ByteBuffer(bytes: $0) }, isInline: true)
    }

    // MARK: Numbers

    /// Parses the bytes in `[from, to)` after the reader index like Redis's `string2ll`.
    private static func parseInteger(_ buffer: ByteBuffer, from start: Int, to end: Int) -> Int? {
        buffer.withUnsafeReadableBytes { Self.parseInteger($0, from: start, to: end) }
    }

    /// Parses `bytes[start..<end]` like Redis's `string2ll`: an optional `-`, then `0` alone or digits not starting
    /// with `0`; nothing else, at most 20 bytes, within `Int64`.
    @inline(__always)
    private static func parseInteger(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int? {
        let length = end - start
        if length <= 0 || length >= 21 {
            return nil
        }
        var index = start
        if length == 1 && bytes[index] == UInt8(ascii: "0") {
            return 0
        }
        var negative = false
        if bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
            if index == end {
                return nil
            }
        }
        guard bytes[index] >= UInt8(ascii: "1") && bytes[index] <= UInt8(ascii: "9") else {
            return nil
        }
        var magnitude = UInt64(bytes[index] - UInt8(ascii: "0"))
        index += 1
        while index < end {
            let byte = bytes[index]
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
            if magnitude > UInt64(Int64.max) + 1 {
                return nil
            }
            return Int(Int64(truncatingIfNeeded: 0 &- magnitude))
        }
        if magnitude > UInt64(Int64.max) {
            return nil
        }
        return Int(magnitude)
    }
}
