import NIOConcurrencyHelpers
import NeptuneCache
import NeptuneRESP

/// The server's configuration: every parameter `redis-server` 7.0 knows (except TLS), read from a redis.conf-style
/// file and `--name value` options, and read and changed at runtime by `CONFIG GET` and `CONFIG SET`.
///
/// Values are reported exactly as Redis 7.0 reports them (memory sizes in bytes, `yes`/`no`, lower-case enumerations,
/// `save` as `3600 1 300 100 60 10000`). Errors carry Redis's exact texts. The store is safe to use from any thread.
///
/// ```swift
/// let config = try ConfigStore.load(arguments: ["/etc/neptune.conf", "--port", "7000"])
/// config.port  // 7000
/// config.observe("timeout") { newValue in print("timeout is now \(newValue)") }
/// try config.set([(Array("timeout".utf8), Array("30".utf8))])
/// config.matching(patterns: [Array("max*".utf8)])  // [("maxmemory", "0"), ("maxclients", "10000"), ...]
/// ```
public final class ConfigStore: Sendable {
    /// A name `CONFIG GET` and `CONFIG SET` know: a parameter's name or one of its aliases.
    struct Key: Sendable {
        let name: String
        let parameterIndex: Int
    }

    private let values: NIOLockedValueBox<[ConfigValue]>
    private let observers: NIOLockedValueBox<[Int: [@Sendable (String) -> Void]]>

    /// The absolute path of the configuration file the store was loaded from, if any.
    public let configFile: String?
    /// The `rename-command` lines of the configuration, in order. Neptune's server applies them (or refuses them).
    public let commandRenames: [CommandRename]

    /// Creates a store holding the defaults.
    public convenience init() {
        self.init(values: Self.defaultValues(), configFile: nil, commandRenames: [])
    }

    init(values: [ConfigValue], configFile: String?, commandRenames: [CommandRename]) {
        self.values = NIOLockedValueBox(values)
        self.observers = NIOLockedValueBox([:])
        self.configFile = configFile
        self.commandRenames = commandRenames
    }

    // MARK: The parameter table

    /// Every parameter Neptune knows, in a fixed order.
    public static var parameters: [ConfigParameter] {
        ConfigParameter.all
    }

    /// Every name and alias, in table order (a parameter's name, then its aliases).
    static let keys: [Key] = ConfigParameter.all.enumerated().flatMap { index, parameter in
        ([parameter.name] + parameter.aliases).map { Key(name: $0, parameterIndex: index) }
    }

    private static let keyIndexByName: [String: Int] = Dictionary(
        uniqueKeysWithValues: keys.enumerated().map { ($1.name, $0) }
    )

    /// The parameter called `name` (or with alias `name`), in any case.
    ///
    /// - Parameter name: A parameter name or alias.
    /// - Returns: The parameter, or `nil` if there is none.
    public static func parameter(named name: String) -> ConfigParameter? {
        self.key(named: Array(name.utf8)).map { ConfigParameter.all[self.keys[$0].parameterIndex] }
    }

    /// The index in ``keys`` of the name `bytes`, compared without case.
    static func key(named bytes: [UInt8]) -> Int? {
        self.keyIndexByName[String(decoding: ConfigSyntax.lowercased(bytes), as: UTF8.self)]
    }

    static func parameterIndex(_ name: String) -> Int {
        guard let key = self.key(named: Array(name.utf8)) else {
            preconditionFailure("unknown configuration parameter '\(name)'")
        }
        return self.keys[key].parameterIndex
    }

    /// The default values (with `dir` unresolved).
    static let defaults: [ConfigValue] = {
        var context = ConfigParseContext(loading: false)
        return ConfigParameter.all.map { parameter in
            let initial: ConfigValue
            switch parameter.special {
            case .clientOutputBufferLimit:
                initial = .outputBufferLimits(
                    Array(
                        repeating: ClientOutputBufferLimit(hardLimitBytes: 0, softLimitBytes: 0, softLimitSeconds: 0),
                        count: ClientClass.allCases.count
                    )
                )
            case .dir:
                // Resolved for each store, against the working directory of the time.
                return .path(".")
            case .replicaOf:
                return .replicaOf(nil)
            default:
                initial = .text(nil)
            }
            let arguments =
                parameter.takesSeveralArguments
                ? (InlineArguments.split(Array(parameter.defaultArgument.utf8)) ?? [])
                : [Array(parameter.defaultArgument.utf8)]
            do throws(ConfigParseFailure) {
                return try parameter.parse(arguments, current: initial, context: &context)
            } catch {
                preconditionFailure("bad default for \(parameter.name): \(error.reason)")
            }
        }
    }()

    /// The default values, with `dir` resolved against the current working directory.
    static func defaultValues() -> [ConfigValue] {
        var values = self.defaults
        let dirIndex = self.parameterIndex("dir")
        if let cwd = try? ConfigParameter.resolveDirectory(".", from: ".") {
            values[dirIndex] = .path(cwd)
        }
        return values
    }

    // MARK: Reading

    /// Every value, read at once.
    func snapshot() -> [ConfigValue] {
        self.values.withLockedValue { $0 }
    }

    /// The value of a parameter as `CONFIG GET` reports it.
    ///
    /// - Parameter name: A parameter name or alias, in any case.
    /// - Returns: The value, or `nil` for an unknown name.
    public func get(_ name: String) -> String? {
        guard let key = Self.key(named: Array(name.utf8)) else {
            return nil
        }
        let index = Self.keys[key].parameterIndex
        let value = self.values.withLockedValue { $0[index] }
        return ConfigParameter.all[index].format(value)
    }

    /// The reply data of `CONFIG GET pattern [pattern ...]`, with Redis 7.0's rules.
    ///
    /// A pattern without `*`, `?` or `[` is a name, compared without case and reported as written. A pattern is
    /// matched against every name and alias (without case) and reports the names that matched. Each name appears
    /// once, even if several patterns match it; a parameter may appear under both its name and an alias.
    ///
    /// - Parameter patterns: The arguments of `CONFIG GET`.
    /// - Returns: Name and value pairs.
    public func matching(patterns: [[UInt8]]) -> [(String, String)] {
        var seen: Set<Int> = []
        var found: [(name: String, parameterIndex: Int)] = []
        for pattern in patterns {
            let isGlob = pattern.contains {
                $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[")
            }
            if !isGlob {
                if let key = Self.key(named: pattern), seen.insert(key).inserted {
                    found.append((String(decoding: pattern, as: UTF8.self), Self.keys[key].parameterIndex))
                }
                continue
            }
            for (index, key) in Self.keys.enumerated() where !seen.contains(index) {
                if GlobPattern.matches(pattern: pattern, string: Array(key.name.utf8), caseInsensitive: true) {
                    seen.insert(index)
                    found.append((key.name, key.parameterIndex))
                }
            }
        }
        let values = self.snapshot()
        return found.map { ($0.name, ConfigParameter.all[$0.parameterIndex].format(values[$0.parameterIndex])) }
    }

    // MARK: Changing

    /// Applies `CONFIG SET name value [name value ...]`: all the changes or none.
    ///
    /// The checks and errors are Redis 7.0's: an unknown name, an immutable or protected parameter, or a name given
    /// twice fails the whole command (the first such problem is reported); then every value is parsed, and the first
    /// bad one fails the whole command. Observers of the parameters whose value changed are called after the change.
    /// An odd number of arguments is the caller's to refuse (`ERR syntax error`), as is the arity error.
    ///
    /// - Parameters:
    ///   - pairs: The names and values, in the order given.
    ///   - clientIsLocal: Whether the client is on a loopback address or a Unix socket, for
    ///     `enable-protected-configs local`.
    /// - Throws: ``ConfigError`` with Redis's message.
    public func set(_ pairs: [([UInt8], [UInt8])], clientIsLocal: Bool = false) throws(ConfigError) {
        let protectedAllowed: Bool
        switch self.values.withLockedValue({ $0[Self.parameterIndex("enable-protected-configs")] }) {
        case .enumeration(1): protectedAllowed = true
        case .enumeration(2): protectedAllowed = clientIsLocal
        default: protectedAllowed = false
        }

        var requests: [(key: Key, value: [UInt8])] = []
        var seen: Set<Int> = []
        var firstError: ConfigError?
        for (name, value) in pairs {
            guard let keyIndex = Self.key(named: name) else {
                if firstError == nil {
                    firstError = .unknownOption(String(decoding: name, as: UTF8.self))
                }
                continue
            }
            if firstError != nil {
                continue
            }
            let key = Self.keys[keyIndex]
            let parameter = ConfigParameter.all[key.parameterIndex]
            let typedName = String(decoding: name, as: UTF8.self)
            if !parameter.isMutable {
                firstError = .setFailed(.immutable, parameter: typedName, reason: "can't set immutable config")
            } else if parameter.isProtected && !protectedAllowed {
                firstError = .setFailed(.protected, parameter: typedName, reason: "can't set protected config")
            } else if !seen.insert(keyIndex).inserted {
                firstError = .setFailed(.duplicateParameter, parameter: typedName, reason: "duplicate parameter")
            } else {
                requests.append((key, value))
            }
        }
        if let firstError {
            throw firstError
        }

        let outcome = self.values.withLockedValue { values -> Result<[(Int, String)], ConfigError> in
            var updated = values
            var context = ConfigParseContext(loading: false)
            for request in requests {
                let index = request.key.parameterIndex
                let parameter = ConfigParameter.all[index]
                let arguments =
                    parameter.takesSeveralArguments ? ConfigSyntax.splitOnSpaces(request.value) : [request.value]
                do throws(ConfigParseFailure) {
                    updated[index] = try parameter.parse(arguments, current: updated[index], context: &context)
                } catch {
                    return .failure(.setFailed(.invalidValue, parameter: request.key.name, reason: error.reason))
                }
            }
            var changed: [(Int, String)] = []
            var reported: Set<Int> = []
            for request in requests where reported.insert(request.key.parameterIndex).inserted {
                let index = request.key.parameterIndex
                let parameter = ConfigParameter.all[index]
                let newText = parameter.format(updated[index])
                if newText != parameter.format(values[index]) {
                    changed.append((index, newText))
                }
            }
            values = updated
            return .success(changed)
        }
        let changed = try outcome.get()
        if changed.isEmpty {
            return
        }
        let observers = self.observers.withLockedValue { $0 }
        for (index, newValue) in changed {
            for observer in observers[index] ?? [] {
                observer(newValue)
            }
        }
    }

    /// Sets one parameter, as `CONFIG SET name value` does.
    ///
    /// - Parameters:
    ///   - name: A parameter name or alias.
    ///   - value: The new value, written as for `CONFIG SET`.
    /// - Throws: ``ConfigError`` with Redis's message.
    public func set(_ name: String, _ value: String) throws(ConfigError) {
        try self.set([(Array(name.utf8), Array(value.utf8))])
    }

    /// Calls `body` with the new value (as `CONFIG GET` reports it) each time `CONFIG SET` changes the parameter.
    ///
    /// Observers run on the caller of ``set(_:clientIsLocal:)``, after the change and outside the store's lock, so
    /// they may read the store.
    ///
    /// - Parameters:
    ///   - name: A parameter name or alias; it must exist.
    ///   - body: The observer.
    public func observe(_ name: String, _ body: @escaping @Sendable (String) -> Void) {
        let index = Self.parameterIndex(name)
        self.observers.withLockedValue { $0[index, default: []].append(body) }
    }

    // MARK: Typed reading

    private func value(_ name: String) -> ConfigValue {
        let index = Self.parameterIndex(name)
        return self.values.withLockedValue { $0[index] }
    }

    /// The value of a yes/no parameter.
    ///
    /// - Parameter name: A parameter name or alias.
    /// - Returns: The value, or `nil` if the parameter does not exist or is not a yes/no one.
    public func bool(_ name: String) -> Bool? {
        guard Self.key(named: Array(name.utf8)) != nil, case .bool(let flag) = self.value(name) else {
            return nil
        }
        return flag
    }

    /// The value of a numeric parameter (for unsigned ones above `Int64.max`, the bit pattern).
    ///
    /// - Parameter name: A parameter name or alias.
    /// - Returns: The value (a percentage `N%` is `-N`), or `nil` if the parameter does not exist or is not numeric.
    public func integer(_ name: String) -> Int64? {
        guard Self.key(named: Array(name.utf8)) != nil, case .number(let number) = self.value(name) else {
            return nil
        }
        return number
    }

    private func int(_ name: String) -> Int {
        guard case .number(let number) = self.value(name) else {
            preconditionFailure("\(name) is numeric")
        }
        return Int(truncatingIfNeeded: number)
    }

    private func flag(_ name: String) -> Bool {
        guard case .bool(let flag) = self.value(name) else {
            preconditionFailure("\(name) is yes/no")
        }
        return flag
    }

    private func text(_ name: String) -> [UInt8]? {
        guard case .text(let bytes) = self.value(name) else {
            preconditionFailure("\(name) is text")
        }
        return bytes
    }

    private func string(_ name: String) -> String {
        String(decoding: self.text(name) ?? [], as: UTF8.self)
    }

    private func optionalString(_ name: String) -> String? {
        self.text(name).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `port`: the TCP port to listen on (0: no TCP listener).
    public var port: Int { self.int("port") }

    /// `bind`: the addresses to listen on, as written (a leading `-` marks an address that may be unavailable).
    public var bind: [String] {
        guard case .addresses(let addresses) = self.value("bind") else {
            preconditionFailure("bind holds addresses")
        }
        return addresses.map { String(decoding: $0, as: UTF8.self) }
    }

    /// `dir`: the absolute working directory for snapshots and journals. Redis changes into it, so relative file
    /// names (`logfile`, `include`s read after `dir`) are relative to it.
    public var dir: String {
        guard case .path(let path) = self.value("dir") else {
            preconditionFailure("dir holds a path")
        }
        return path
    }

    /// `databases`: the number of logical databases.
    public var databases: Int { self.int("databases") }

    /// `requirepass`: the password of the default user, or `nil` for none.
    public var requirepass: String? { self.optionalString("requirepass") }

    /// `requirepass` as bytes (the password is binary-safe), or `nil` for none.
    public var requirepassBytes: [UInt8]? { self.text("requirepass") }

    /// `timeout`: seconds of client inactivity before disconnection (0: never).
    public var timeout: Int { self.int("timeout") }

    /// `maxclients`: the most clients connected at once.
    public var maxclients: Int { self.int("maxclients") }

    /// `tcp-keepalive`: the TCP keepalive period in seconds (0: off).
    public var tcpKeepalive: Int { self.int("tcp-keepalive") }

    /// `tcp-backlog`: the listen backlog.
    public var tcpBacklog: Int { self.int("tcp-backlog") }

    /// `protected-mode`: refuse non-loopback clients when there is no password and no explicit `bind`.
    public var protectedMode: Bool { self.flag("protected-mode") }

    /// `daemonize`.
    public var daemonize: Bool { self.flag("daemonize") }

    /// `pidfile`, or `nil` for none.
    public var pidfile: String? { self.optionalString("pidfile") }

    /// `unixsocket`, or `nil` for none.
    public var unixsocket: String? { self.optionalString("unixsocket") }

    /// `unixsocketperm`: the permission bits of the Unix socket.
    public var unixsocketperm: Int { self.int("unixsocketperm") }

    /// `proto-max-bulk-len`: the largest bulk string a request may hold, in bytes.
    public var protoMaxBulkLen: Int { self.int("proto-max-bulk-len") }

    /// `client-query-buffer-limit`: the most unparsed request bytes a client may have, in bytes.
    public var clientQueryBufferLimit: Int { self.int("client-query-buffer-limit") }

    /// `client-output-buffer-limit` for one class of clients.
    ///
    /// - Parameter clientClass: The class of clients.
    /// - Returns: Its limits.
    public func clientOutputBufferLimit(for clientClass: ClientClass) -> ClientOutputBufferLimit {
        guard case .outputBufferLimits(let limits) = self.value("client-output-buffer-limit") else {
            preconditionFailure("client-output-buffer-limit holds limits")
        }
        return limits[clientClass.rawValue]
    }

    /// `io-threads`.
    public var ioThreads: Int { self.int("io-threads") }

    /// `hz`: background task frequency, already brought within 1...500 as Redis does.
    public var hz: Int { self.int("hz") }

    /// `dynamic-hz`.
    public var dynamicHz: Bool { self.flag("dynamic-hz") }

    /// `appendonly`: whether the journal is on.
    public var appendonly: Bool { self.flag("appendonly") }

    /// `appendfsync`: when the journal is flushed to disk.
    public var appendfsync: AppendFsync {
        AppendFsync(rawValue: self.get("appendfsync") ?? "") ?? .everysec
    }

    /// `appendfilename`: the base name of journal files.
    public var appendfilename: String { self.string("appendfilename") }

    /// `appenddirname`: the directory of journal files, inside ``dir``.
    public var appenddirname: String { self.string("appenddirname") }

    /// `auto-aof-rewrite-percentage`.
    public var autoAofRewritePercentage: Int { self.int("auto-aof-rewrite-percentage") }

    /// `auto-aof-rewrite-min-size`, in bytes.
    public var autoAofRewriteMinSize: Int { self.int("auto-aof-rewrite-min-size") }

    /// `save`: the snapshot rules, empty when automatic snapshots are off.
    public var saveRules: [SaveRule] {
        guard case .saveRules(let rules) = self.value("save") else {
            preconditionFailure("save holds rules")
        }
        return rules
    }

    /// `dbfilename`: the snapshot file name, inside ``dir``.
    public var dbfilename: String { self.string("dbfilename") }

    /// `rdbcompression`.
    public var rdbcompression: Bool { self.flag("rdbcompression") }

    /// `rdbchecksum`.
    public var rdbchecksum: Bool { self.flag("rdbchecksum") }

    /// `stop-writes-on-bgsave-error`.
    public var stopWritesOnBgsaveError: Bool { self.flag("stop-writes-on-bgsave-error") }

    /// `maxmemory`: the memory limit in bytes (0: none).
    public var maxmemory: UInt64 {
        guard case .number(let number) = self.value("maxmemory") else {
            preconditionFailure("maxmemory is numeric")
        }
        return UInt64(bitPattern: number)
    }

    /// `maxmemory-policy`.
    public var maxmemoryPolicy: MaxmemoryPolicy {
        MaxmemoryPolicy(rawValue: self.get("maxmemory-policy") ?? "") ?? .noeviction
    }

    /// `maxmemory-samples`.
    public var maxmemorySamples: Int { self.int("maxmemory-samples") }

    /// `maxmemory-eviction-tenacity`.
    public var maxmemoryEvictionTenacity: Int { self.int("maxmemory-eviction-tenacity") }

    /// `lfu-log-factor`.
    public var lfuLogFactor: Int { self.int("lfu-log-factor") }

    /// `lfu-decay-time`, in minutes.
    public var lfuDecayTime: Int { self.int("lfu-decay-time") }

    /// `active-expire-effort` (1...10).
    public var activeExpireEffort: Int { self.int("active-expire-effort") }

    /// `lazyfree-lazy-user-flush`.
    public var lazyfreeLazyUserFlush: Bool { self.flag("lazyfree-lazy-user-flush") }

    /// `loglevel`.
    public var loglevel: LogLevel {
        LogLevel(rawValue: self.get("loglevel") ?? "") ?? .notice
    }

    /// `logfile`: the log file, empty for standard output. A relative name is relative to ``dir``.
    public var logfile: String { self.string("logfile") }

    /// `notify-keyspace-events`.
    public var notifyKeyspaceEvents: KeyspaceEvents {
        guard case .keyspaceEvents(let events) = self.value("notify-keyspace-events") else {
            preconditionFailure("notify-keyspace-events holds events")
        }
        return events
    }

    /// `slowlog-log-slower-than`, in microseconds (negative: off).
    public var slowlogLogSlowerThan: Int { self.int("slowlog-log-slower-than") }

    /// `slowlog-max-len`.
    public var slowlogMaxLen: Int { self.int("slowlog-max-len") }

    /// `latency-monitor-threshold`, in milliseconds (0: off).
    public var latencyMonitorThreshold: Int { self.int("latency-monitor-threshold") }

    /// `latency-tracking-info-percentiles`.
    public var latencyTrackingInfoPercentiles: [Double] {
        guard case .percentiles(let percentiles) = self.value("latency-tracking-info-percentiles") else {
            preconditionFailure("latency-tracking-info-percentiles holds percentiles")
        }
        return percentiles
    }

    /// `busy-reply-threshold` (alias `lua-time-limit`), in milliseconds.
    public var busyReplyThreshold: Int { self.int("busy-reply-threshold") }
}
