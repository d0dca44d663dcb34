public import NIOCore

extension ByteBuffer {
    /// Whether the readable bytes equal `word`, ignoring ASCII case (`word` must be lower case).
    @inline(__always)
    public func isCaseInsensitive(_ word: StaticString) -> Bool {
        guard readableBytes == word.utf8CodeUnitCount else { return false }
        return withUnsafeReadableBytes { bytes in
            let w = word.utf8Start
            for i in 0..<bytes.count {
                let b = bytes[i]
                if (b &- 65 < 26 ? b | 0x20 : b) != w[i] { return false }
            }
            return true
        }
    }

    /// The readable bytes as a String (invalid UTF-8 is repaired); for messages and names.
    public var stringValue: String {
        String(decoding: readableBytesView, as: UTF8.self)
    }

    /// The readable bytes as an array.
    public var bytes: [UInt8] {
        Array(readableBytesView)
    }
}

extension Engine {
    /// Parses a 64-bit integer argument exactly as Redis's `string2ll` does.
    @inline(__always)
    static func integer(_ argument: ByteBuffer, _ error: CommandError = .notInteger) throws -> Int64 {
        guard let value = argument.withUnsafeReadableBytes({ RedisNumber.parseInt64($0) }) else { throw error }
        return value
    }

    /// Parses an argument that must fit a C `int` (SELECT, MOVE ...), with Redis's getIntFromObjectOrReply errors:
    /// `error` when given, otherwise the not-an-integer or out-of-range message.
    static func int32(_ argument: ByteBuffer, _ error: CommandError? = nil) throws -> Int {
        let value = try integer(argument, error ?? .notInteger)
        guard value >= Int64(Int32.min) && value <= Int64(Int32.max) else {
            throw error ?? CommandError("ERR value is out of range, value must between -2147483648 and 2147483647")
        }
        return Int(value)
    }

    /// Validates a database index argument.
    func database(_ argument: ByteBuffer, _ error: CommandError? = nil) throws -> Int {
        let db = try Self.int32(argument, error)
        guard db >= 0 && db < databases else { throw CommandError.dbIndexOutOfRange }
        return db
    }
}
