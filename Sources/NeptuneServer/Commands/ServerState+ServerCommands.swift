import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// Registers the server-level commands into ``engine``'s command table: HELLO, AUTH, QUIT, RESET, CLIENT, INFO,
    /// CONFIG, COMMAND and SHUTDOWN, and applies the configuration the engine reads (`proto-max-bulk-len`,
    /// `maxmemory-policy` ...) now and on every CONFIG SET.
    ///
    /// Call it once, before serving. The commands keep a strong reference to the state (the engine and the state
    /// live as long as the server).
    ///
    /// ```swift
    /// let state = ServerState(engine: Engine(), config: ConfigStore())
    /// state.registerServerCommands()
    /// ```
    public func registerServerCommands() {
        applyEngineSettings()
        engine.commands.register(serverCommandSpecs())
        engine.commands.register(pubSubCommandSpecs())
        engine.commands.register(persistenceCommandSpecs())
    }

    func serverCommandSpecs() -> [CommandSpec] {
        let noAuthFlags: Set<String> = ["noscript", "loading", "stale", "fast", "no_auth", "allow_busy"]
        let sessionFlags: Set<String> = ["noscript", "loading", "stale"]
        let adminFlags: Set<String> = ["admin", "noscript", "loading", "stale"]
        let helpFlags: Set<String> = ["loading", "stale"]
        let fastConnection = ["fast", "connection"]
        let slowConnection = ["slow", "connection"]
        let adminConnection = ["admin", "slow", "dangerous", "connection"]
        let admin = ["admin", "slow", "dangerous"]
        let connection = "connection"
        let server = "server"
        return [
            spec("hello", -1, noAuthFlags, fastConnection, group: connection, since: "6.0.0",
                 summary: "Handshakes with the server: protocol version, authentication, client name.") {
                [self] _, a, c in try self.hello(a, &c)
            },
            spec("auth", -2, noAuthFlags, fastConnection, group: connection, since: "1.0.0",
                 summary: "Authenticates the connection.", complexity: "O(N) where N is the password length") {
                [self] _, a, c in try self.auth(a, &c)
            },
            spec("quit", -1, noAuthFlags, fastConnection, group: connection, since: "1.0.0",
                 summary: "Closes the connection after replying.") {
                [self] _, a, c in try self.quit(a, &c)
            },
            spec("reset", 1, noAuthFlags, fastConnection, group: connection, since: "6.2.0",
                 summary: "Resets the connection to its initial state.") {
                [self] _, a, c in try self.reset(a, &c)
            },
            spec(
                "client", -2, [], ["slow"], group: connection, since: "2.4.0",
                summary: "A container for client connection commands.", complexity: "Depends on subcommand.",
                subcommands: [
                    spec("client|id", 2, sessionFlags, slowConnection, group: connection, since: "5.0.0",
                         summary: "Returns the connection's unique id.") {
                        [self] _, a, c in try self.clientID(a, &c)
                    },
                    spec("client|setname", 3, sessionFlags, slowConnection, group: connection, since: "2.6.9",
                         summary: "Names the connection.") {
                        [self] _, a, c in try self.clientSetName(a, &c)
                    },
                    spec("client|getname", 2, sessionFlags, slowConnection, group: connection, since: "2.6.9",
                         summary: "Returns the connection's name.") {
                        [self] _, a, c in try self.clientGetName(a, &c)
                    },
                    spec("client|info", 2, sessionFlags, slowConnection, group: connection, since: "6.2.0",
                         summary: "Describes the calling connection.") {
                        [self] _, a, c in try self.clientInfo(a, &c)
                    },
                    spec("client|list", -2, adminFlags, adminConnection, group: connection, since: "2.4.0",
                         summary: "Describes the connections.",
                         complexity: "O(N) where N is the number of client connections") {
                        [self] _, a, c in try self.clientList(a, &c)
                    },
                    spec("client|kill", -3, adminFlags, adminConnection, group: connection, since: "2.4.0",
                         summary: "Closes connections.",
                         complexity: "O(N) where N is the number of client connections") {
                        [self] _, a, c in try self.clientKill(a, &c)
                    },
                    spec("client|unblock", -3, adminFlags, adminConnection, group: connection, since: "5.0.0",
                         summary: "Unblock a client blocked in a blocking command from a different connection",
                         complexity: "O(log N) where N is the number of client connections") {
                        [self] _, a, c in try self.clientUnblock(a, &c)
                    },
                    spec("client|no-evict", 3, adminFlags, adminConnection, group: connection, since: "7.0.0",
                         summary: "Protects the connection from client eviction.") {
                        [self] _, a, c in try self.clientNoEvict(a, &c)
                    },
                    spec("client|no-touch", 3, sessionFlags, slowConnection, group: connection, since: "7.2.0",
                         summary: "Stops the connection's commands from updating key access times.") {
                        [self] _, a, c in try self.clientNoTouch(a, &c)
                    },
                    spec("client|setinfo", 4, sessionFlags, slowConnection, group: connection, since: "7.2.0",
                         summary: "Records the client library's name or version.") {
                        [self] _, a, c in try self.clientSetInfo(a, &c)
                    },
                    spec("client|reply", 3, sessionFlags, slowConnection, group: connection, since: "3.2.0",
                         summary: "Turns the connection's replies on or off.") {
                        [self] _, a, c in try self.clientReply(a, &c)
                    },
                    spec("client|help", 2, helpFlags, slowConnection, group: connection, since: "5.0.0",
                         summary: "Describes the CLIENT subcommands.") {
                        [self] _, a, c in try self.clientHelp(a, &c)
                    },
                ],
                nil
            ),
            spec("info", -1, helpFlags, ["slow", "dangerous"], group: server, since: "1.0.0",
                 summary: "Reports the server's state and statistics.", complexity: "O(1)") {
                [self] _, a, c in try self.info(a, &c)
            },
            spec(
                "config", -2, [], ["slow"], group: server, since: "2.0.0",
                summary: "A container for runtime configuration commands.", complexity: "Depends on subcommand.",
                subcommands: [
                    spec("config|get", -3, adminFlags, admin, group: server, since: "2.0.0",
                         summary: "Returns the values of configuration parameters.",
                         complexity: "O(N) when N is the number of configuration parameters provided") {
                        [self] _, a, c in try self.configGet(a, &c)
                    },
                    spec("config|set", -4, adminFlags, admin, group: server, since: "2.0.0",
                         summary: "Changes configuration parameters at runtime.",
                         complexity: "O(N) when N is the number of configuration parameters provided") {
                        [self] _, a, c in try self.configSet(a, &c)
                    },
                    spec("config|resetstat", 2, adminFlags, admin, group: server, since: "2.0.0",
                         summary: "Resets the statistics INFO reports.") {
                        [self] _, a, c in try self.configResetStat(a, &c)
                    },
                    spec("config|rewrite", 2, adminFlags, admin, group: server, since: "2.8.0",
                         summary: "Writes the running configuration to the configuration file.") {
                        [self] _, a, c in try self.configRewrite(a, &c)
                    },
                    spec("config|help", 2, helpFlags, ["slow"], group: server, since: "5.0.0",
                         summary: "Describes the CONFIG subcommands.") {
                        [self] _, a, c in try self.configHelp(a, &c)
                    },
                ],
                nil
            ),
            spec(
                "command", -1, helpFlags, slowConnection, group: server, since: "2.8.13",
                summary: "Describes every command.", complexity: "O(N) where N is the total number of commands",
                subcommands: [
                    spec("command|count", 2, helpFlags, slowConnection, group: server, since: "2.8.13",
                         summary: "Returns the number of commands.") {
                        [self] _, a, c in try self.commandCount(a, &c)
                    },
                    spec("command|info", -2, helpFlags, slowConnection, group: server, since: "2.8.13",
                         summary: "Describes commands.",
                         complexity: "O(N) where N is the number of commands to look up") {
                        [self] _, a, c in try self.commandInfo(a, &c)
                    },
                    spec("command|docs", -2, helpFlags, slowConnection, group: server, since: "7.0.0",
                         summary: "Returns the documentation of commands.",
                         complexity: "O(N) where N is the number of commands to look up") {
                        [self] _, a, c in try self.commandDocs(a, &c)
                    },
                    spec("command|list", -2, helpFlags, slowConnection, group: server, since: "7.0.0",
                         summary: "Lists command names, optionally filtered.",
                         complexity: "O(N) where N is the total number of Redis commands") {
                        [self] _, a, c in try self.commandList(a, &c)
                    },
                    spec("command|getkeys", -4, helpFlags, slowConnection, group: server, since: "2.8.13",
                         summary: "Extracts the key names from a full command.",
                         complexity: "O(N) where N is the number of arguments to the command") {
                        [self] _, a, c in try self.commandGetKeys(a, &c)
                    },
                    spec("command|help", 2, helpFlags, slowConnection, group: server, since: "5.0.0",
                         summary: "Describes the COMMAND subcommands.") {
                        [self] _, a, c in try self.commandHelp(a, &c)
                    },
                ]
            ) {
                [self] _, a, c in try self.command(a, &c)
            },
            spec("shutdown", -1, adminFlags.union(["no_multi", "allow_busy"]), admin, group: server, since: "1.0.0",
                 summary: "Stops the server.", complexity: "O(N) when saving, where N is the number of keys") {
                [self] _, a, c in try self.shutdown(a, &c)
            },
        ]
    }

    /// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`: asks the host to stop the server; on success the calling
    /// connection is closed without a reply (the server is going away).
    func shutdown(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var save = false
        var noSave = false
        var otherFlags = false
        var abort = false
        for argument in a.dropFirst() {
            if argument.isCaseInsensitive("nosave") {
                noSave = true
            } else if argument.isCaseInsensitive("save") {
                save = true
            } else if argument.isCaseInsensitive("now") || argument.isCaseInsensitive("force") {
                otherFlags = true
            } else if argument.isCaseInsensitive("abort") {
                abort = true
            } else {
                throw CommandError.syntax
            }
        }
        if (abort && (save || noSave || otherFlags)) || (save && noSave) {
            throw CommandError.syntax
        }
        if abort {
            // A shutdown starts at once and cannot be waited on, so there is never one to abort.
            throw CommandError("ERR No shutdown in progress.")
        }
        let request = ShutdownRequest(save: save ? true : (noSave ? false : nil))
        guard requestShutdown(request) else {
            throw CommandError("ERR Errors trying to SHUTDOWN. Check logs.")
        }
        c.connection?.closeAfterReply = true
    }
}
