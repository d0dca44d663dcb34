import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneServer
import Testing

/// The server over real sockets: pipelining, inline commands, the HELLO 3 handshake, authentication, QUIT, protocol
/// errors and the client limit.
@Suite(.timeLimit(.minutes(1))) struct TCPServerTests {
    @Test func pipelinedRepliesComeInOrder() async throws {
        let server = try await RunningServer.start()
        var client = try await server.client()
        var commands: [[String]] = []
        for i in 0..<100 {
            switch i % 3 {
            case 0: commands.append(["SET", "key\(i)", "value\(i)"])
            case 1: commands.append(["GET", "key\(i - 1)"])
            default: commands.append(["INCR", "counter"])
            }
        }
        try await client.send(commands)
        for i in 0..<100 {
            let reply = try await client.read()
            switch i % 3 {
            case 0: #expect(reply == .simpleString("OK"))
            case 1: #expect(reply == .bulkString(Array("value\(i - 1)".utf8)))
            default: #expect(reply == .integer(Int64(i / 3 + 1)))
            }
        }
        #expect(try await client.call("DBSIZE") == .integer(35))
        await client.close()
        await server.stop()
    }

    @Test func inlineCommands() async throws {
        let server = try await RunningServer.start()
        var client = try await server.client()
        try await client.sendRaw("PING\r\nSET greeting \"hello world\"\r\nGET greeting\n")
        #expect(try await client.read() == .simpleString("PONG"))
        #expect(try await client.read() == .simpleString("OK"))
        #expect(try await client.read() == .bulkString(Array("hello world".utf8)))
        await client.close()
        await server.stop()
    }

    @Test func helloThreeSwitchesToRESP3() async throws {
        let server = try await RunningServer.start()
        var client = try await server.client()
        let hello = try #require(try await client.call("HELLO", "3", "SETNAME", "tester")?.mapValue)
        let fields = Dictionary(
            uniqueKeysWithValues: hello.compactMap { pair in pair.key.stringValue.map { ($0, pair.value) } }
        )
        #expect(fields["server"] == .bulkString(Array("redis".utf8)))
        #expect(fields["version"] == .bulkString(Array("7.0.15".utf8)))
        #expect(fields["proto"] == .integer(3))
        #expect(fields["mode"] == .bulkString(Array("standalone".utf8)))
        #expect(fields["modules"] == .array([]))
        let id = try #require(fields["id"]?.intValue)
        #expect(try await client.call("CLIENT", "ID") == .integer(Int64(id)))
        #expect(try await client.call("GET", "missing") == .null)
        guard case .verbatimString(let format, let text)? = try await client.call("CLIENT", "INFO") else {
            Issue.record("CLIENT INFO is not a verbatim string in RESP3")
            return
        }
        #expect(format == "txt")
        #expect(text.contains(" name=tester "))
        #expect(text.contains(" resp=3 "))
        await client.close()
        await server.stop()
    }

    @Test func authenticationWithRequirepass() async throws {
        let server = try await RunningServer.start(["--requirepass", "s3cret"])
        var client = try await server.client()
        #expect(try await client.call("PING") == .error("NOAUTH Authentication required."))
        #expect(
            try await client.call("AUTH", "wrong")
                == .error("WRONGPASS invalid username-password pair or user is disabled.")
        )
        #expect(try await client.call("GET", "k") == .error("NOAUTH Authentication required."))
        #expect(try await client.call("AUTH", "s3cret") == .simpleString("OK"))
        #expect(try await client.call("PING") == .simpleString("PONG"))
        #expect(try await client.call("RESET") == .simpleString("RESET"))
        #expect(try await client.call("PING") == .error("NOAUTH Authentication required."))

        var other = try await server.client()
        let hello = try await other.call("HELLO", "3", "AUTH", "default", "s3cret")
        #expect(hello?.mapValue?.count == 7)
        #expect(try await other.call("PING") == .simpleString("PONG"))
        await client.close()
        await other.close()
        await server.stop()
    }

    @Test func quitClosesAfterItsReply() async throws {
        let server = try await RunningServer.start()
        var client = try await server.client()
        try await client.send([["SET", "k", "v"], ["QUIT"], ["GET", "k"]])
        #expect(try await client.read() == .simpleString("OK"))
        #expect(try await client.read() == .simpleString("OK"))
        #expect(try await client.read() == nil)
        await server.stop()
    }

    @Test func protocolErrorClosesOnlyThatConnection() async throws {
        let server = try await RunningServer.start()
        var bad = try await server.client()
        var good = try await server.client()
        #expect(try await good.call("SET", "k", "v") == .simpleString("OK"))
        try await bad.sendRaw("*1\r\n$x\r\n")
        let error = try #require(try await bad.read()?.errorMessage)
        #expect(error.hasPrefix("ERR Protocol error"))
        #expect(try await bad.read() == nil)
        #expect(try await good.call("GET", "k") == .bulkString(Array("v".utf8)))
        await good.close()
        await server.stop()
    }

    @Test func maxclientsRejectsTheExtraConnection() async throws {
        let server = try await RunningServer.start(["--maxclients", "1"])
        var first = try await server.client()
        #expect(try await first.call("PING") == .simpleString("PONG"))
        var second = try await server.client()
        #expect(try await second.read() == .error("ERR max number of clients reached"))
        #expect(try await second.read() == nil)
        #expect(try await first.call("PING") == .simpleString("PONG"))
        let stats = try #require(try await first.call("INFO", "stats")?.stringValue)
        #expect(stats.contains("\r\nrejected_connections:1\r\n"))
        await first.close()
        await server.stop()
    }

    @Test func clientReplyOffAndSkip() async throws {
        let server = try await RunningServer.start()
        var client = try await server.client()
        try await client.send([
            ["CLIENT", "REPLY", "OFF"], ["ECHO", "dropped"], ["NOSUCH"], ["CLIENT", "REPLY", "ON"],
            ["CLIENT", "REPLY", "SKIP"], ["ECHO", "skipped"], ["ECHO", "kept"],
        ])
        #expect(try await client.read() == .simpleString("OK"))
        #expect(try await client.read() == .bulkString(Array("kept".utf8)))
        // Error replies count even when they are not sent.
        let errors = try #require(try await client.call("INFO", "errorstats")?.stringValue)
        #expect(errors == "# Errorstats\r\nerrorstat_ERR:count=1\r\n")
        await client.close()
        await server.stop()
    }

    @Test func clientKillClosesAnotherConnection() async throws {
        let server = try await RunningServer.start()
        var killer = try await server.client()
        var victim = try await server.client()
        let victimID = try #require(try await victim.call("CLIENT", "ID")?.intValue)
        #expect(try await killer.call("CLIENT", "KILL", "ID", "\(victimID)") == .integer(1))
        #expect(try await victim.read() == nil)
        #expect(try await killer.call("PING") == .simpleString("PONG"))
        await killer.close()
        await server.stop()
    }

    @Test func shutdownClosesWithoutReply() async throws {
        let server = try await RunningServer.start()
        let requests = RequestLog()
        server.state.onShutdown { requests.append($0.save) }
        var client = try await server.client()
        try await client.send([["PING"], ["SHUTDOWN", "NOSAVE"], ["PING"]])
        #expect(try await client.read() == .simpleString("PONG"))
        #expect(try await client.read() == nil)
        #expect(requests.values == [false])
        await server.stop()
    }

    /// CLIENT LIST shows another client's last command and session after each batch: also when a batch runs the
    /// same command as the one before (the connection then skips the client record's lock unless the session
    /// changed), and after CLIENT INFO recorded itself.
    @Test func clientListFollowsAnotherClientsLastCommand() async throws {
        let server = try await RunningServer.start()
        var watched = try await server.client()
        var observer = try await server.client()
        guard case .integer(let id) = try await watched.call("CLIENT", "ID") else {
            Issue.record("CLIENT ID did not return an integer")
            return
        }
        func watchedLine(_ observer: inout TestClient) async throws -> String {
            guard case .bulkString(let bytes) = try await observer.call("CLIENT", "LIST") else { return "" }
            let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
            return lines.first { $0.hasPrefix("id=\(id) ") }.map(String.init) ?? ""
        }
        #expect(try await watched.call("SET", "k", "v") == .simpleString("OK"))
        #expect(try await watched.call("GET", "k") == .bulkString(Array("v".utf8)))
        var line = try await watchedLine(&observer)
        #expect(line.contains(" cmd=get ") && line.contains(" db=0 "))
        _ = try await watched.call("CLIENT", "INFO")
        line = try await watchedLine(&observer)
        #expect(line.contains(" cmd=client|info "))
        #expect(try await watched.call("GET", "k") == .bulkString(Array("v".utf8)))
        line = try await watchedLine(&observer)
        #expect(line.contains(" cmd=get ") && line.contains(" db=0 "))
        // The same command again, in another database: the session change must show.
        try await watched.send([["SELECT", "2"], ["GET", "k"]])
        #expect(try await watched.read() == .simpleString("OK"))
        #expect(try await watched.read() == .null)
        line = try await watchedLine(&observer)
        #expect(line.contains(" cmd=get ") && line.contains(" db=2 "))
        await watched.close()
        await observer.close()
        await server.stop()
    }
}
