import NIOConcurrencyHelpers
import NIOCore
import NeptuneCache
import NeptuneRESP
import Synchronization

/// What the server knows about one connected client, readable from any thread (CLIENT LIST, CLIENT KILL, INFO).
public final class ClientConnection: @unchecked Sendable {
    public let id: Int
    public let address: String
    public let localAddress: String
    public let createdAt: Int64
    /// The socket's file descriptor (CLIENT LIST's `fd`), -1 for a client without one.
    let fd: Int32
    /// The peer's address (nil if the socket could not tell).
    let remoteAddress: SocketAddress?
    private let lock = NIOLock()
    // Guarded by `lock`.
    private var _name: String?
    private var _libraryName: String?
    private var _libraryVersion: String?
    private var _lastCommand = "NULL"
    private var _db = 0
    private var _protocolVersion: RESPVersion = .v2
    private var _noEvict = false
    private var _noTouch = false
    private var _queryBufferBytes = 0
    private var _multiCount = -1
    private let _closeAfterReply = Atomic<Bool>(false)
    private let _outputBufferBytes = Atomic<Int>(0)
    /// When the client last ran a command (milliseconds), stored after every batch of commands: an atomic rather
    /// than a field under the lock.
    private let _lastInteraction: Synchronization.Atomic<Int64>
    /// What ``recordCommand(_:now:session:queryBufferBytes:)`` last wrote under the lock, so that a batch changing
    /// none of it (the same command again in the same session, the usual case) takes no lock. Confined to the
    /// connection's event loop, as every method that writes those fields.
    private var lastRecorded: (name: String, session: SessionSummary, queryBufferBytes: Int)?
    // The connection's own event loop is the only writer (CLIENT REPLY runs there).
    private let _replyMode = Atomic<UInt8>(ReplyMode.on.rawValue)
    /// The protocol pub/sub messages are encoded in (the session's, updated after each command).
    private let _resp3 = Atomic<Bool>(false)
    /// Channels and patterns this client is subscribed to, in subscription order. Changed only on the connection's
    /// event loop, under `lock` so CLIENT LIST can count them.
    private var _channels: [[UInt8]] = []
    private var _patterns: [[UInt8]] = []
    /// Hands a pub/sub message to the connection's event loop (installed by the connection handler).
    private var _delivery: (@Sendable (ByteBuffer) -> Void)?
    /// Asks the connection's event loop to close it (installed by the connection handler).
    private var _close: (@Sendable () -> Void)?
    /// The blocking command this client waits in (BLPOP …), set and cleared by its connection's event loop.
    private var _blocked: BlockedClient?

    /// CLIENT REPLY: whether this connection's replies are sent.
    public enum ReplyMode: UInt8, Sendable {
        /// Replies are sent.
        case on = 0
        /// CLIENT REPLY OFF: no reply is sent until CLIENT REPLY ON.
        case off = 1
        /// CLIENT REPLY SKIP ran: the next command's reply is dropped.
        case skipNext = 2
        /// The running command's reply is dropped (the one after CLIENT REPLY SKIP).
        case skipCurrent = 3
    }

    init(id: Int, fd: Int32 = -1, remoteAddress: SocketAddress?, localAddress: SocketAddress?, now: Int64) {
        self.id = id
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.address = Self.format(remoteAddress)
        self.localAddress = Self.format(localAddress)
        self.createdAt = now
        self._lastInteraction = Synchronization.Atomic(now)
    }

    static func format(_ address: SocketAddress?) -> String {
        guard let address else { return "" }
        switch address {
        case .v4, .v6:
            let ip = address.ipAddress ?? "?"
            return "\(ip):\(address.port ?? 0)"
        case .unixDomainSocket:
            return address.pathname.map { "\($0):0" } ?? ""
        }
    }

    public var name: String? {
        get { lock.withLock { _name } }
        set { lock.withLock { _name = newValue } }
    }

    public var libraryName: String? {
        get { lock.withLock { _libraryName } }
        set { lock.withLock { _libraryName = newValue } }
    }

    public var libraryVersion: String? {
        get { lock.withLock { _libraryVersion } }
        set { lock.withLock { _libraryVersion = newValue } }
    }

    /// Whether the connection closes once the current reply is written (QUIT, CLIENT KILL of itself); read after
    /// every command, so it is an atomic rather than a field under the lock.
    public var closeAfterReply: Bool {
        get { _closeAfterReply.load(ordering: .relaxed) }
        set { _closeAfterReply.store(newValue, ordering: .relaxed) }
    }

    public var lastInteraction: Int64 { _lastInteraction.load(ordering: .relaxed) }

    /// Reply bytes the socket has not taken yet (CLIENT LIST's `omem`), set by the connection's event loop.
    public internal(set) var outputBufferBytes: Int {
        get { _outputBufferBytes.load(ordering: .relaxed) }
        set { _outputBufferBytes.store(newValue, ordering: .relaxed) }
    }

    /// CLIENT REPLY's state.
    public var replyMode: ReplyMode {
        get { ReplyMode(rawValue: _replyMode.load(ordering: .relaxed)) ?? .on }
        set { _replyMode.store(newValue.rawValue, ordering: .relaxed) }
    }

    /// The protocol version pub/sub messages to this client are encoded in.
    var pushProtocol: RESPVersion { _resp3.load(ordering: .relaxed) ? .v3 : .v2 }

    /// Installs how messages reach the connection and how it is closed from other threads (called once, when it
    /// becomes active).
    func installDelivery(_ delivery: @escaping @Sendable (ByteBuffer) -> Void, close: @escaping @Sendable () -> Void) {
        lock.withLock {
            _delivery = delivery
            _close = close
        }
    }

    /// Drops the delivery and close closures (the connection closed), breaking their reference cycle with the
    /// handler.
    func removeDelivery() {
        lock.withLock {
            _delivery = nil
            _close = nil
        }
    }

    /// Sends a pub/sub message to this client, from any thread: it is queued on the client's event loop.
    func deliver(_ message: ByteBuffer) {
        lock.withLock { _delivery }?(message)
    }

    /// The blocking command the client waits in, if any (CLIENT LIST's `b` flag, CLIENT UNBLOCK, idle timeout).
    var blockedClient: BlockedClient? {
        get { lock.withLock { _blocked } }
        set { lock.withLock { _blocked = newValue } }
    }

    /// Subscribed channels (or patterns), in subscription order.
    func subscriptions(patterns: Bool) -> [[UInt8]] {
        lock.withLock { patterns ? _patterns : _channels }
    }

    /// Channels plus patterns this client is subscribed to.
    var subscriptionCount: Int {
        lock.withLock { _channels.count + _patterns.count }
    }

    /// Records a subscription; false if the client already had it.
    func addSubscription(_ name: [UInt8], pattern: Bool) -> Bool {
        lock.withLock {
            if pattern {
                if _patterns.contains(name) { return false }
                _patterns.append(name)
            } else {
                if _channels.contains(name) { return false }
                _channels.append(name)
            }
            return true
        }
    }

    /// Forgets a subscription; false if the client did not have it.
    func removeSubscription(_ name: [UInt8], pattern: Bool) -> Bool {
        lock.withLock {
            if pattern {
                guard let i = _patterns.firstIndex(of: name) else { return false }
                _patterns.remove(at: i)
            } else {
                guard let i = _channels.firstIndex(of: name) else { return false }
                _channels.remove(at: i)
            }
            return true
        }
    }

    /// Called before each command: a pending CLIENT REPLY SKIP applies to this command.
    @inline(__always)
    func beginCommandReply() {
        if _replyMode.load(ordering: .relaxed) == ReplyMode.skipNext.rawValue {
            _replyMode.store(ReplyMode.skipCurrent.rawValue, ordering: .relaxed)
        }
    }

    /// Called after each command: whether its reply must be dropped (CLIENT REPLY OFF or SKIP).
    @inline(__always)
    func endCommandReply() -> Bool {
        switch _replyMode.load(ordering: .relaxed) {
        case ReplyMode.on.rawValue, ReplyMode.skipNext.rawValue:
            return false
        case ReplyMode.skipCurrent.rawValue:
            _replyMode.store(ReplyMode.on.rawValue, ordering: .relaxed)
            return true
        default:
            return true
        }
    }

    /// The session fields CLIENT LIST shows, taken from a command context after a batch of commands ran.
    struct SessionSummary: Equatable {
        var db: Int
        var protocolVersion: RESPVersion
        var noEvict: Bool
        var noTouch: Bool
        /// Commands queued by MULTI, or -1 outside a transaction.
        var multiCount: Int

        /// Reads the fields one by one, so a context stored in a class property is not copied whole (with its
        /// reply buffer and references) to be passed.
        @inline(__always)
        init(_ context: borrowing CommandContext) {
            db = context.db
            protocolVersion = context.protocolVersion
            noEvict = context.noEvict
            noTouch = context.noTouch
            multiCount = context.transaction.map { $0.queuedCount } ?? -1
        }
    }

    /// Records the last command that ran and the session after it (for CLIENT LIST's `cmd`, `idle`, `db`, `resp`,
    /// `qbuf`). The connection calls it once per batch of pipelined commands, after the batch ran, so other
    /// clients see its state as of its last complete batch.
    func recordCommand(_ name: String, now: Int64, session: SessionSummary, queryBufferBytes: Int) {
        recordProtocol(session.protocolVersion)
        _lastInteraction.store(now, ordering: .relaxed)
        if let last = lastRecorded, last.name == name, last.session == session,
            last.queryBufferBytes == queryBufferBytes
        {
            return
        }
        lastRecorded = (name, session, queryBufferBytes)
        lock.withLock {
            _multiCount = session.multiCount
            _lastCommand = name
            _db = session.db
            _protocolVersion = session.protocolVersion
            _noEvict = session.noEvict
            _noTouch = session.noTouch
            _queryBufferBytes = queryBufferBytes
        }
    }

    /// Records the session's protocol after each command (HELLO may change it), which pub/sub messages published
    /// to this client from any thread are encoded in: a relaxed atomic store, cheap enough for every command.
    @inline(__always)
    func recordProtocol(_ version: RESPVersion) {
        _resp3.store(version == .v3, ordering: .relaxed)
    }

    /// Records the command now running, so that CLIENT INFO and CLIENT LIST show it as Redis does (`cmd=client|info`,
    /// `idle=0`, the session's current database and protocol).
    func recordCurrentCommand(_ name: String, now: Int64, context: CommandContext) {
        lastRecorded = nil
        _lastInteraction.store(now, ordering: .relaxed)
        lock.withLock {
            _lastCommand = name
            _db = context.db
            _protocolVersion = context.protocolVersion
            _noEvict = context.noEvict
            _noTouch = context.noTouch
        }
    }

    func recordSession(_ context: CommandContext) {
        lastRecorded = nil
        _resp3.store(context.protocolVersion == .v3, ordering: .relaxed)
        lock.withLock {
            _db = context.db
            _protocolVersion = context.protocolVersion
            _noEvict = context.noEvict
            _noTouch = context.noTouch
        }
    }

    /// Closes the connection (CLIENT KILL, idle timeout, shutdown), from any thread: the close is queued on the
    /// connection's event loop. Nothing happens if it is already closed.
    public func close() {
        lock.withLock { _close }?()
    }

    /// One CLIENT LIST line (without the trailing newline), with Redis 7's field names.
    public func infoLine(now: Int64) -> String {
        lock.withLock {
            var flags = ""
            if _multiCount >= 0 { flags += "x" }
            if !_channels.isEmpty || !_patterns.isEmpty { flags += "P" }
            if _blocked != nil { flags += "b" }
            if _noEvict { flags += "e" }
            if _noTouch { flags += "T" }
            if flags.isEmpty { flags = "N" }
            let age = max(0, (now - createdAt) / 1000)
            let idle = max(0, (now - lastInteraction) / 1000)
            let nameField = _name ?? ""
            return "id=\(id) addr=\(address) laddr=\(localAddress) fd=\(fd) name=\(nameField) age=\(age) idle=\(idle) "
                + "flags=\(flags) db=\(_db) sub=\(_channels.count) psub=\(_patterns.count) ssub=0 "
                + "multi=\(_multiCount) qbuf=\(_queryBufferBytes) qbuf-free=0 "
                + "argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=\(outputBufferBytes) tot-mem=\(outputBufferBytes) events=r "
                + "cmd=\(_lastCommand) user=default redir=-1 resp=\(_protocolVersion.rawValue) "
                + "lib-name=\(_libraryName ?? "") lib-ver=\(_libraryVersion ?? "")"
        }
    }
}

/// Every connected client, by id.
public final class ClientRegistry: Sendable {
    private let clients = NIOLockedValueBox<[Int: ClientConnection]>([:])
    private let nextID = NIOLockedValueBox<Int>(1)

    public init() {}

    func makeID() -> Int {
        nextID.withLockedValue { id in
            defer { id += 1 }
            return id
        }
    }

    func add(_ client: ClientConnection) {
        clients.withLockedValue { $0[client.id] = client }
    }

    func remove(_ client: ClientConnection) {
        _ = clients.withLockedValue { $0.removeValue(forKey: client.id) }
    }

    public var count: Int { clients.withLockedValue { $0.count } }

    /// All clients, ordered by id.
    public var all: [ClientConnection] {
        clients.withLockedValue { $0.values.sorted { $0.id < $1.id } }
    }

    public func client(id: Int) -> ClientConnection? {
        clients.withLockedValue { $0[id] }
    }
}
