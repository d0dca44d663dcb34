public import NIOCore
public import NeptuneRESP

/// What a command's body receives besides its arguments: the calling client's session and its reply buffer.
public struct CommandContext: Sendable {
    /// The selected database.
    public var db: Int
    /// The protocol the client speaks; shapes replies (maps, doubles, nulls).
    public var protocolVersion: RESPVersion
    /// False until AUTH succeeds when a password is required.
    public var isAuthenticated: Bool
    /// CLIENT NO-TOUCH: reads do not update access times.
    public var noTouch: Bool
    /// CLIENT NO-EVICT.
    public var noEvict: Bool
    /// The connection's CLIENT ID (0 for an embedded caller).
    public var clientID: Int
    /// Replies are appended here.
    public var reply: ByteBuffer
    /// The command's time snapshot in Unix milliseconds (set by the dispatcher).
    public var now: Int64 = 0
    /// When set, the dispatcher takes the command's time (``now``) from here instead of reading the engine's
    /// clock. A host that runs a batch of pipelined commands reads the clock once per few commands and sets it:
    /// on some machines (virtual ones especially) reading the clock is a system call costing more than a GET.
    public var timeSnapshot: Int64?
    /// The host's per-connection object (the server's connection), for host commands such as CLIENT.
    public var host: (any Sendable & AnyObject)?
    /// What the running write command wants journaled (reset by the dispatcher before each command).
    public var journal: JournalDirective = .asReceived
    /// The sequence number of the last journal record this context's commands produced (0 if none yet).
    public var journalSequence: UInt64 = 0
    /// The client has pub/sub subscriptions: in RESP2 only (P)(UN)SUBSCRIBE, PING, QUIT and RESET are allowed, and
    /// PING answers `[pong, message]`. The host sets it.
    public var isSubscribed = false
    /// Set by a write command that told the keyspace observers itself which keys it changed (COPY … DB), so the
    /// dispatcher does not derive them from the journal directive. Reset before each command.
    var reportedOwnChanges = false
    /// The client's MULTI/WATCH state, created by the first MULTI or WATCH.
    public var transaction: TransactionState?
    /// While EXEC runs: the records its commands journal, appended together (between MULTI and EXEC records)
    /// when it ends.
    var journalBatch: [(db: Int, arguments: [ByteBuffer])]?
    /// Set while recovery replays the journal: expiry is suspended and `now` reads as the distant past.
    public var replaying = false
    /// How replies reach this client after it blocked (BLPOP …). The host sets it once per connection; when nil
    /// (an embedded caller) blocking commands never block: with every key empty they reply as if their timeout
    /// had elapsed, as Redis does inside MULTI.
    public var blockingDelivery: BlockedClientDelivery?
    /// Set by a blocking command that blocked: the command wrote no reply, and the host must stop running this
    /// client's commands until the ``BlockedClient`` is served (its delivery is called) or its wait is ended with
    /// ``Engine/unblock(_:with:)``. The host takes it and sets it back to nil.
    public var blockedClient: BlockedClient?

    public init(
        db: Int = 0,
        protocolVersion: RESPVersion = .v2,
        isAuthenticated: Bool = true,
        clientID: Int = 0,
        reply: ByteBuffer,
        host: (any Sendable & AnyObject)? = nil
    ) {
        self.db = db
        self.protocolVersion = protocolVersion
        self.isAuthenticated = isAuthenticated
        self.noTouch = false
        self.noEvict = false
        self.clientID = clientID
        self.reply = reply
        self.host = host
    }
}

/// A command's implementation.
public typealias CommandBody = @Sendable (Engine, [ByteBuffer], inout CommandContext) throws -> Void

/// A command's metadata (as COMMAND INFO and COMMAND DOCS report it) and its body.
public struct CommandSpec: Sendable {
    /// Lower-case name; a subcommand's is `container|sub`.
    public var name: String
    /// Redis arity: positive = exact argument count (name included), negative = at least that many.
    public var arity: Int
    /// Redis command flags (`write`, `readonly`, `denyoom`, `fast`, `noauth`, `loading`, `stale`, `admin` ...).
    public var flags: Set<String>
    public var firstKey: Int
    public var lastKey: Int
    public var step: Int
    /// ACL categories without the `@` (`string`, `read`, `fast` ...).
    public var categories: [String]
    /// COMMAND DOCS group (`string`, `generic`, `connection`, `server` ...).
    public var group: String
    public var summary: String
    public var since: String
    public var complexity: String
    public var subcommands: [CommandSpec]
    /// Nil for a container (CONFIG, CLIENT, OBJECT ...): the subcommand's body runs.
    public var body: CommandBody?

    public init(
        _ name: String,
        arity: Int,
        flags: Set<String>,
        keys: (first: Int, last: Int, step: Int) = (0, 0, 0),
        categories: [String],
        group: String,
        summary: String,
        since: String = "1.0.0",
        complexity: String = "O(1)",
        subcommands: [CommandSpec] = [],
        body: CommandBody?
    ) {
        self.name = name
        self.arity = arity
        self.flags = flags
        self.firstKey = keys.first
        self.lastKey = keys.last
        self.step = keys.step
        self.categories = categories
        self.group = group
        self.summary = summary
        self.since = since
        self.complexity = complexity
        self.subcommands = subcommands
        self.body = body
    }

    public var isWrite: Bool { flags.contains("write") }
    public var allowsUnauthenticated: Bool { flags.contains("no_auth") }
}

/// The command table: specs by case-insensitive name, looked up without allocating.
public final class CommandRegistry: @unchecked Sendable {
    /// A registered command held by reference, so the hot path copies one pointer rather than a spec's fields.
    final class Entry: Sendable {
        let spec: CommandSpec
        /// The spec's body, unwrapped; a container's (no body) is never called. Held here as a non-optional
        /// closure because calling one out of an `Optional` reabstracts it, which allocates on every call.
        let body: CommandBody
        /// Whether the spec has a body; a container (CONFIG, CLIENT ...) has none and dispatches to a subcommand.
        let hasBody: Bool
        let name: [UInt8]
        let subcommands: [Entry]
        /// Whether the command changes the keyspace (journaled, refused when the journal is unhealthy).
        let isWrite: Bool
        /// Redis's `denyoom`: refused when memory is over `maxmemory` and cannot be freed.
        let denyOOM: Bool
        let firstKey: Int
        let lastKey: Int
        let keyStep: Int
        /// The keys are found by parsing the arguments (ZUNIONSTORE numkeys ..., LMPOP ...): such writes lock
        /// every shard, so the body may touch any key and the journal still records the apply order.
        let movableKeys: Bool
        /// Runs at once inside MULTI instead of being queued (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET).
        let runsInsideMulti: Bool
        /// Allowed to a RESP2 client in subscribed mode.
        let allowedWhileSubscribed: Bool
        /// A blocking command (BLPOP …): the dispatcher makes sure the blocked-client registry observes writes.
        let isBlocking: Bool
        /// Whether the command runs while the dataset is loading (Redis's `loading` flag); others get `-LOADING`.
        let allowedWhileLoading: Bool

        init(_ spec: CommandSpec) {
            self.spec = spec
            self.body = spec.body ?? { _, _, _ in preconditionFailure("a container command has no body") }
            self.hasBody = spec.body != nil
            self.name = Array((spec.name.split(separator: "|").last.map(String.init) ?? spec.name).utf8)
            self.subcommands = spec.subcommands.map(Entry.init)
            self.isWrite = spec.flags.contains("write")
            self.denyOOM = spec.flags.contains("denyoom")
            self.firstKey = spec.firstKey
            self.movableKeys = spec.flags.contains("movablekeys")
            self.lastKey = spec.lastKey
            self.keyStep = spec.step
            self.isBlocking = spec.flags.contains("blocking")
            self.runsInsideMulti = ["exec", "discard", "multi", "watch", "quit", "reset"].contains(spec.name)
            self.allowedWhileSubscribed = [
                "ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit",
                "reset",
            ].contains(spec.name)
            self.allowedWhileLoading = spec.flags.contains("loading")
        }

        @inline(__always)
        func subcommand(_ name: UnsafeRawBufferPointer) -> Entry? {
            subcommands.first { CommandRegistry.equalsIgnoringCase($0.name, name) }
        }
    }

    // Written only while the host registers commands before it serves; read-only afterwards, so the runtime's
    // exclusivity check on each lookup is not needed.
    @exclusivity(unchecked) private var buckets: [[Entry]]
    private let mask: Int
    public private(set) var all: [CommandSpec] = []

    public init() {
        buckets = Array(repeating: [], count: 1024)
        mask = 1023
    }

    /// Adds or replaces a command. Call before serving.
    public func register(_ spec: CommandSpec) {
        let entry = Entry(spec)
        let b = entry.name.withUnsafeBytes { Self.hash($0) } & mask
        if let i = buckets[b].firstIndex(where: { $0.spec.name == spec.name }) {
            buckets[b][i] = entry
            all.removeAll { $0.name == spec.name }
        } else {
            buckets[b].append(entry)
        }
        all.append(spec)
    }

    public func register(_ specs: [CommandSpec]) {
        for spec in specs { register(spec) }
    }

    @inline(__always)
    func entry(_ name: UnsafeRawBufferPointer) -> Entry? {
        for entry in buckets[Self.hash(name) & mask] where Self.equalsIgnoringCase(entry.name, name) {
            return entry
        }
        return nil
    }

    /// The command named `name` (any case), or nil.
    public func lookup(_ name: UnsafeRawBufferPointer) -> CommandSpec? {
        entry(name)?.spec
    }

    public func lookup(_ name: String) -> CommandSpec? {
        Array(name.utf8).withUnsafeBytes { lookup($0) }
    }

    @inline(__always)
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt32 = 2_166_136_261
        for byte in bytes {
            h = (h ^ UInt32(byte | ((byte &- 65 < 26) ? 0x20 : 0))) &* 16_777_619
        }
        return Int(h)
    }

    /// Whether `bytes` equals the lower-case name `lower`, ignoring ASCII case.
    @inline(__always)
    static func equalsIgnoringCase(_ lower: [UInt8], _ bytes: UnsafeRawBufferPointer) -> Bool {
        guard lower.count == bytes.count else { return false }
        return lower.withUnsafeBufferPointer { l in
            for i in 0..<l.count {
                let b = bytes[i]
                if l[i] != (b &- 65 < 26 ? b | 0x20 : b) { return false }
            }
            return true
        }
    }

    /// Whether `bytes` equals the lower-case `lower`, ignoring ASCII case.
    public static func equalsIgnoringCase(_ lower: String, _ bytes: UnsafeRawBufferPointer) -> Bool {
        equalsIgnoringCase(Array(lower.utf8), bytes)
    }
}
