/// An error from parsing a query or a definition, carrying the text RediSearch replies with (sent as a RESP error
/// as-is, without an `ERR` prefix, as RediSearch does).
public struct IndexError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error text, e.g. `Syntax error at offset 4 near foo`.
    public let message: String

    /// Creates an error with its reply text.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }

    static func syntax(offset: Int, near: [UInt8]) -> IndexError {
        IndexError("Syntax error at offset \(offset) near \(String(decoding: near, as: UTF8.self))")
    }
}
