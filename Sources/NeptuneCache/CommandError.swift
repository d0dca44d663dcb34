/// An error reply: the full message including Redis's prefix (`ERR`, `WRONGTYPE`, `NOAUTH` ...).
public struct CommandError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The reply text without the leading `-`, e.g. `ERR syntax error`.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    /// The first word of the message, e.g. `ERR` or `WRONGTYPE`.
    public var prefix: Substring {
        message.prefix { $0 != " " }
    }

    public static let syntax = CommandError("ERR syntax error")
    public static let wrongType = CommandError("WRONGTYPE Operation against a key holding the wrong kind of value")
    public static let notInteger = CommandError("ERR value is not an integer or out of range")
    public static let notFloat = CommandError("ERR value is not a valid float")
    public static let noSuchKey = CommandError("ERR no such key")
    public static let dbIndexOutOfRange = CommandError("ERR DB index is out of range")
    public static let sameObject = CommandError("ERR source and destination objects are the same")
    public static let overflow = CommandError("ERR increment or decrement would overflow")
    public static let stringTooLong = CommandError("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
    public static let noAuth = CommandError("NOAUTH Authentication required.")

    static func invalidExpireTime(_ command: String) -> CommandError {
        CommandError("ERR invalid expire time in '\(command)' command")
    }

    static func wrongArity(_ command: String) -> CommandError {
        CommandError("ERR wrong number of arguments for '\(command)' command")
    }
}
