#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// A keyless command's spec with Redis's metadata, in the form the server's command tables
    /// (``serverCommandSpecs()``, ``pubSubCommandSpecs()``, ``persistenceCommandSpecs()``) are written in. An
    /// instance method so that those tables, which build closures capturing `self`, call it unqualified.
    ///
    /// - Parameters:
    ///   - name: The lower-case command name (`container|sub` for a subcommand).
    ///   - arity: Redis arity (negative: at least that many arguments, the name included).
    ///   - flags: Redis command flags.
    ///   - categories: ACL categories without the `@`.
    ///   - group: The COMMAND DOCS group.
    ///   - since: The Redis version that added the command.
    ///   - summary: The COMMAND DOCS summary.
    ///   - complexity: The COMMAND DOCS time complexity.
    ///   - subcommands: A container's subcommands.
    ///   - body: The implementation; nil for a container whose subcommand runs.
    /// - Returns: The spec to register.
    func spec(
        _ name: String,
        _ arity: Int,
        _ flags: Set<String>,
        _ categories: [String],
        group: String,
        since: String,
        summary: String,
        complexity: String = "O(1)",
        subcommands: [CommandSpec] = [],
        _ body: CommandBody?
    ) -> CommandSpec {
        CommandSpec(
            name, arity: arity, flags: flags, categories: categories, group: group, summary: summary, since: since,
            complexity: complexity, subcommands: subcommands, body: body
        )
    }
}

/// Helpers shared by the server-level commands (HELLO, AUTH, CLIENT, INFO, CONFIG, COMMAND, SHUTDOWN ...).
enum ServerCommandSupport {
    /// Redis's reply to a wrong argument count.
    static func wrongArity(_ name: String) -> CommandError {
        CommandError("ERR wrong number of arguments for '\(name)' command")
    }

    /// Redis's reply to an unknown subcommand of `container`.
    static func unknownSubcommand(_ argument: ByteBuffer, container: String) -> CommandError {
        let name = String(decoding: argument.readableBytesView.prefix(128), as: UTF8.self)
        return CommandError("ERR unknown subcommand '\(name)'. Try \(container.uppercased()) HELP.")
    }

    /// Parses an integer argument as Redis's `string2ll`, throwing `error` when it is not one.
    static func integer(_ argument: ByteBuffer, _ error: CommandError = .notInteger) throws -> Int64 {
        guard let value = argument.withUnsafeReadableBytes({ RedisNumber.parseInt64($0) }) else { throw error }
        return value
    }

    /// The argument as text, as C's `%s` prints it (up to the first NUL).
    static func cString(_ argument: ByteBuffer) -> String {
        String(decoding: argument.readableBytesView.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// Whether every byte is printable ASCII other than space (Redis's rule for client names and library info).
    static func isPrintableWithoutSpaces(_ bytes: some Sequence<UInt8>) -> Bool {
        bytes.allSatisfy { $0 >= UInt8(ascii: "!") && $0 <= UInt8(ascii: "~") }
    }

    /// Writes a HELP reply: an array of status lines, the first naming the command.
    static func writeHelp(_ command: String, _ lines: [String], to reply: inout ByteBuffer) {
        reply.writeRESPArrayHeader(lines.count + 3)
        reply.writeRESPSimpleString("\(command) <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        for line in lines {
            reply.writeRESPSimpleString(line)
        }
        reply.writeRESPSimpleString("HELP")
        reply.writeRESPSimpleString("    Prints this help.")
    }

    /// The flags in the order Redis 7 reports them (COMMAND INFO).
    static let flagOrder: [String] = [
        "write", "readonly", "denyoom", "module", "admin", "pubsub", "noscript", "blocking", "loading", "stale",
        "skip_monitor", "skip_slowlog", "asking", "fast", "no_auth", "may_replicate", "sentinel", "only_sentinel",
        "no_mandatory_keys", "protected", "module_getkeys", "module_no_cluster", "no_async_loading", "no_multi",
        "movablekeys", "allow_busy",
    ]

    /// The ACL categories in the order Redis 7 reports them.
    static let categoryOrder: [String] = [
        "keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap", "hyperloglog", "geo",
        "stream", "pubsub", "admin", "fast", "slow", "blocking", "dangerous", "connection", "transaction",
        "scripting",
    ]

    static func orderedFlags(_ flags: Set<String>) -> [String] {
        let known = flagOrder.filter { flags.contains($0) }
        return known + flags.subtracting(flagOrder).sorted()
    }

    static func orderedCategories(_ categories: [String]) -> [String] {
        var seen: Set<String> = []
        let unique = categories.filter { seen.insert($0).inserted }
        let known = categoryOrder.filter { seen.contains($0) }
        return known + unique.filter { !categoryOrder.contains($0) }
    }

    /// Bytes as Redis's `bytesToHuman` writes them (`1015.52K`, `11.83M`, `0B`).
    static func humanBytes(_ bytes: Int) -> String {
        let value = Double(bytes)
        let units: [(Double, String)] = [
            (1024, "K"), (1024 * 1024, "M"), (1024 * 1024 * 1024, "G"), (1024 * 1024 * 1024 * 1024, "T"),
            (1024 * 1024 * 1024 * 1024 * 1024, "P"),
        ]
        if bytes < 1024 { return "\(bytes)B" }
        for (index, (scale, suffix)) in units.enumerated() {
            let next = index + 1 < units.count ? units[index + 1].0 : .infinity
            if value < next {
                return fixed(value / scale, digits: 2) + suffix
            }
        }
        return "\(bytes)B"
    }

    /// `value` with exactly `digits` decimals, as C's `%.Nf` writes it.
    static func fixed(_ value: Double, digits: Int) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: 400) { buffer in
            let written = withVaList([Int32(digits), value]) { arguments in
                vsnprintf(buffer.baseAddress, buffer.count, "%.*f", arguments)
            }
            let length = max(0, min(Int(written), buffer.count - 1))
            return String(decoding: UnsafeRawBufferPointer(buffer)[..<length], as: UTF8.self)
        }
    }
}

extension CommandContext {
    /// The server connection running the command, if the caller is one.
    var connection: ClientConnection? {
        host as? ClientConnection
    }
}
