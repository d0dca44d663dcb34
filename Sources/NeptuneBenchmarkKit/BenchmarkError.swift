/// An error that ends a benchmark run or rejects its configuration.
///
/// Errors compare equal when their codes are equal; the message carries the details for the user.
public struct BenchmarkError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure happened.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case invalidConfiguration
            case invalidTemplate
            case connectionFailed
            case connectionClosed
            case protocolViolation
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// An option is missing, out of range or contradicts another option.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// A `--command` template cannot be parsed.
        public static let invalidTemplate = Code(.invalidTemplate)
        /// A connection to the server could not be established.
        public static let connectionFailed = Code(.connectionFailed)
        /// The server closed a connection, or the connection failed, during the run.
        public static let connectionClosed = Code(.connectionClosed)
        /// The server sent bytes that are not a RESP reply, or more replies than requests.
        public static let protocolViolation = Code(.protocolViolation)

        public var description: String {
            switch self.base {
            case .invalidConfiguration: "invalid configuration"
            case .invalidTemplate: "invalid command template"
            case .connectionFailed: "connection failed"
            case .connectionClosed: "connection closed"
            case .protocolViolation: "protocol violation"
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// A human-readable explanation, suitable for printing after `error: `.
    public let message: String

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: A human-readable explanation.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { self.message }

    static func invalidConfiguration(_ message: String) -> BenchmarkError {
        BenchmarkError(.invalidConfiguration, message)
    }
}

extension BenchmarkError: Equatable {
    public static func == (lhs: BenchmarkError, rhs: BenchmarkError) -> Bool {
        lhs.code == rhs.code
    }
}
