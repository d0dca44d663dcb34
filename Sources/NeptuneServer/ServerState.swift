public import NeptuneCache
public import Synchronization

/// Server-wide counters for INFO stats, updated once per read batch rather than per command.
public final class ServerStatistics: Sendable {
    public let connectionsReceived = Atomic<Int>(0)
    public let rejectedConnections = Atomic<Int>(0)
    public let commandsProcessed = Atomic<Int>(0)
    public let inputBytes = Atomic<Int>(0)
    public let outputBytes = Atomic<Int>(0)
    public let errorReplies = Atomic<Int>(0)

    public init() {}

    public func reset() {
        connectionsReceived.store(0, ordering: .relaxed)
        rejectedConnections.store(0, ordering: .relaxed)
        commandsProcessed.store(0, ordering: .relaxed)
        inputBytes.store(0, ordering: .relaxed)
        outputBytes.store(0, ordering: .relaxed)
        errorReplies.store(0, ordering: .relaxed)
    }
}

/// What every connection shares: the engine, configuration, client registry and counters.
public final class ServerState: Sendable {
    public let engine: Engine
    public let config: ConfigStore
    public let clients = ClientRegistry()
    public let statistics = ServerStatistics()
    /// Unix milliseconds at start.
    public let startTime: Int64
    /// A random 40-hex-digit id for this run (INFO's run_id).
    public let runID: String
    /// The TCP port actually bound (differs from the configured one when that is 0).
    public let boundPort = Atomic<Int>(0)
    private let shutdownHandler = Mutex<(@Sendable (ShutdownRequest) -> Void)?>(nil)

    /// SHUTDOWN's options.
    public struct ShutdownRequest: Sendable {
        public var save: Bool?
    }

    public init(engine: Engine, config: ConfigStore) {
        self.engine = engine
        self.config = config
        self.startTime = engine.clock.milliseconds()
        var id = ""
        for _ in 0..<40 { id.append(String(Int.random(in: 0..<16), radix: 16)) }
        self.runID = id
    }

    /// Installs what SHUTDOWN does (the service stops the process's service group).
    public func onShutdown(_ handler: @escaping @Sendable (ShutdownRequest) -> Void) {
        shutdownHandler.withLock { $0 = handler }
    }

    func requestShutdown(_ request: ShutdownRequest) {
        let handler = shutdownHandler.withLock { $0 }
        handler?(request)
    }
}
