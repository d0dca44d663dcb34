/// A command with placeholders, parsed from a `--command` option such as `SET __key__ __data__`.
///
/// Arguments are separated by spaces. Double quotes group an argument and understand the escapes `\"`, `\\`, `\n`,
/// `\r`, `\t` and `\xHH`; single quotes group an argument literally. In any argument, `__key__` stands for the key
/// (the key prefix followed by the zero-padded key index) and `__data__` for a value of the configured data size.
/// All placeholders of one request share the same key and the same value size.
public struct CommandTemplate: Sendable, Hashable, CustomStringConvertible {
    /// One piece of an argument.
    public enum Segment: Sendable, Hashable {
        /// Bytes sent as they are.
        case literal([UInt8])
        /// The request's key.
        case key
        /// The request's value.
        case data
    }

    /// The template as written.
    public let source: String
    /// The arguments, each a sequence of segments; the first one is the command name.
    public let arguments: [[Segment]]

    /// The command name in upper case, used to label statistics (`SET`, `GET`).
    public var name: String {
        guard case .literal(let bytes)? = self.arguments.first?.first, self.arguments[0].count == 1 else {
            return self.source
        }
        return String(decoding: bytes, as: UTF8.self).uppercased()
    }

    /// Whether any argument contains `__key__`.
    public var usesKey: Bool { self.arguments.contains { $0.contains(.key) } }

    /// Whether any argument contains `__data__`.
    public var usesData: Bool { self.arguments.contains { $0.contains(.data) } }

    public var description: String { self.source }

    /// Parses a template.
    /// - Parameter source: The template text, for example `HSET __key__ field __data__`.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/invalidTemplate`` for unbalanced quotes, a bad
    ///   escape, an empty template or a command name that contains a placeholder.
    public init(parsing source: String) throws(BenchmarkError) {
        let tokens = try Self.tokenize(Array(source.utf8), source: source)
        guard !tokens.isEmpty else {
            throw BenchmarkError(.invalidTemplate, "the command template is empty")
        }
        self.source = source
        self.arguments = tokens.map(Self.segments(of:))
        guard self.arguments[0] == [.literal(tokens[0])] else {
            throw BenchmarkError(
                .invalidTemplate,
                "the command name in '\(source)' must not contain __key__ or __data__"
            )
        }
    }

    private static func tokenize(_ bytes: [UInt8], source: String) throws(BenchmarkError) -> [[UInt8]] {
        var tokens: [[UInt8]] = []
        var index = 0
        func fail(_ reason: String) -> BenchmarkError {
            BenchmarkError(.invalidTemplate, "cannot parse command template '\(source)': \(reason)")
        }
        while index < bytes.count {
            while index < bytes.count, isSpace(bytes[index]) {
                index += 1
            }
            if index == bytes.count {
                break
            }
            var token: [UInt8] = []
            while index < bytes.count, !isSpace(bytes[index]) {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    index += 1
                    var closed = false
                    while index < bytes.count {
                        let inner = bytes[index]
                        index += 1
                        if inner == UInt8(ascii: "\"") {
                            closed = true
                            break
                        }
                        guard inner == UInt8(ascii: "\\") else {
                            token.append(inner)
                            continue
                        }
                        guard index < bytes.count else {
                            throw fail("a backslash ends the template")
                        }
                        let escaped = bytes[index]
                        index += 1
                        switch escaped {
                        case UInt8(ascii: "n"): token.append(UInt8(ascii: "\n"))
                        case UInt8(ascii: "r"): token.append(UInt8(ascii: "\r"))
                        case UInt8(ascii: "t"): token.append(UInt8(ascii: "\t"))
                        case UInt8(ascii: "x"):
                            guard index + 1 < bytes.count,
                                let high = hexValue(bytes[index]), let low = hexValue(bytes[index + 1])
                            else {
                                throw fail("\\x needs two hexadecimal digits")
                            }
                            token.append(high << 4 | low)
                            index += 2
                        default: token.append(escaped)
                        }
                    }
                    guard closed else {
                        throw fail("unbalanced double quote")
                    }
                } else if byte == UInt8(ascii: "'") {
                    index += 1
                    guard let end = bytes[index...].firstIndex(of: UInt8(ascii: "'")) else {
                        throw fail("unbalanced single quote")
                    }
                    token.append(contentsOf: bytes[index..<end])
                    index = end + 1
                } else {
                    token.append(byte)
                    index += 1
                }
            }
            tokens.append(token)
        }
        return tokens
    }

    private static func segments(of token: [UInt8]) -> [Segment] {
        let keyMarker = Array("__key__".utf8)
        let dataMarker = Array("__data__".utf8)
        var segments: [Segment] = []
        var literal: [UInt8] = []
        var index = 0
        while index < token.count {
            if token[index...].starts(with: keyMarker) {
                if !literal.isEmpty {
                    segments.append(.literal(literal))
                    literal = []
                }
                segments.append(.key)
                index += keyMarker.count
            } else if token[index...].starts(with: dataMarker) {
                if !literal.isEmpty {
                    segments.append(.literal(literal))
                    literal = []
                }
                segments.append(.data)
                index += dataMarker.count
            } else {
                literal.append(token[index])
                index += 1
            }
        }
        if !literal.isEmpty || segments.isEmpty {
            segments.append(.literal(literal))
        }
        return segments
    }
}

private func isSpace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}
