import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// The client types CLIENT LIST TYPE and CLIENT KILL TYPE accept.
    enum ClientType {
        case normal
        case replica
        case master
        case pubsub

        init?(_ argument: ByteBuffer) {
            if argument.isCaseInsensitive("normal") {
                self = .normal
            } else if argument.isCaseInsensitive("slave") || argument.isCaseInsensitive("replica") {
                self = .replica
            } else if argument.isCaseInsensitive("master") {
                self = .master
            } else if argument.isCaseInsensitive("pubsub") {
                self = .pubsub
            } else {
                return nil
            }
        }
    }

    static func unknownClientType(_ argument: ByteBuffer) -> CommandError {
        CommandError("ERR Unknown client type '\(ServerCommandSupport.cString(argument))'")
    }

    /// The type of a connected client. Every Neptune client is a normal one for now (no replication; Pub/Sub
    /// clients will report `pubsub` once subscriptions exist).
    func clientType(_ client: ClientConnection) -> ClientType {
        .normal
    }

    // MARK: Subcommands

    /// `CLIENT ID`.
    func clientID(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.reply.writeRESPInteger(c.clientID)
    }

    /// `CLIENT SETNAME name`.
    func clientSetName(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setClientName(a[2], &c)
        c.reply.writeRESPSimpleString("OK")
    }

    /// `CLIENT GETNAME`.
    func clientGetName(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        if let name = c.connection?.name {
            c.reply.writeRESPBulkString(name)
        } else {
            c.reply.writeRESPNull(c.protocolVersion)
        }
    }

    /// `CLIENT INFO`: the calling connection's CLIENT LIST line.
    func clientInfo(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let client = c.connection else { throw Self.needsConnection }
        client.recordCurrentCommand("client|info", now: c.now, context: c)
        c.reply.writeRESPVerbatimString(client.infoLine(now: c.now) + "\n", c.protocolVersion)
    }

    /// `CLIENT LIST [TYPE normal|master|replica|pubsub] | [ID id [id ...]]`.
    func clientList(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var selected: [ClientConnection]
        if a.count == 2 {
            selected = clients.all
        } else if a.count == 4 && a[2].isCaseInsensitive("type") {
            guard let type = ClientType(a[3]) else { throw Self.unknownClientType(a[3]) }
            selected = clients.all.filter { clientType($0) == type }
        } else if a.count >= 4 && a[2].isCaseInsensitive("id") {
            selected = []
            for argument in a[3...] {
                let id = try ServerCommandSupport.integer(argument, CommandError("ERR Invalid client ID"))
                if let client = clients.client(id: Int(id)) {
                    selected.append(client)
                }
            }
        } else {
            throw CommandError.syntax
        }
        c.connection?.recordCurrentCommand("client|list", now: c.now, context: c)
        var text = ""
        for client in selected {
            text += client.infoLine(now: c.now)
            text += "\n"
        }
        c.reply.writeRESPVerbatimString(text, c.protocolVersion)
    }

    /// `CLIENT UNBLOCK client-id [TIMEOUT|ERROR]`: ends the wait of a client blocked in BLPOP … with the nil
    /// reply (TIMEOUT, the default) or `-UNBLOCKED client unblocked via CLIENT UNBLOCK` (ERROR). Replies 1 if the
    /// client was blocked, 0 otherwise.
    func clientUnblock(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count == 3 || a.count == 4 else {
            let name = String(ServerCommandSupport.cString(a[1]).prefix(128))
            throw CommandError("ERR unknown subcommand or wrong number of arguments for '\(name)'. Try CLIENT HELP.")
        }
        var outcome = UnblockOutcome.timeout
        if a.count == 4 {
            if a[3].isCaseInsensitive("timeout") {
                outcome = .timeout
            } else if a[3].isCaseInsensitive("error") {
                outcome = .unblockedError
            } else {
                throw CommandError("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR")
            }
        }
        let id = try ServerCommandSupport.integer(a[2])
        guard let target = clients.client(id: Int(truncatingIfNeeded: id)), let blocked = target.blockedClient else {
            return c.reply.writeRESPInteger(0)
        }
        c.reply.writeRESPInteger(engine.unblock(blocked, with: outcome) ? 1 : 0)
    }

    /// `CLIENT KILL ip:port` (replies `+OK`) or `CLIENT KILL <filter> <value> ...` (replies the number killed).
    ///
    /// Filters: ID, TYPE, ADDR, LADDR, USER, SKIPME (default yes), MAXAGE (seconds; Redis 7.4). A connection that
    /// kills itself gets its reply before it is closed.
    func clientKill(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var filter = KillFilter()
        let oldForm = a.count == 3
        if oldForm {
            filter.address = a[2].stringValue
            filter.skipCaller = false
        } else {
            var index = 2
            while index < a.count {
                guard index + 1 < a.count else { throw CommandError.syntax }
                let option = a[index]
                let value = a[index + 1]
                if option.isCaseInsensitive("id") {
                    let id = (try? ServerCommandSupport.integer(value)) ?? 0
                    guard id > 0 else { throw CommandError("ERR client-id should be greater than 0") }
                    filter.id = Int(id)
                } else if option.isCaseInsensitive("type") {
                    guard let type = ClientType(value) else { throw Self.unknownClientType(value) }
                    filter.type = type
                } else if option.isCaseInsensitive("addr") {
                    filter.address = value.stringValue
                } else if option.isCaseInsensitive("laddr") {
                    filter.localAddress = value.stringValue
                } else if option.isCaseInsensitive("user") {
                    guard value.readableBytesView.elementsEqual("default".utf8) else {
                        throw CommandError("ERR No such user '\(ServerCommandSupport.cString(value))'")
                    }
                } else if option.isCaseInsensitive("skipme") {
                    if value.isCaseInsensitive("yes") {
                        filter.skipCaller = true
                    } else if value.isCaseInsensitive("no") {
                        filter.skipCaller = false
                    } else {
                        throw CommandError.syntax
                    }
                } else if option.isCaseInsensitive("maxage") {
                    filter.maximumAge = try ServerCommandSupport.integer(value)
                } else {
                    throw CommandError.syntax
                }
                index += 2
            }
        }
        let caller = c.connection
        var killed = 0
        for client in clients.all where filter.matches(client, caller: caller, state: self, now: c.now) {
            if client === caller {
                client.closeAfterReply = true
            } else {
                client.close()
            }
            killed += 1
        }
        if oldForm {
            guard killed > 0 else { throw CommandError("ERR No such client") }
            c.reply.writeRESPSimpleString("OK")
        } else {
            c.reply.writeRESPInteger(killed)
        }
    }

    struct KillFilter {
        var id: Int?
        var type: ClientType?
        var address: String?
        var localAddress: String?
        var skipCaller = true
        var maximumAge: Int64?

        func matches(_ client: ClientConnection, caller: ClientConnection?, state: ServerState, now: Int64) -> Bool {
            if let id, client.id != id { return false }
            if let type, state.clientType(client) != type { return false }
            if let address, client.address != address { return false }
            if let localAddress, client.localAddress != localAddress { return false }
            if skipCaller && client === caller { return false }
            if let maximumAge, maximumAge != 0, (now - client.createdAt) / 1000 < maximumAge { return false }
            return true
        }
    }

    /// `CLIENT NO-EVICT on|off`.
    func clientNoEvict(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.noEvict = try Self.onOff(a[2])
        c.reply.writeRESPSimpleString("OK")
    }

    /// `CLIENT NO-TOUCH on|off` (Redis 7.2): reads by this connection leave access times alone.
    func clientNoTouch(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.noTouch = try Self.onOff(a[2])
        c.reply.writeRESPSimpleString("OK")
    }

    static func onOff(_ argument: ByteBuffer) throws -> Bool {
        if argument.isCaseInsensitive("on") { return true }
        if argument.isCaseInsensitive("off") { return false }
        throw CommandError.syntax
    }

    /// `CLIENT SETINFO lib-name|lib-ver value` (Redis 7.2): the client library's name and version, shown by
    /// CLIENT LIST. An empty value removes it.
    func clientSetInfo(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let isName = a[2].isCaseInsensitive("lib-name")
        guard isName || a[2].isCaseInsensitive("lib-ver") else {
            throw CommandError("ERR Unrecognized option '\(ServerCommandSupport.cString(a[2]))'")
        }
        guard ServerCommandSupport.isPrintableWithoutSpaces(a[3].readableBytesView) else {
            let attribute = ServerCommandSupport.cString(a[2])
            throw CommandError("ERR \(attribute) cannot contain spaces, newlines or special characters.")
        }
        guard let client = c.connection else { throw Self.needsConnection }
        let value = a[3].readableBytes == 0 ? nil : a[3].stringValue
        if isName {
            client.libraryName = value
        } else {
            client.libraryVersion = value
        }
        c.reply.writeRESPSimpleString("OK")
    }

    /// `CLIENT REPLY on|off|skip`. OFF and SKIP send no reply themselves.
    func clientReply(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let client = c.connection else { throw Self.needsConnection }
        if a[2].isCaseInsensitive("on") {
            client.replyMode = .on
            c.reply.writeRESPSimpleString("OK")
        } else if a[2].isCaseInsensitive("off") {
            client.replyMode = .off
        } else if a[2].isCaseInsensitive("skip") {
            if client.replyMode != .off {
                client.replyMode = .skipNext
            }
        } else {
            throw CommandError.syntax
        }
    }

    /// `CLIENT HELP`.
    func clientHelp(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ServerCommandSupport.writeHelp(
            "CLIENT",
            [
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made from the specified address",
                "    * LADDR (<ip:port>|<unixsocket>:0)",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "    * ID <client-id>",
                "      Kill connections by client id.",
                "    * MAXAGE <maxage>",
                "      Kill connections older than the specified age.",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "SETINFO <option> <value>",
                "    Set client meta attr. Options are:",
                "    * LIB-NAME: the client lib name.",
                "    * LIB-VER: the client lib version.",
                "NO-EVICT (ON|OFF)",
                "    Protect current client connection from eviction.",
                "NO-TOUCH (ON|OFF)",
                "    Will not touch LRU/LFU stats when this mode is on.",
            ],
            to: &c.reply
        )
    }
}
