/// A malformed request or reply.
///
/// ``message`` is the text Redis puts after `-ERR `, for example `Protocol error: invalid multibulk length`.
/// A server answers with `-ERR <message>\r\n` (`ByteBuffer.writeRESPError(_:)` writes it)
/// and closes the connection.
public struct RESPProtocolError: Error, Equatable, Hashable, CustomStringConvertible {
    /// The exact bytes of the message. They differ from ``message`` only when Redis would echo a byte that is
    /// not valid UTF-8 (`Protocol error: expected '$', got '\xff'`).
    public var messageBytes: [UInt8]

    /// The message without the `ERR ` prefix, for example `Protocol error: invalid bulk length`.
    public var message: String {
        get { String(decoding: self.messageBytes, as: UTF8.self) }
        set { self.messageBytes = Array(newValue.utf8) }
    }

    /// Creates an error with the given message.
    ///
    /// - Parameter message: The message without the `ERR ` prefix.
    public init(message: String) {
        self.messageBytes = Array(message.utf8)
    }

    /// Creates an error from the exact bytes of its message.
    ///
    /// - Parameter messageBytes: The message without the `ERR ` prefix.
    public init(messageBytes: [UInt8]) {
        self.messageBytes = messageBytes
    }

    public var description: String {
        self.message
    }
}

extension RESPProtocolError {
    /// `Protocol error: too big inline request`: an inline request line longer than the inline limit.
    public static let tooBigInlineRequest = Self(message: "Protocol error: too big inline request")
    /// `Protocol error: unbalanced quotes in request`: an inline request with a bad quoted argument.
    public static let unbalancedQuotes = Self(message: "Protocol error: unbalanced quotes in request")
    /// `Protocol error: too big mbulk count string`: no end of line after `*` within the inline limit.
    public static let tooBigMultibulkCountString = Self(message: "Protocol error: too big mbulk count string")
    /// `Protocol error: invalid multibulk length`: the `*` count is not an integer or is too large.
    public static let invalidMultibulkLength = Self(message: "Protocol error: invalid multibulk length")
    /// `Protocol error: unauthenticated multibulk length`: more than 10 arguments before authentication.
    public static let unauthenticatedMultibulkLength = Self(
        message: "Protocol error: unauthenticated multibulk length"
    )
    /// `Protocol error: too big bulk count string`: no end of line after `$` within the inline limit.
    public static let tooBigBulkCountString = Self(message: "Protocol error: too big bulk count string")
    /// `Protocol error: invalid bulk length`: the `$` length is not an integer, negative, or too large.
    public static let invalidBulkLength = Self(message: "Protocol error: invalid bulk length")
    /// `Protocol error: unauthenticated bulk length`: a bulk longer than 16384 bytes before authentication.
    public static let unauthenticatedBulkLength = Self(message: "Protocol error: unauthenticated bulk length")

    /// `Protocol error: expected '$', got '<byte>'`: an array element that is not a bulk string.
    ///
    /// As Redis's error formatting does, a `\r` or `\n` byte is shown as a space.
    ///
    /// - Parameter byte: The byte found where `$` was expected.
    /// - Returns: The error.
    public static func expectedDollar(got byte: UInt8) -> Self {
        let shown = byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n") ? UInt8(ascii: " ") : byte
        return Self(messageBytes: Array("Protocol error: expected '$', got '".utf8) + [shown, UInt8(ascii: "'")])
    }
}
