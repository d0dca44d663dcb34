import Foundation
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

@testable import NeptuneServer

/// Stands in for a connection's socket: records whether the server asked to close it.
final class SessionChannel: Sendable {
    private let closed = Atomic<Bool>(false)
    var isActive: Bool { !closed.load(ordering: .relaxed) }
    func close() { closed.store(true, ordering: .relaxed) }
}

/// One client of a ``ServerState`` without sockets: commands go through `Engine.execute` with a ``ClientConnection``
/// (with a ``SessionChannel`` standing in for its socket) as the context's host, as the connection handler runs them.
struct ServerSession {
    let state: ServerState
    let client: ClientConnection
    let channel = SessionChannel()
    var context: CommandContext

    init(_ state: ServerState, port: Int = 50_000) {
        self.state = state
        client = ClientConnection(
            id: state.clients.makeID(),
            remoteAddress: try! SocketAddress(ipAddress: "127.0.0.1", port: port),
            localAddress: try! SocketAddress(ipAddress: "127.0.0.1", port: 6379),
            now: state.engine.clock.milliseconds()
        )
        let channel = self.channel
        client.installDelivery({ _ in }, close: { channel.close() })
        state.clients.add(client)
        context = CommandContext(
            isAuthenticated: state.config.requirepassBytes == nil,
            clientID: client.id,
            reply: ByteBuffer(),
            host: client
        )
    }

    /// Runs a command and returns the raw reply.
    mutating func raw(_ arguments: String...) -> String {
        raw(arguments)
    }

    mutating func raw(_ arguments: [String]) -> String {
        context.reply.clear()
        let name = state.engine.execute(arguments.map { ByteBuffer(string: $0) }, context: &context)
        client.recordCommand(name ?? "NULL", now: context.now, session: .init(context), queryBufferBytes: 0)
        return String(decoding: context.reply.readableBytesView, as: UTF8.self)
    }

    /// Runs a command and returns the decoded reply.
    @discardableResult
    mutating func run(_ arguments: String...) -> RESPValue {
        let text = raw(arguments)
        var buffer = ByteBuffer(string: text)
        var decoder = RESPValueDecoder()
        return (try? decoder.decode(buffer: &buffer)) ?? .error("undecodable reply: \(text)")
    }
}

/// The reply strings come from redis-server 7.0.15 (7.2 for CLIENT NO-TOUCH and SETINFO).
@Suite struct ServerCommandsTests {
    static func makeState(_ settings: [(String, String)] = [], clock: ManualClock = ManualClock()) -> ServerState {
        let config = ConfigStore()
        for (name, value) in settings {
            try! config.set(name, value)
        }
        let state = ServerState(engine: Engine(clock: clock), config: config)
        state.registerServerCommands()
        return state
    }

    static func helloReply(version: Int, id: Int) -> String {
        let header = version == 3 ? "%7\r\n" : "*14\r\n"
        return header + "$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n$5\r\nproto\r\n:\(version)\r\n"
            + "$2\r\nid\r\n:\(id)\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n$4\r\nrole\r\n$6\r\nmaster\r\n"
            + "$7\r\nmodules\r\n*0\r\n"
    }

    // MARK: HELLO

    @Test func helloRepliesInTheCurrentProtocolAndSwitches() {
        var session = ServerSession(Self.makeState())
        let id = session.client.id
        #expect(session.raw("HELLO") == Self.helloReply(version: 2, id: id))
        #expect(session.raw("HELLO", "3") == Self.helloReply(version: 3, id: id))
        #expect(session.context.protocolVersion == .v3)
        #expect(session.raw("HELLO") == Self.helloReply(version: 3, id: id))
        #expect(session.raw("hello", "2") == Self.helloReply(version: 2, id: id))
        #expect(session.context.protocolVersion == .v2)
    }

    @Test func helloErrors() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("HELLO", "4") == "-NOPROTO unsupported protocol version\r\n")
        #expect(session.raw("HELLO", "1") == "-NOPROTO unsupported protocol version\r\n")
        #expect(session.raw("HELLO", "4", "AUTH", "default", "x") == "-NOPROTO unsupported protocol version\r\n")
        #expect(session.raw("HELLO", "abc") == "-ERR Protocol version is not an integer or out of range\r\n")
        #expect(session.raw("HELLO", "03") == "-ERR Protocol version is not an integer or out of range\r\n")
        #expect(session.raw("HELLO", "3", "AUTH") == "-ERR Syntax error in HELLO option 'AUTH'\r\n")
        #expect(session.raw("HELLO", "3", "AUTH", "a") == "-ERR Syntax error in HELLO option 'AUTH'\r\n")
        #expect(session.raw("HELLO", "3", "SETNAME") == "-ERR Syntax error in HELLO option 'SETNAME'\r\n")
        #expect(session.raw("HELLO", "2", "SETNAME", "a", "extra") == "-ERR Syntax error in HELLO option 'extra'\r\n")
        #expect(
            session.raw("HELLO", "3", "SETNAME", "a b")
                == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
        )
        #expect(
            session.raw("HELLO", "3", "AUTH", "someone", "x")
                == "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        )
        #expect(session.context.protocolVersion == .v2)
    }

    @Test func helloOptionsApplyInOrder() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("HELLO", "3", "AUTH", "default", "anything", "SETNAME", "app") == Self.helloReply(
            version: 3,
            id: session.client.id
        ))
        #expect(session.client.name == "app")
        // As in Redis 7.0, a SETNAME before a failing option stays applied.
        #expect(session.raw("HELLO", "2", "SETNAME", "first", "AUTH", "bad", "x").hasPrefix("-WRONGPASS"))
        #expect(session.client.name == "first")
        #expect(session.context.protocolVersion == .v3)
    }

    // MARK: AUTH

    @Test func authWithoutPassword() {
        var session = ServerSession(Self.makeState())
        #expect(
            session.raw("AUTH", "x")
                == "-ERR AUTH <password> called without any password configured for the default user. "
                + "Are you sure your configuration is correct?\r\n"
        )
        #expect(session.raw("AUTH", "default", "x") == "+OK\r\n")
        #expect(
            session.raw("AUTH", "other", "x") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
        )
        #expect(session.raw("AUTH", "a", "b", "c") == "-ERR syntax error\r\n")
        #expect(session.raw("AUTH") == Self.arity("auth"))
    }

    @Test func authWithRequirepass() {
        var session = ServerSession(Self.makeState([("requirepass", "secret")]))
        #expect(!session.context.isAuthenticated)
        #expect(session.raw("PING") == "-NOAUTH Authentication required.\r\n")
        #expect(session.raw("CLIENT", "ID") == "-NOAUTH Authentication required.\r\n")
        #expect(
            session.raw("HELLO", "3")
                == "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH "
                + "<user> <pass> option can be used to authenticate the client and select the RESP protocol version "
                + "at the same time\r\n"
        )
        #expect(session.context.protocolVersion == .v2)
        #expect(session.raw("AUTH", "wrong") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(session.raw("AUTH", "secre") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(session.raw("AUTH", "secret!") == "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
        #expect(session.raw("AUTH", "other", "secret").hasPrefix("-WRONGPASS"))
        #expect(!session.context.isAuthenticated)
        #expect(session.raw("AUTH", "secret") == "+OK\r\n")
        #expect(session.context.isAuthenticated)
        #expect(session.raw("PING") == "+PONG\r\n")
        #expect(session.raw("AUTH", "default", "secret") == "+OK\r\n")
    }

    @Test func helloAuthenticates() {
        var session = ServerSession(Self.makeState([("requirepass", "secret")]))
        #expect(session.raw("HELLO", "3", "AUTH", "default", "wrong").hasPrefix("-WRONGPASS"))
        #expect(session.raw("HELLO", "3", "AUTH", "default", "secret") == Self.helloReply(
            version: 3,
            id: session.client.id
        ))
        #expect(session.context.isAuthenticated)
    }

    // MARK: RESET and QUIT

    @Test func resetRestoresAFreshSession() {
        var session = ServerSession(Self.makeState([("requirepass", "secret")]))
        #expect(session.raw("HELLO", "3", "AUTH", "default", "secret", "SETNAME", "app").hasPrefix("%7"))
        #expect(session.raw("SELECT", "3") == "+OK\r\n")
        #expect(session.raw("CLIENT", "NO-TOUCH", "on") == "+OK\r\n")
        #expect(session.raw("CLIENT", "NO-EVICT", "on") == "+OK\r\n")
        session.client.replyMode = .off
        #expect(session.raw("RESET") == "+RESET\r\n")
        #expect(session.context.db == 0)
        #expect(session.context.protocolVersion == .v2)
        #expect(!session.context.noTouch)
        #expect(!session.context.noEvict)
        #expect(!session.context.isAuthenticated)
        #expect(session.client.name == nil)
        #expect(session.client.replyMode == .on)
        #expect(session.raw("RESET", "x") == Self.arity("reset"))
    }

    @Test func resetKeepsAuthenticationWithoutPassword() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("RESET") == "+RESET\r\n")
        #expect(session.context.isAuthenticated)
    }

    @Test func quitRepliesThenCloses() {
        var session = ServerSession(Self.makeState([("requirepass", "secret")]))
        #expect(session.raw("QUIT", "anything") == "+OK\r\n")
        #expect(session.client.closeAfterReply)
    }

    // MARK: CLIENT

    @Test func clientNames() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("CLIENT", "ID") == ":\(session.client.id)\r\n")
        #expect(session.raw("CLIENT", "GETNAME") == "$-1\r\n")
        #expect(session.raw("CLIENT", "SETNAME", "a~b") == "+OK\r\n")
        #expect(session.raw("CLIENT", "GETNAME") == "$3\r\na~b\r\n")
        for bad in ["a b", "é", "a\nb", "tab\t"] {
            #expect(
                session.raw("CLIENT", "SETNAME", bad)
                    == "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"
            )
        }
        #expect(session.raw("CLIENT", "SETNAME", "") == "+OK\r\n")
        #expect(session.raw("CLIENT", "GETNAME") == "$-1\r\n")
        session.context.protocolVersion = .v3
        #expect(session.raw("CLIENT", "GETNAME") == "_\r\n")
    }

    @Test func clientArityAndUnknownSubcommands() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("CLIENT") == Self.arity("client"))
        #expect(session.raw("CLIENT", "FOO") == "-ERR unknown subcommand 'FOO'. Try CLIENT HELP.\r\n")
        #expect(session.raw("CLIENT", "SETNAME") == Self.arity("client|setname"))
        #expect(session.raw("CLIENT", "ID", "x") == Self.arity("client|id"))
        #expect(session.raw("CLIENT", "KILL") == Self.arity("client|kill"))
        #expect(session.raw("CLIENT", "NO-EVICT") == Self.arity("client|no-evict"))
    }

    @Test func clientListAndInfo() throws {
        let state = Self.makeState()
        var first = ServerSession(state, port: 50_001)
        var second = ServerSession(state, port: 50_002)
        #expect(second.raw("CLIENT", "SETNAME", "worker") == "+OK\r\n")
        #expect(second.raw("SELECT", "2") == "+OK\r\n")

        let info = try #require(first.run("CLIENT", "INFO").bytesValue)
        let infoText = String(decoding: info, as: UTF8.self)
        #expect(infoText.hasPrefix("id=\(first.client.id) addr=127.0.0.1:50001 laddr=127.0.0.1:6379 fd=-1 name= "))
        #expect(infoText.contains(" cmd=client|info "))
        #expect(infoText.hasSuffix("\n"))

        let list = try #require(first.run("CLIENT", "LIST").bytesValue)
        let lines = String(decoding: list, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("id=\(first.client.id) "))
        #expect(lines[0].contains(" cmd=client|list "))
        #expect(lines[1].hasPrefix("id=\(second.client.id) addr=127.0.0.1:50002 "))
        #expect(lines[1].contains(" name=worker "))
        #expect(lines[1].contains(" db=2 "))
        #expect(lines[2].isEmpty)

        let byID = try #require(first.run("CLIENT", "LIST", "ID", "\(second.client.id)", "999").bytesValue)
        #expect(String(decoding: byID, as: UTF8.self).hasPrefix("id=\(second.client.id) "))
        #expect(first.raw("CLIENT", "LIST", "ID", "999") == "$0\r\n\r\n")
        #expect(first.raw("CLIENT", "LIST", "ID", "1", "x") == "-ERR Invalid client ID\r\n")
        #expect(first.raw("CLIENT", "LIST", "TYPE", "pubsub") == "$0\r\n\r\n")
        #expect(first.raw("CLIENT", "LIST", "TYPE", "replica") == "$0\r\n\r\n")
        #expect(String(decoding: first.run("CLIENT", "LIST", "TYPE", "NORMAL").bytesValue ?? [], as: UTF8.self)
            .split(separator: "\n").count == 2)
        #expect(first.raw("CLIENT", "LIST", "TYPE", "foo") == "-ERR Unknown client type 'foo'\r\n")
        #expect(first.raw("CLIENT", "LIST", "TYPE") == "-ERR syntax error\r\n")
        #expect(first.raw("CLIENT", "LIST", "ID") == "-ERR syntax error\r\n")
        #expect(first.raw("CLIENT", "LIST", "foo") == "-ERR syntax error\r\n")
    }

    @Test func clientInfoIsVerbatimInRESP3() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("HELLO", "3").hasPrefix("%7"))
        let reply = session.raw("CLIENT", "INFO")
        #expect(reply.hasPrefix("="))
        #expect(reply.contains("\r\ntxt:id=\(session.client.id) "))
        #expect(reply.contains(" resp=3 "))
        guard case .verbatimString(let format, _) = session.run("CLIENT", "LIST") else {
            Issue.record("CLIENT LIST is not a verbatim string in RESP3")
            return
        }
        #expect(format == "txt")
    }

    @Test func clientKill() {
        let state = Self.makeState()
        var me = ServerSession(state, port: 50_001)
        let other = ServerSession(state, port: 50_002)
        let third = ServerSession(state, port: 50_003)
        #expect(me.raw("CLIENT", "KILL", "1.2.3.4:5") == "-ERR No such client\r\n")
        #expect(me.raw("CLIENT", "KILL", "ID") == "-ERR No such client\r\n")
        #expect(me.raw("CLIENT", "KILL", "ID", "x") == "-ERR client-id should be greater than 0\r\n")
        #expect(me.raw("CLIENT", "KILL", "ID", "0") == "-ERR client-id should be greater than 0\r\n")
        #expect(me.raw("CLIENT", "KILL", "ID", "5", "SKIPME") == "-ERR syntax error\r\n")
        #expect(me.raw("CLIENT", "KILL", "TYPE", "foo") == "-ERR Unknown client type 'foo'\r\n")
        #expect(me.raw("CLIENT", "KILL", "SKIPME", "maybe") == "-ERR syntax error\r\n")
        #expect(me.raw("CLIENT", "KILL", "USER", "nobody") == "-ERR No such user 'nobody'\r\n")
        #expect(me.raw("CLIENT", "KILL", "foo", "bar") == "-ERR syntax error\r\n")
        #expect(me.raw("CLIENT", "KILL", "ID", "999") == ":0\r\n")
        #expect(me.raw("CLIENT", "KILL", "TYPE", "master") == ":0\r\n")

        #expect(me.raw("CLIENT", "KILL", "ID", "\(other.client.id)") == ":1\r\n")
        #expect(!other.channel.isActive)
        #expect(third.channel.isActive)
        state.clients.remove(other.client)  // as the connection handler does once the channel is inactive
        #expect(me.raw("CLIENT", "KILL", "127.0.0.1:50003") == "+OK\r\n")
        #expect(!third.channel.isActive)
        state.clients.remove(third.client)

        // SKIPME yes (the default) spares the caller; SKIPME no kills it after its reply.
        #expect(me.raw("CLIENT", "KILL", "ADDR", "127.0.0.1:50001") == ":0\r\n")
        #expect(!me.client.closeAfterReply)
        #expect(me.raw("CLIENT", "KILL", "LADDR", "127.0.0.1:6379", "SKIPME", "no") == ":1\r\n")
        #expect(me.client.closeAfterReply)
        #expect(me.channel.isActive)
    }

    @Test func clientKillMaxAge() {
        let clock = ManualClock()
        let state = Self.makeState(clock: clock)
        var me = ServerSession(state, port: 50_001)
        let old = ServerSession(state, port: 50_002)
        clock.advance(seconds: 100)
        let young = ServerSession(state, port: 50_003)
        #expect(me.raw("CLIENT", "KILL", "MAXAGE", "x") == "-ERR value is not an integer or out of range\r\n")
        #expect(me.raw("CLIENT", "KILL", "MAXAGE", "50") == ":1\r\n")
        #expect(!old.channel.isActive)
        #expect(young.channel.isActive)
    }

    @Test func clientFlags() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("CLIENT", "NO-EVICT", "on") == "+OK\r\n")
        #expect(session.context.noEvict)
        #expect(session.raw("CLIENT", "NO-EVICT", "maybe") == "-ERR syntax error\r\n")
        #expect(session.raw("CLIENT", "NO-TOUCH", "ON") == "+OK\r\n")
        #expect(session.context.noTouch)
        #expect(session.client.infoLine(now: 0).contains(" flags=eT "))
        #expect(session.raw("CLIENT", "NO-EVICT", "OFF") == "+OK\r\n")
        #expect(session.raw("CLIENT", "NO-TOUCH", "off") == "+OK\r\n")
        #expect(!session.context.noTouch)
        #expect(!session.context.noEvict)
        #expect(session.client.infoLine(now: 0).contains(" flags=N "))
    }

    @Test func clientSetInfo() throws {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("CLIENT", "SETINFO", "LIB-NAME", "redis-py") == "+OK\r\n")
        #expect(session.raw("CLIENT", "SETINFO", "lib-ver", "5.0.1") == "+OK\r\n")
        let line = String(decoding: try #require(session.run("CLIENT", "INFO").bytesValue), as: UTF8.self)
        #expect(line.hasSuffix(" lib-name=redis-py lib-ver=5.0.1\n"))
        #expect(session.raw("CLIENT", "SETINFO", "lib-foo", "x") == "-ERR Unrecognized option 'lib-foo'\r\n")
        #expect(
            session.raw("CLIENT", "SETINFO", "Lib-Name", "a b")
                == "-ERR Lib-Name cannot contain spaces, newlines or special characters.\r\n"
        )
        #expect(session.raw("CLIENT", "SETINFO", "lib-name", "") == "+OK\r\n")
        #expect(session.client.libraryName == nil)
        #expect(session.raw("CLIENT", "SETINFO", "lib-name") == Self.arity("client|setinfo"))
    }

    @Test func clientReplyModes() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("CLIENT", "REPLY", "foo") == "-ERR syntax error\r\n")
        #expect(session.raw("CLIENT", "REPLY", "OFF") == "")
        #expect(session.client.replyMode == .off)
        #expect(session.raw("CLIENT", "REPLY", "SKIP") == "")
        #expect(session.client.replyMode == .off)
        #expect(session.raw("CLIENT", "REPLY", "ON") == "+OK\r\n")
        #expect(session.client.replyMode == .on)
        #expect(session.raw("CLIENT", "REPLY", "skip") == "")
        #expect(session.client.replyMode == .skipNext)

        // What the connection handler does around each command.
        session.client.beginCommandReply()
        #expect(session.client.endCommandReply())
        session.client.beginCommandReply()
        #expect(!session.client.endCommandReply())
    }

    @Test func clientHelp() throws {
        var session = ServerSession(Self.makeState())
        let lines = try #require(session.run("CLIENT", "HELP").arrayValue)
        #expect(lines.first == .simpleString("CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))
        #expect(lines.last == .simpleString("    Prints this help."))
        #expect(lines.contains(.simpleString("NO-TOUCH (ON|OFF)")))
    }

    // MARK: INFO

    @Test func infoSectionsAndLayout() throws {
        var session = ServerSession(Self.makeState())
        let all = String(decoding: try #require(session.run("INFO").bytesValue), as: UTF8.self)
        let titles = all.split(separator: "\r\n").filter { $0.hasPrefix("# ") }
        #expect(titles == [
            "# Server", "# Clients", "# Memory", "# Persistence", "# Stats", "# Replication", "# CPU", "# Modules",
            "# Errorstats", "# Cluster", "# Keyspace",
        ])
        #expect(all.hasPrefix("# Server\r\nredis_version:7.0.15\r\n"))
        #expect(all.contains("\r\n\r\n# Clients\r\nconnected_clients:1\r\n"))
        #expect(all.contains("\r\nneptune_version:\(ServerState.neptuneVersion)\r\n"))
        #expect(all.contains("\r\nredis_mode:standalone\r\n"))
        #expect(all.contains("\r\nrole:master\r\n"))
        #expect(all.hasSuffix("# Keyspace\r\n"))
        for keyword in ["default", "all", "everything", "ALL"] {
            let text = String(decoding: try #require(session.run("INFO", keyword).bytesValue), as: UTF8.self)
            #expect(text.split(separator: "\r\n").filter { $0.hasPrefix("# ") } == titles)
        }

        #expect(session.raw("INFO", "cluster") == "$30\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n")
        #expect(session.raw("INFO", "modules") == "$11\r\n# Modules\r\n\r\n")
        #expect(session.raw("INFO", "foo") == "$0\r\n\r\n")
        #expect(
            session.raw("INFO", "KEYSPACE", "cluster", "FOO", "cluster")
                == "$44\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n# Keyspace\r\n\r\n"
        )
    }

    @Test func infoKeyspaceAndStats() {
        var session = ServerSession(Self.makeState())
        session.run("SET", "a", "1")
        session.run("SET", "b", "2", "EX", "100")
        session.run("SELECT", "3")
        session.run("SET", "c", "3")
        session.run("GET", "c")
        session.run("GET", "missing")
        #expect(
            session.raw("INFO", "keyspace")
                == "$76\r\n# Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=0\r\ndb3:keys=1,expires=0,avg_ttl=0\r\n\r\n"
        )
        session.state.statistics.recordErrorReply(prefix: "WRONGTYPE")
        session.state.statistics.recordErrorReply(prefix: "ERR")
        session.state.statistics.recordErrorReply(prefix: "ERR")
        #expect(
            session.raw("INFO", "errorstats")
                == Self.bulk("# Errorstats\r\nerrorstat_ERR:count=2\r\nerrorstat_WRONGTYPE:count=1\r\n")
        )
        let stats = session.state.infoText(["stats"])
        #expect(stats.contains("\r\nkeyspace_hits:1\r\nkeyspace_misses:1\r\n"))
        #expect(stats.contains("\r\ntotal_error_replies:3\r\n"))
    }

    @Test func infoMemoryAndServerFields() {
        var session = ServerSession(Self.makeState([("maxmemory", "100mb"), ("maxmemory-policy", "allkeys-lru")]))
        let memory = session.state.infoText(["memory"])
        #expect(
            memory.contains("\r\nmaxmemory:104857600\r\nmaxmemory_human:100.00M\r\nmaxmemory_policy:allkeys-lru\r\n")
        )
        let used = Self.field("used_memory", in: memory).flatMap { Int($0) } ?? 0
        #expect(used >= ServerState.memoryBaseline)
        #expect(Self.field("used_memory_rss", in: memory).flatMap { Int($0) } ?? 0 > 0)
        let server = session.state.infoText(["server"])
        #expect(Self.field("run_id", in: server) == session.state.runID)
        #expect(Self.field("arch_bits", in: server) == "64")
        #expect(Self.field("uptime_in_days", in: server) == "0")
        #expect(session.raw("HELLO", "3").hasPrefix("%7"))
        #expect(session.raw("INFO", "cluster") == "=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n")
    }

    static func arity(_ command: String) -> String {
        "-ERR wrong number of arguments for '\(command)' command\r\n"
    }

    static func bulk(_ text: String) -> String {
        "$\(text.utf8.count)\r\n\(text)\r\n"
    }

    static func field(_ name: String, in text: String) -> String? {
        for line in text.split(separator: "\r\n") where line.hasPrefix(name + ":") {
            return String(line.dropFirst(name.count + 1))
        }
        return nil
    }

    @Test func humanBytes() {
        #expect(ServerCommandSupport.humanBytes(0) == "0B")
        #expect(ServerCommandSupport.humanBytes(1023) == "1023B")
        #expect(ServerCommandSupport.humanBytes(1_039_896) == "1015.52K")
        #expect(ServerCommandSupport.humanBytes(12_406_784) == "11.83M")
        #expect(ServerCommandSupport.humanBytes(25_276_502_016) == "23.54G")
    }

    @Test func instantaneousMetric() {
        let metric = InstantaneousMetric()
        metric.record(0, now: 1_000)
        #expect(metric.perSecond == 0)
        metric.record(500, now: 1_050)  // too soon: ignored
        metric.record(1_000, now: 2_000)
        #expect(metric.perSecond == 1_000)
        metric.record(4_000, now: 3_000)
        #expect(metric.perSecond == 2_000)
        metric.reset()
        #expect(metric.perSecond == 0)
    }

    // MARK: CONFIG

    @Test func configGetAndSet() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("CONFIG", "GET", "maxmemory") == "*2\r\n$9\r\nmaxmemory\r\n$1\r\n0\r\n")
        #expect(session.raw("CONFIG", "GET", "nosuch") == "*0\r\n")
        #expect(session.raw("CONFIG", "GET") == Self.arity("config|get"))
        #expect(session.raw("CONFIG", "SET", "maxmemory") == Self.arity("config|set"))
        #expect(session.raw("CONFIG", "SET", "maxmemory", "1", "hz") == "-ERR syntax error\r\n")
        #expect(
            session.raw("CONFIG", "SET", "maxmemory", "lots")
                == "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - "
                + "argument must be a memory value\r\n"
        )
        #expect(session.raw("CONFIG", "SET", "maxmemory", "1mb", "hz", "20") == "+OK\r\n")
        #expect(session.state.config.maxmemory == 1_048_576)
        #expect(session.raw("CONFIG", "FOO") == "-ERR unknown subcommand 'FOO'. Try CONFIG HELP.\r\n")
        #expect(session.raw("HELLO", "3").hasPrefix("%7"))
        #expect(
            session.raw("CONFIG", "GET", "maxmemory", "hz")
                == "%2\r\n$9\r\nmaxmemory\r\n$7\r\n1048576\r\n$2\r\nhz\r\n$2\r\n20\r\n"
        )
        #expect(session.raw("CONFIG", "GET", "nosuch") == "%0\r\n")
    }

    @Test func configChangesReachTheEngine() {
        let state = Self.makeState([("proto-max-bulk-len", "2mb")])
        #expect(state.engine.settings.protoMaxBulkLength == 2 * 1024 * 1024)
        var session = ServerSession(state)
        #expect(session.raw("CONFIG", "SET", "proto-max-bulk-len", "4mb") == "+OK\r\n")
        #expect(state.engine.settings.protoMaxBulkLength == 4 * 1024 * 1024)
        #expect(!state.engine.settings.lfuPolicy)
        #expect(state.engine.settings.sharedIntegers)
        #expect(session.raw("CONFIG", "SET", "maxmemory-policy", "allkeys-lfu") == "+OK\r\n")
        #expect(state.engine.settings.lfuPolicy)
        #expect(state.engine.settings.sharedIntegers)
        #expect(session.raw("CONFIG", "SET", "maxmemory", "10mb") == "+OK\r\n")
        #expect(!state.engine.settings.sharedIntegers)
        #expect(session.raw("CONFIG", "SET", "maxmemory-policy", "noeviction") == "+OK\r\n")
        #expect(!state.engine.settings.lfuPolicy)
        #expect(state.engine.settings.sharedIntegers)
    }

    @Test func configResetStatRewriteAndHelp() throws {
        var session = ServerSession(Self.makeState())
        session.run("GET", "missing")
        let traffic = session.state.statistics.traffic(for: ObjectIdentifier(session.state))
        traffic.commandsProcessed.add(5, ordering: .relaxed)
        session.state.statistics.traffic(for: ObjectIdentifier(session.state.engine)).inputBytes.add(7, ordering: .relaxed)
        #expect(session.state.statistics.commandsProcessed == 5)
        #expect(session.state.statistics.inputBytes == 7)
        session.state.statistics.recordErrorReply(prefix: "ERR")
        #expect(session.raw("CONFIG", "RESETSTAT") == "+OK\r\n")
        #expect(session.state.statistics.commandsProcessed == 0)
        #expect(session.state.statistics.inputBytes == 0)
        #expect(session.state.statistics.errorCounts.isEmpty)
        #expect(session.state.engine.statistics().keyspaceMisses == 0)
        #expect(session.raw("CONFIG", "RESETSTAT", "x") == Self.arity("config|resetstat"))
        #expect(session.raw("CONFIG", "REWRITE") == "-ERR The server is running without a config file\r\n")
        let help = try #require(session.run("CONFIG", "HELP").arrayValue)
        #expect(help.count == 11)
        #expect(help[1] == .simpleString("GET <pattern>"))
    }

    @Test func configRewriteWritesTheFile() throws {
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("neptune-rewrite-\(UUID().uuidString).conf").path
        try "# kept\nmaxmemory 0\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let state = ServerState(engine: Engine(), config: try ConfigStore.load(arguments: [path]))
        state.registerServerCommands()
        var session = ServerSession(state)
        #expect(session.raw("CONFIG", "SET", "maxmemory", "2mb") == "+OK\r\n")
        #expect(session.raw("CONFIG", "REWRITE") == "+OK\r\n")
        let reloaded = try ConfigStore.load(arguments: [path])
        #expect(reloaded.maxmemory == 2 * 1024 * 1024)
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("# kept\n"))
    }

    // MARK: COMMAND

    @Test func commandCountAndList() throws {
        var session = ServerSession(Self.makeState())
        let count = session.state.engine.commands.all.count
        #expect(session.raw("COMMAND", "COUNT") == ":\(count)\r\n")
        #expect(session.raw("COMMAND", "COUNT", "x") == Self.arity("command|count"))
        #expect(session.raw("COMMAND", "FOO") == "-ERR unknown subcommand 'FOO'. Try COMMAND HELP.\r\n")
        #expect(try #require(session.run("COMMAND").arrayValue).count == count)

        let clientNames = try #require(session.run("COMMAND", "LIST", "FILTERBY", "PATTERN", "CLIENT*").arrayValue)
        #expect(clientNames.first == .bulkString(Array("client".utf8)))
        #expect(clientNames.contains(.bulkString(Array("client|list".utf8))))
        #expect(!clientNames.contains(.bulkString(Array("config".utf8))))
        let connection = try #require(session.run("COMMAND", "LIST", "FILTERBY", "ACLCAT", "CONNECTION").arrayValue)
        #expect(connection.contains(.bulkString(Array("hello".utf8))))
        #expect(connection.contains(.bulkString(Array("client|id".utf8))))
        #expect(!connection.contains(.bulkString(Array("get".utf8))))
        #expect(session.raw("COMMAND", "LIST", "FILTERBY", "ACLCAT", "@connection") == "*0\r\n")
        #expect(session.raw("COMMAND", "LIST", "FILTERBY", "MODULE", "x") == "*0\r\n")
        #expect(session.raw("COMMAND", "LIST", "FILTERBY", "foo", "x") == "-ERR syntax error\r\n")
        #expect(session.raw("COMMAND", "LIST", "FILTERBY") == "-ERR syntax error\r\n")
        #expect(session.raw("COMMAND", "LIST", "FILTERBY", "PATTERN", "get", "extra") == "-ERR syntax error\r\n")
        let all = try #require(session.run("COMMAND", "LIST").arrayValue)
        #expect(all.count > count)
    }

    @Test func commandInfoShape() throws {
        var session = ServerSession(Self.makeState())
        #expect(
            session.raw("COMMAND", "INFO", "GET", "nosuch")
                == "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
                + "*3\r\n+@read\r\n+@string\r\n+@fast\r\n*0\r\n*0\r\n*0\r\n$-1\r\n"
        )
        #expect(
            session.raw("COMMAND", "INFO", "hello")
                == "*1\r\n*10\r\n$5\r\nhello\r\n:-1\r\n*6\r\n+noscript\r\n+loading\r\n+stale\r\n+fast\r\n+no_auth\r\n"
                + "+allow_busy\r\n:0\r\n:0\r\n:0\r\n*2\r\n+@fast\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n"
        )
        #expect(
            session.raw("COMMAND", "INFO", "client|list")
                == "*1\r\n*10\r\n$11\r\nclient|list\r\n:-2\r\n*4\r\n+admin\r\n+noscript\r\n+loading\r\n+stale\r\n"
                + ":0\r\n:0\r\n:0\r\n*4\r\n+@admin\r\n+@slow\r\n+@dangerous\r\n+@connection\r\n*0\r\n*0\r\n*0\r\n"
        )
        let config = try #require(session.run("COMMAND", "INFO", "config").arrayValue?.first?.arrayValue)
        #expect(config.count == 10)
        #expect(config[1] == .integer(-2))
        let subcommands = try #require(config[9].arrayValue)
        #expect(subcommands.count == 5)
        #expect(subcommands.first?.arrayValue?.first == .bulkString(Array("config|get".utf8)))

        #expect(session.raw("HELLO", "3").hasPrefix("%7"))
        #expect(
            session.raw("COMMAND", "INFO", "get", "nosuch")
                == "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n~2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
                + "~3\r\n+@read\r\n+@string\r\n+@fast\r\n~0\r\n~0\r\n~0\r\n_\r\n"
        )
    }

    @Test func commandDocs() throws {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("COMMAND", "DOCS", "nosuch") == "*0\r\n")
        let docs = try #require(session.run("COMMAND", "DOCS", "QUIT", "nosuch").arrayValue)
        #expect(docs.count == 2)
        #expect(docs[0] == .bulkString(Array("quit".utf8)))
        let fields = try #require(docs[1].arrayValue)
        #expect(fields.count == 8)
        #expect(fields[0] == .bulkString(Array("summary".utf8)))
        #expect(fields[2] == .bulkString(Array("since".utf8)))
        #expect(fields[3] == .bulkString(Array("1.0.0".utf8)))
        #expect(fields[4] == .bulkString(Array("group".utf8)))
        #expect(fields[5] == .bulkString(Array("connection".utf8)))
        #expect(fields[6] == .bulkString(Array("complexity".utf8)))

        #expect(session.raw("HELLO", "3").hasPrefix("%7"))
        let map = try #require(session.run("COMMAND", "DOCS", "config").mapValue)
        #expect(map.count == 1)
        let configDocs = try #require(map.first?.value.mapValue)
        #expect(configDocs.map(\.key) == ["summary", "since", "group", "complexity", "subcommands"].map {
            RESPValue.bulkString(Array($0.utf8))
        })
        #expect(configDocs.last?.value.mapValue?.count == 5)
    }

    @Test func commandGetKeys() throws {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("COMMAND", "GETKEYS", "get", "a") == "*1\r\n$1\r\na\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2") == "*2\r\n$1\r\na\r\n$1\r\nb\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "del", "a", "b", "c") == "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "object", "encoding", "k") == "*1\r\n$1\r\nk\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "nosuch", "a") == "-ERR Invalid command specified\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "object", "nosuch", "k") == "-ERR Invalid command specified\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "ping", "a") == "-ERR The command has no key arguments\r\n")
        #expect(session.raw("COMMAND", "GETKEYS", "client", "list") == "-ERR The command has no key arguments\r\n")
        let invalidCount = "-ERR Invalid number of arguments specified for command\r\n"
        #expect(session.raw("COMMAND", "GETKEYS", "get", "a", "b") == invalidCount)
        #expect(session.raw("COMMAND", "GETKEYS", "mset", "a") == invalidCount)
        #expect(session.raw("COMMAND", "GETKEYS", "get") == Self.arity("command|getkeys"))
        let help = try #require(session.run("COMMAND", "HELP").arrayValue)
        #expect(help.first == .simpleString("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"))
    }

    // MARK: SHUTDOWN

    @Test func shutdownArguments() {
        var session = ServerSession(Self.makeState())
        #expect(session.raw("SHUTDOWN", "foo") == "-ERR syntax error\r\n")
        #expect(session.raw("SHUTDOWN", "SAVE", "NOSAVE") == "-ERR syntax error\r\n")
        #expect(session.raw("SHUTDOWN", "ABORT", "NOW") == "-ERR syntax error\r\n")
        #expect(session.raw("SHUTDOWN", "NOSAVE", "ABORT") == "-ERR syntax error\r\n")
        #expect(session.raw("SHUTDOWN", "ABORT") == "-ERR No shutdown in progress.\r\n")
        // Nothing installed to stop the server: say so instead of pretending.
        #expect(session.raw("SHUTDOWN") == "-ERR Errors trying to SHUTDOWN. Check logs.\r\n")
        #expect(!session.client.closeAfterReply)
    }

    @Test(arguments: [
        (["SHUTDOWN"], nil), (["SHUTDOWN", "save", "NOW"], true), (["shutdown", "NOSAVE", "force"], false),
    ] as [([String], Bool?)])
    func shutdownAsksTheHost(arguments: [String], save: Bool?) {
        let state = Self.makeState()
        let requests = RequestLog()
        state.onShutdown { requests.append($0.save) }
        var session = ServerSession(state)
        #expect(session.raw(arguments) == "")
        #expect(session.client.closeAfterReply)
        #expect(requests.values == [save])
    }
}

/// SHUTDOWN requests seen by a test's handler.
final class RequestLog: Sendable {
    private let requests = Mutex<[Bool?]>([])

    func append(_ value: Bool?) {
        requests.withLock { $0.append(value) }
    }

    var values: [Bool?] { requests.withLock { $0 } }
}
