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
    /// The reply to commands without Redis's `loading` flag while a snapshot or journal is being loaded.
    public static let loading = CommandError("LOADING Redis is loading the dataset in memory")

    /// An error whose text embeds client input, cleaned as Redis's addReplyErrorFormat does: CR and LF are trimmed
    /// from both ends and replaced by spaces inside, so the reply stays one protocol line.
    public static func formatted(_ message: String) -> CommandError {
        var bytes = Array(message.utf8)[...]
        while let last = bytes.last, last == 13 || last == 10 { bytes.removeLast() }
        while let first = bytes.first, first == 13 || first == 10 { bytes.removeFirst() }
        return CommandError(String(decoding: bytes.map { $0 == 13 || $0 == 10 ? 32 : $0 }, as: UTF8.self))
    }

    static func invalidExpireTime(_ command: String) -> CommandError {
        CommandError("ERR invalid expire time in '\(command)' command")
    }

    static func wrongArity(_ command: String) -> CommandError {
        CommandError("ERR wrong number of arguments for '\(command)' command")
    }
}
