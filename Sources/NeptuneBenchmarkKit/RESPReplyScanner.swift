public import NIOCore

/// Finds the boundaries of RESP2/RESP3 replies in a byte stream, without parsing their values.
///
/// The scanner is incremental: feed it bytes as they arrive, split anywhere, and it reports each complete
/// top-level reply once, in order, with whether it is an error (`-ERR ...` or a RESP3 blob error). It keeps no copy
/// of the input, so a load generator can scan each read buffer and drop it. Bulk payloads are skipped by length;
/// aggregates (arrays, sets, maps, pushes, attributes) are tracked with a stack of remaining element counts.
/// Top-level RESP3 pushes and attributes are not replies to a request, so they are not reported.
///
/// The text of the first ``maximumCapturedErrors`` error replies is kept in ``capturedErrors``.
///
/// ```swift
/// var scanner = RESPReplyScanner()
/// try scanner.scan(buffer) { isError in
///     completed += 1
/// }
/// ```
public struct RESPReplyScanner: Sendable {
    private enum Mode: Sendable {
        case type
        case line
        case header
        case body
    }

    /// The deepest aggregate nesting accepted before the input is declared malformed.
    public static let maximumDepth = 128

    /// How many error reply texts are kept.
    public var maximumCapturedErrors: Int
    /// The text of the first error replies, without the leading `-` and the trailing CRLF.
    public private(set) var capturedErrors: [String] = []

    private var mode: Mode = .type
    /// Remaining elements of each open aggregate, innermost last; attributes are stored negated.
    private var stack: [Int] = []
    private var headerKind: UInt8 = 0
    private var headerValue = 0
    private var headerNegative = false
    private var remaining = 0
    private var topIsError = false
    private var topIsPush = false
    private var capturing = false
    private var errorBytes: [UInt8] = []

    private static let maximumErrorLength = 512

    /// Creates a scanner positioned at the start of a reply.
    /// - Parameter maximumCapturedErrors: How many error texts to keep in ``capturedErrors``.
    public init(maximumCapturedErrors: Int = 5) {
        self.maximumCapturedErrors = maximumCapturedErrors
    }

    /// Whether the scanner is between replies (no reply is partially consumed).
    public var isAtReplyBoundary: Bool {
        self.mode == .type && self.stack.isEmpty
    }

    /// Consumes all readable bytes of a buffer (without moving its reader index).
    /// - Parameters:
    ///   - buffer: The received bytes.
    ///   - onReply: Called once per complete top-level reply, with `true` for an error reply.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/protocolViolation`` when the bytes are not RESP.
    @inline(__always)
    public mutating func scan(_ buffer: ByteBuffer, onReply: (_ isError: Bool) -> Void) throws(BenchmarkError) {
        try buffer.withUnsafeReadableBytes { bytes throws(BenchmarkError) in
            try self.scan(bytes, onReply: onReply)
        }
    }

    /// Consumes bytes.
    /// - Parameters:
    ///   - bytes: The received bytes, continuing where the previous call stopped.
    ///   - onReply: Called once per complete top-level reply, with `true` for an error reply.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/protocolViolation`` when the bytes are not RESP.
    public mutating func scan(
        _ bytes: UnsafeRawBufferPointer,
        onReply: (_ isError: Bool) -> Void
    ) throws(BenchmarkError) {
        let count = bytes.count
        var index = 0
        while index < count {
            switch self.mode {
            case .type:
                let byte = bytes[index]
                index += 1
                if self.stack.isEmpty {
                    self.topIsError = byte == UInt8(ascii: "-") || byte == UInt8(ascii: "!")
                    self.topIsPush = byte == UInt8(ascii: ">")
                    self.capturing = self.topIsError && self.capturedErrors.count < self.maximumCapturedErrors
                    if self.capturing {
                        self.errorBytes.removeAll(keepingCapacity: true)
                    }
                }
                switch byte {
                case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: ","),
                    UInt8(ascii: "#"), UInt8(ascii: "("):
                    self.mode = .line
                case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"), UInt8(ascii: "*"), UInt8(ascii: "%"),
                    UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "|"):
                    self.mode = .header
                    self.headerKind = byte
                    self.headerValue = 0
                    self.headerNegative = false
                default:
                    throw BenchmarkError(
                        .protocolViolation,
                        "the server sent byte \(describe(byte)) where a RESP reply type was expected"
                    )
                }
            case .line:
                var end = index
                while end < count, bytes[end] != UInt8(ascii: "\n") {
                    end += 1
                }
                if self.capturing {
                    self.capture(UnsafeRawBufferPointer(rebasing: bytes[index..<end]))
                }
                if end == count {
                    index = count
                } else {
                    index = end + 1
                    self.mode = .type
                    self.elementDone(onReply)
                }
            case .header:
                let byte = bytes[index]
                index += 1
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    self.headerValue = self.headerValue * 10 + Int(byte &- UInt8(ascii: "0"))
                    if self.headerValue > 1 << 40 {
                        throw BenchmarkError(.protocolViolation, "the server sent a reply length that is too large")
                    }
                case UInt8(ascii: "-"):
                    self.headerNegative = true
                case UInt8(ascii: "\r"):
                    break
                case UInt8(ascii: "\n"):
                    try self.finishHeader(onReply)
                default:
                    throw BenchmarkError(
                        .protocolViolation,
                        "the server sent byte \(describe(byte)) inside a reply length (streamed replies are not "
                            + "supported)"
                    )
                }
            case .body:
                let take = min(self.remaining, count - index)
                if self.capturing {
                    self.capture(UnsafeRawBufferPointer(rebasing: bytes[index..<(index + take)]))
                }
                index += take
                self.remaining -= take
                if self.remaining == 0 {
                    self.mode = .type
                    self.elementDone(onReply)
                }
            }
        }
    }

    private mutating func finishHeader(_ onReply: (_ isError: Bool) -> Void) throws(BenchmarkError) {
        let value = self.headerNegative ? -self.headerValue : self.headerValue
        self.mode = .type
        switch self.headerKind {
        case UInt8(ascii: "$"), UInt8(ascii: "="), UInt8(ascii: "!"):
            if value < 0 {
                self.elementDone(onReply)
            } else {
                self.mode = .body
                self.remaining = value + 2
            }
        case UInt8(ascii: "|"):
            // An attribute map annotates the value that follows it and is not an element itself.
            if value > 0 {
                try self.push(-2 * value)
            }
        default:
            let elements = self.headerKind == UInt8(ascii: "%") ? 2 * value : value
            if elements <= 0 {
                self.elementDone(onReply)
            } else {
                try self.push(elements)
            }
        }
    }

    @inline(__always)
    private mutating func push(_ elements: Int) throws(BenchmarkError) {
        guard self.stack.count < Self.maximumDepth else {
            throw BenchmarkError(.protocolViolation, "the server sent replies nested too deeply")
        }
        self.stack.append(elements)
    }

    @inline(__always)
    private mutating func elementDone(_ onReply: (_ isError: Bool) -> Void) {
        while let last = self.stack.last {
            if last > 1 {
                self.stack[self.stack.count - 1] = last - 1
                return
            }
            if last < -1 {
                self.stack[self.stack.count - 1] = last + 1
                return
            }
            self.stack.removeLast()
            if last < 0 {
                // An attribute ended; the value it annotates is still to come.
                return
            }
        }
        if self.capturing {
            self.capturing = false
            while let last = self.errorBytes.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: "\n") {
                self.errorBytes.removeLast()
            }
            self.capturedErrors.append(String(decoding: self.errorBytes, as: UTF8.self))
        }
        if !self.topIsPush {
            onReply(self.topIsError)
        }
    }

    private mutating func capture(_ bytes: UnsafeRawBufferPointer) {
        let room = Self.maximumErrorLength - self.errorBytes.count
        if room > 0 {
            self.errorBytes.append(contentsOf: bytes.prefix(room))
        }
    }
}

private func describe(_ byte: UInt8) -> String {
    if byte >= 0x20 && byte < 0x7F {
        return "'\(Character(Unicode.Scalar(byte)))'"
    }
    let hex = String(byte, radix: 16, uppercase: true)
    return "0x" + (hex.count == 1 ? "0" + hex : hex)
}
