import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// `COMMAND [subcommand ...]`: with no argument, COMMAND INFO of every command; otherwise the subcommand, with
    /// the arity check and errors the dispatcher gives other containers.
    func command(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count >= 2 else {
            writeCommandInfo(engine.commands.all, to: &c)
            return
        }
        guard let container = engine.commands.lookup("command"), let sub = findSubcommand(of: container, a[1]),
            let body = sub.body
        else {
            throw ServerCommandSupport.unknownSubcommand(a[1], container: "command")
        }
        if (sub.arity > 0 && sub.arity != a.count) || a.count < -sub.arity {
            throw ServerCommandSupport.wrongArity(sub.name)
        }
        try body(engine, a, &c)
    }

    /// `COMMAND COUNT`: the number of top-level commands.
    func commandCount(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.reply.writeRESPInteger(engine.commands.all.count)
    }

    /// `COMMAND INFO [name ...]`: Redis 7's ten-element description of each command (null for unknown names);
    /// every command with no name.
    func commandInfo(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count > 2 else {
            writeCommandInfo(engine.commands.all, to: &c)
            return
        }
        let names = a[2...]
        c.reply.writeRESPArrayHeader(names.count)
        for name in names {
            if let spec = findCommand(name) {
                writeCommandInfo(spec, to: &c)
            } else {
                c.reply.writeRESPNull(c.protocolVersion)
            }
        }
    }

    /// `COMMAND DOCS [name ...]`: a map from each known command to its documentation; every command with no name.
    func commandDocs(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let specs = a.count > 2 ? a[2...].compactMap(findCommand) : engine.commands.all
        c.reply.writeRESPMapHeader(specs.count, c.protocolVersion)
        for spec in specs {
            c.reply.writeRESPBulkString(spec.name)
            writeCommandDocs(spec, to: &c)
        }
    }

    /// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`: command names, subcommands
    /// included.
    func commandList(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var everything: [CommandSpec] = []
        for spec in engine.commands.all {
            everything.append(spec)
            everything.append(contentsOf: spec.subcommands)
        }
        let names: [String]
        if a.count == 2 {
            names = everything.map(\.name)
        } else if a.count == 5 && a[2].isCaseInsensitive("filterby") {
            let value = a[4]
            if a[3].isCaseInsensitive("module") {
                names = []
            } else if a[3].isCaseInsensitive("aclcat") {
                let category = value.stringValue.lowercased()
                names = everything.filter { $0.categories.contains(category) }.map(\.name)
            } else if a[3].isCaseInsensitive("pattern") {
                let pattern = value.bytes
                names = everything.filter {
                    GlobPattern.matches(pattern: pattern, string: Array($0.name.utf8), caseInsensitive: true)
                }.map(\.name)
            } else {
                throw CommandError.syntax
            }
        } else {
            throw CommandError.syntax
        }
        c.reply.writeRESPArrayHeader(names.count)
        for name in names {
            c.reply.writeRESPBulkString(name)
        }
    }

    /// `COMMAND GETKEYS command [arg ...]`: the key arguments of a command, from its first/last/step positions.
    func commandGetKeys(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let command = Array(a[2...])
        guard var spec = command[0].withUnsafeReadableBytes({ engine.commands.lookup($0) }) else {
            throw CommandError("ERR Invalid command specified")
        }
        if !spec.subcommands.isEmpty && spec.body == nil {
            guard command.count >= 2, let sub = findSubcommand(of: spec, command[1]) else {
                throw CommandError("ERR Invalid command specified")
            }
            spec = sub
        }
        if (spec.arity > 0 && spec.arity != command.count) || command.count < -spec.arity {
            throw CommandError("ERR Invalid number of arguments specified for command")
        }
        guard spec.firstKey > 0 else { throw CommandError("ERR The command has no key arguments") }
        let last = spec.lastKey >= 0 ? spec.lastKey : command.count + spec.lastKey
        var keys: [ByteBuffer] = []
        var index = spec.firstKey
        while index <= last && index < command.count {
            keys.append(command[index])
            index += max(spec.step, 1)
        }
        guard !keys.isEmpty else { throw CommandError("ERR The command has no key arguments") }
        c.reply.writeRESPArrayHeader(keys.count)
        for key in keys {
            c.reply.writeRESPBulkString(key)
        }
    }

    /// `COMMAND HELP`.
    func commandHelp(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ServerCommandSupport.writeHelp(
            "COMMAND",
            [
                "(no subcommand)",
                "    Return details about all Redis commands.",
                "COUNT",
                "    Return the total number of commands in this Redis server.",
                "LIST",
                "    Return a list of all commands in this Redis server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple Redis commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full Redis command.",
            ],
            to: &c.reply
        )
    }

    // MARK: Lookup and shapes

    /// The command or subcommand (`container|sub`) named `name`, in any case.
    func findCommand(_ name: ByteBuffer) -> CommandSpec? {
        let text = name.stringValue.lowercased()
        guard let bar = text.firstIndex(of: "|") else { return engine.commands.lookup(text) }
        guard let container = engine.commands.lookup(String(text[..<bar])) else { return nil }
        return container.subcommands.first { $0.name == text }
    }

    func findSubcommand(of container: CommandSpec, _ name: ByteBuffer) -> CommandSpec? {
        let full = container.name + "|" + name.stringValue.lowercased()
        return container.subcommands.first { $0.name == full }
    }

    func writeCommandInfo(_ specs: [CommandSpec], to c: inout CommandContext) {
        c.reply.writeRESPArrayHeader(specs.count)
        for spec in specs {
            writeCommandInfo(spec, to: &c)
        }
    }

    /// One COMMAND INFO entry: name, arity, flags, first key, last key, step, ACL categories, tips, key
    /// specifications (none yet) and subcommands. Flags, categories, tips and key specs are sets in RESP3, as are
    /// empty subcommand lists.
    func writeCommandInfo(_ spec: CommandSpec, to c: inout CommandContext) {
        let version = c.protocolVersion
        c.reply.writeRESPArrayHeader(10)
        c.reply.writeRESPBulkString(spec.name)
        c.reply.writeRESPInteger(spec.arity)
        let flags = ServerCommandSupport.orderedFlags(spec.flags)
        c.reply.writeRESPSetHeader(flags.count, version)
        for flag in flags {
            c.reply.writeRESPSimpleString(flag)
        }
        c.reply.writeRESPInteger(spec.firstKey)
        c.reply.writeRESPInteger(spec.lastKey)
        c.reply.writeRESPInteger(spec.step)
        let categories = ServerCommandSupport.orderedCategories(spec.categories)
        c.reply.writeRESPSetHeader(categories.count, version)
        for category in categories {
            c.reply.writeRESPSimpleString("@" + category)
        }
        c.reply.writeRESPSetHeader(0, version)
        c.reply.writeRESPSetHeader(0, version)
        if spec.subcommands.isEmpty {
            c.reply.writeRESPSetHeader(0, version)
        } else {
            writeCommandInfo(spec.subcommands, to: &c)
        }
    }

    /// One COMMAND DOCS entry: summary, since, group, complexity and, for containers, the subcommands' docs.
    func writeCommandDocs(_ spec: CommandSpec, to c: inout CommandContext) {
        let version = c.protocolVersion
        c.reply.writeRESPMapHeader(spec.subcommands.isEmpty ? 4 : 5, version)
        c.reply.writeRESPBulkString("summary")
        c.reply.writeRESPBulkString(spec.summary)
        c.reply.writeRESPBulkString("since")
        c.reply.writeRESPBulkString(spec.since)
        c.reply.writeRESPBulkString("group")
        c.reply.writeRESPBulkString(spec.group)
        c.reply.writeRESPBulkString("complexity")
        c.reply.writeRESPBulkString(spec.complexity)
        if !spec.subcommands.isEmpty {
            c.reply.writeRESPBulkString("subcommands")
            c.reply.writeRESPMapHeader(spec.subcommands.count, version)
            for sub in spec.subcommands {
                c.reply.writeRESPBulkString(sub.name)
                writeCommandDocs(sub, to: &c)
            }
        }
    }
}
