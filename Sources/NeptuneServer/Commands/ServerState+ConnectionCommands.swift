import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// The Redis version Neptune answers as (HELLO, INFO's `redis_version`), so that client libraries that check the
    /// server version enable the Redis 7 features Neptune has.
    public static let redisCompatibleVersion = "7.0.15"

    /// Neptune's own version (INFO's `neptune_version`).
    public static let neptuneVersion = "0.1.0"

    static let wrongPassword = CommandError("WRONGPASS invalid username-password pair or user is disabled.")

    // MARK: HELLO

    /// `HELLO [protover [AUTH username password] [SETNAME clientname]]`.
    ///
    /// As Redis 7.0 does, options are applied in order (a SETNAME before a failing AUTH stays applied), and the
    /// protocol switches only when the whole command succeeds.
    func hello(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var version = c.protocolVersion
        var index = 1
        if a.count >= 2 {
            let requested = try ServerCommandSupport.integer(
                a[1],
                CommandError("ERR Protocol version is not an integer or out of range")
            )
            guard requested == 2 || requested == 3 else {
                throw CommandError("NOPROTO unsupported protocol version")
            }
            version = requested == 3 ? .v3 : .v2
            index = 2
        }
        while index < a.count {
            let remaining = a.count - 1 - index
            if a[index].isCaseInsensitive("auth") && remaining >= 2 {
                guard checkPassword(user: a[index + 1], password: a[index + 2]) else {
                    throw Self.wrongPassword
                }
                c.isAuthenticated = true
                index += 3
            } else if a[index].isCaseInsensitive("setname") && remaining >= 1 {
                try setClientName(a[index + 1], &c)
                index += 2
            } else {
                let option = ServerCommandSupport.cString(a[index])
                throw CommandError("ERR Syntax error in HELLO option '\(option)'")
            }
        }
        guard c.isAuthenticated else {
            throw CommandError(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH "
                    + "<user> <pass> option can be used to authenticate the client and select the RESP protocol "
                    + "version at the same time"
            )
        }
        c.protocolVersion = version
        c.reply.writeRESPMapHeader(7, version)
        c.reply.writeRESPBulkString("server")
        c.reply.writeRESPBulkString("redis")
        c.reply.writeRESPBulkString("version")
        c.reply.writeRESPBulkString(Self.redisCompatibleVersion)
        c.reply.writeRESPBulkString("proto")
        c.reply.writeRESPInteger(version.rawValue)
        c.reply.writeRESPBulkString("id")
        c.reply.writeRESPInteger(c.clientID)
        c.reply.writeRESPBulkString("mode")
        c.reply.writeRESPBulkString("standalone")
        c.reply.writeRESPBulkString("role")
        c.reply.writeRESPBulkString("master")
        c.reply.writeRESPBulkString("modules")
        c.reply.writeRESPArrayHeader(0)
    }

    // MARK: AUTH

    /// `AUTH [username] password`, against `requirepass` (the `default` user is the only one).
    func auth(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count <= 3 else { throw CommandError.syntax }
        let user: ByteBuffer?
        if a.count == 2 {
            guard config.requirepassBytes != nil else {
                throw CommandError(
                    "ERR AUTH <password> called without any password configured for the default user. "
                        + "Are you sure your configuration is correct?"
                )
            }
            user = nil
        } else {
            user = a[1]
        }
        guard checkPassword(user: user, password: a[a.count - 1]) else { throw Self.wrongPassword }
        c.isAuthenticated = true
        c.reply.writeRESPSimpleString("OK")
    }

    /// Whether `password` is the `default` user's (any password is, when `requirepass` is not set).
    func checkPassword(user: ByteBuffer?, password: ByteBuffer) -> Bool {
        if let user, !user.readableBytesView.elementsEqual("default".utf8) {
            return false
        }
        guard let expected = config.requirepassBytes else { return true }
        // Compare every byte whatever the first difference, so timing does not reveal a prefix.
        let given = password.readableBytesView
        var difference = UInt8(truncatingIfNeeded: given.count ^ expected.count)
        for (offset, byte) in expected.enumerated() {
            let other = offset < given.count ? given[given.startIndex + offset] : ~byte
            difference |= other ^ byte
        }
        return difference == 0 && given.count == expected.count
    }

    // MARK: QUIT and RESET

    /// `QUIT`: `+OK`, then the connection closes once the reply is written.
    func quit(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.reply.writeRESPSimpleString("OK")
        c.connection?.closeAfterReply = true
    }

    /// `RESET`: back to a fresh connection's state: no transaction and no watched keys, no subscriptions,
    /// database 0, RESP2, no name, replies on, NO-EVICT and NO-TOUCH off, and not authenticated when a password is
    /// required.
    func reset(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        engine.resetTransaction(&c)
        if let client = c.connection { unsubscribeAll(client) }
        c.isSubscribed = false
        c.db = 0
        c.protocolVersion = .v2
        c.noEvict = false
        c.noTouch = false
        c.isAuthenticated = config.requirepassBytes == nil
        if let client = c.connection {
            client.name = nil
            client.replyMode = .on
        }
        c.reply.writeRESPSimpleString("RESET")
    }

    // MARK: Client names

    /// Validates and sets the connection's name (an empty name removes it), as CLIENT SETNAME and HELLO SETNAME do.
    func setClientName(_ name: ByteBuffer, _ c: inout CommandContext) throws {
        guard ServerCommandSupport.isPrintableWithoutSpaces(name.readableBytesView) else {
            throw CommandError("ERR Client names cannot contain spaces, newlines or special characters.")
        }
        guard let client = c.connection else { throw Self.needsConnection }
        client.name = name.readableBytes == 0 ? nil : name.stringValue
    }

    static let needsConnection = CommandError("ERR this command needs a client connection")
}
