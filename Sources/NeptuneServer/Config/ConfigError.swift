/// An error from loading the configuration or from `CONFIG SET`, worded as Redis 7.0 words it.
///
/// Two errors are equal when their ``code`` is equal; the text is for people and for the wire.
///
/// ```swift
/// do {
///     try config.set([(Array("maxmemory".utf8), Array("lots".utf8))])
/// } catch {
///     error.code == .invalidValue  // true
///     error.message
///     // ERR CONFIG SET failed (possibly related to argument 'maxmemory') - argument must be a memory value
/// }
/// ```
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: Hashable, Sendable {
            case unknownOption
            case immutable
            case protected
            case duplicateParameter
            case invalidValue
            case badConfigFile
            case cannotOpenFile
            case noConfigFile
            case rewriteFailed
        }

        private let base: Base

        private init(_ base: Base) {
            self.base = base
        }

        /// `CONFIG SET` named a parameter that does not exist.
        public static let unknownOption = Code(.unknownOption)
        /// `CONFIG SET` named a parameter that can only be set at startup.
        public static let immutable = Code(.immutable)
        /// `CONFIG SET` named a protected parameter (`dir`, `dbfilename`) and `enable-protected-configs` forbids it.
        public static let protected = Code(.protected)
        /// `CONFIG SET` named the same parameter twice.
        public static let duplicateParameter = Code(.duplicateParameter)
        /// `CONFIG SET` gave a value the parameter does not accept.
        public static let invalidValue = Code(.invalidValue)
        /// A configuration file or command line option is wrong (the "FATAL CONFIG FILE ERROR" report).
        public static let badConfigFile = Code(.badConfigFile)
        /// A configuration file (or an included one) could not be opened.
        public static let cannotOpenFile = Code(.cannotOpenFile)
        /// `CONFIG REWRITE` on a server started without a configuration file.
        public static let noConfigFile = Code(.noConfigFile)
        /// `CONFIG REWRITE` could not write the configuration file.
        public static let rewriteFailed = Code(.rewriteFailed)

        public var description: String {
            "\(self.base)"
        }
    }

    /// What kind of failure this is.
    public let code: Code
    /// The whole text. For `CONFIG SET` and `CONFIG REWRITE` errors it is the error reply without its leading `-`,
    /// starting with `ERR`. For loading errors it is the report `redis-server` prints on standard error, several
    /// lines without a trailing newline.
    public let message: String
    /// The reason alone, for example `argument couldn't be parsed into an integer`.
    public let reason: String
    /// The parameter the error names, if any, spelled as the message spells it.
    public let parameter: String?
    /// For configuration errors found on a line: the line number (1-based) in the file or option text that was read.
    public let lineNumber: Int?
    /// For configuration errors found on a line: that line, trimmed of surrounding blanks.
    public let line: String?

    private init(
        code: Code,
        message: String,
        reason: String,
        parameter: String? = nil,
        lineNumber: Int? = nil,
        line: String? = nil
    ) {
        self.code = code
        self.message = message
        self.reason = reason
        self.parameter = parameter
        self.lineNumber = lineNumber
        self.line = line
    }

    /// The prefix of the RESP error reply (`ERR`).
    public var replyPrefix: String {
        "ERR"
    }

    public var description: String {
        self.message
    }

    public static func == (lhs: ConfigError, rhs: ConfigError) -> Bool {
        lhs.code == rhs.code
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.code)
    }
}

extension ConfigError {
    static func unknownOption(_ name: String) -> ConfigError {
        ConfigError(
            code: .unknownOption,
            message: "ERR Unknown option or number of arguments for CONFIG SET - '\(name)'",
            reason: "Unknown option or number of arguments for CONFIG SET",
            parameter: name
        )
    }

    static func setFailed(_ code: Code, parameter: String, reason: String) -> ConfigError {
        ConfigError(
            code: code,
            message: "ERR CONFIG SET failed (possibly related to argument '\(parameter)') - \(reason)",
            reason: reason,
            parameter: parameter
        )
    }

    static func badConfigFile(version: String, reason: String, lineNumber: Int?, line: String?) -> ConfigError {
        var text = "*** FATAL CONFIG FILE ERROR (Neptune \(version)) ***\n"
        if let lineNumber, let line {
            text += "Reading the configuration file, at line \(lineNumber)\n>>> '\(line)'\n"
        }
        text += reason
        return ConfigError(code: .badConfigFile, message: text, reason: reason, lineNumber: lineNumber, line: line)
    }

    static func cannotOpenFile(_ path: String, reason: String) -> ConfigError {
        ConfigError(
            code: .cannotOpenFile,
            message: "Fatal error, can't open config file '\(path)': \(reason)",
            reason: reason,
            parameter: path
        )
    }

    static let noConfigFile = ConfigError(
        code: .noConfigFile,
        message: "ERR The server is running without a config file",
        reason: "The server is running without a config file"
    )

    static func rewriteFailed(_ reason: String) -> ConfigError {
        ConfigError(code: .rewriteFailed, message: "ERR Rewriting config file: \(reason)", reason: reason)
    }
}
