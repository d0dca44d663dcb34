public import NIOCore

extension ByteBuffer {
    /// Writes a request as a RESP array of bulk strings, the form every Redis client sends.
    ///
    /// ```swift
    /// buffer.writeRESPCommand(["SET", "key", "value"])  // *3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n
    /// ```
    ///
    /// - Parameter args: The command name and its arguments, written as UTF-8.
    @inlinable
    public mutating func writeRESPCommand(_ args: [String]) {
        self.writeRESPArrayHeader(args.count)
        for argument in args {
            self.writeRESPBulkString(argument)
        }
    }

    /// Writes a request as a RESP array of bulk strings.
    ///
    /// - Parameter args: The command name and its arguments, as raw bytes.
    @inlinable
    public mutating func writeRESPCommand(_ args: [[UInt8]]) {
        self.writeRESPArrayHeader(args.count)
        for argument in args {
            self.writeRESPBulkString(argument)
        }
    }

    /// Writes a request as a RESP array of bulk strings.
    ///
    /// - Parameter args: The command name and its arguments; their readable bytes are written.
    @inlinable
    public mutating func writeRESPCommand(_ args: [ByteBuffer]) {
        self.writeRESPArrayHeader(args.count)
        for argument in args {
            self.writeRESPBulkString(argument)
        }
    }
}
