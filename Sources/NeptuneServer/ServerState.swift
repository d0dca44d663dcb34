public import NeptuneCache
public import NeptuneSnapshot
public import Synchronization
import NIOConcurrencyHelpers

/// The commands and bytes one group of connections (those of one event loop) served, counted apart from other
/// groups: event loops on different cores adding to one shared counter would pass its cache line back and forth
/// on every read and write.
public final class TrafficCounters: Sendable {
    public let commandsProcessed = Atomic<Int>(0)
    public let inputBytes = Atomic<Int>(0)
    public let outputBytes = Atomic<Int>(0)
    /// Keeps the counters of two groups, allocated one after the other, off each other's cache line.
    private let padding: (Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int, Int) = (
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    )

    init() {}

    func reset() {
        commandsProcessed.store(0, ordering: .relaxed)
        inputBytes.store(0, ordering: .relaxed)
        outputBytes.store(0, ordering: .relaxed)
    }
}

/// Server-wide counters for INFO stats, updated once per read batch rather than per command.
public final class ServerStatistics: Sendable {
    public let connectionsReceived = Atomic<Int>(0)
    public let rejectedConnections = Atomic<Int>(0)
    /// Traffic counters by event loop (see ``traffic(for:)``); INFO shows their sums.
    private let trafficGroups = Mutex<[ObjectIdentifier: TrafficCounters]>([:])
    public let errorReplies = Atomic<Int>(0)
    /// Clients closed for going over `client-output-buffer-limit` (INFO's
    /// `client_output_buffer_limit_disconnections`).
    public let outputBufferLimitDisconnections = Atomic<Int>(0)
    /// The largest `used_memory` INFO has reported.
    public let peakMemory = Atomic<Int>(0)
    /// `instantaneous_ops_per_sec`: samples of ``commandsProcessed``.
    public let commandRate = InstantaneousMetric()
    /// `instantaneous_input_kbps`: samples of ``inputBytes``.
    public let inputRate = InstantaneousMetric()
    /// `instantaneous_output_kbps`: samples of ``outputBytes``.
    public let outputRate = InstantaneousMetric()
    /// Error replies by their first word (`ERR`, `WRONGTYPE` ...), for INFO errorstats.
    private let errorsByPrefix = Mutex<[String: Int]>([:])
    /// Redis stops tracking new error prefixes past this many (a client could otherwise make up endless ones).
    static let maximumErrorPrefixes = 128

    public init() {}

    /// The traffic counters of the connections served by the event loop identified by `group` (created on first
    /// use); a connection looks them up once, when it opens.
    public func traffic(for group: ObjectIdentifier) -> TrafficCounters {
        trafficGroups.withLock { groups in
            if let counters = groups[group] { return counters }
            let counters = TrafficCounters()
            groups[group] = counters
            return counters
        }
    }

    private func total(_ counter: (TrafficCounters) -> Int) -> Int {
        trafficGroups.withLock { groups in groups.values.reduce(0) { $0 + counter($1) } }
    }

    /// Commands run, over all connections.
    public var commandsProcessed: Int { total { $0.commandsProcessed.load(ordering: .relaxed) } }
    /// Bytes received from clients.
    public var inputBytes: Int { total { $0.inputBytes.load(ordering: .relaxed) } }
    /// Bytes of replies sent to clients.
    public var outputBytes: Int { total { $0.outputBytes.load(ordering: .relaxed) } }

    /// Counts one error reply whose text (after `-`) starts with `prefix`.
    public func recordErrorReply(prefix: String) {
        errorReplies.add(1, ordering: .relaxed)
        errorsByPrefix.withLock { counts in
            if let count = counts[prefix] {
                counts[prefix] = count + 1
            } else if counts.count < Self.maximumErrorPrefixes {
                counts[prefix] = 1
            }
        }
    }

    /// Error reply counts by prefix, sorted by prefix.
    public var errorCounts: [(prefix: String, count: Int)] {
        errorsByPrefix.withLock { $0 }.sorted { Array($0.key.utf8).lexicographicallyPrecedes($1.key.utf8) }
            .map { ($0.key, $0.value) }
    }

    public func reset() {
        connectionsReceived.store(0, ordering: .relaxed)
        rejectedConnections.store(0, ordering: .relaxed)
        trafficGroups.withLock { groups in
            for counters in groups.values { counters.reset() }
        }
        errorReplies.store(0, ordering: .relaxed)
        outputBufferLimitDisconnections.store(0, ordering: .relaxed)
        peakMemory.store(0, ordering: .relaxed)
        commandRate.reset()
        inputRate.reset()
        outputRate.reset()
        errorsByPrefix.withLock { $0.removeAll() }
    }
}

/// What every connection shares: the engine, configuration, client registry and counters.
public final class ServerState: Sendable {
    public let engine: Engine
    public let config: ConfigStore
    /// The durability journal when `appendonly yes`; set once at start, before serving.
    nonisolated(unsafe) public var journal: Journal?
    /// Takes snapshots (SAVE, BGSAVE, `save` rules, SHUTDOWN); set once at start, before serving.
    nonisolated(unsafe) public var snapshotter: Snapshotter?
    /// Progress of the load at start (INFO's `loading_*` fields while ``Engine/isLoading``).
    public let loadingProgress = LoadingProgress()
    public let clients = ClientRegistry()
    /// Pub/sub channels and patterns with their subscribers.
    public let pubsub = PubSubHub()
    public let statistics = ServerStatistics()
    /// Unix milliseconds at start.
    public let startTime: Int64
    /// A random 40-hex-digit id for this run (INFO's run_id).
    public let runID: String
    /// A random 40-hex-digit replication id for this run (INFO's master_replid).
    public let replicationID: String
    /// The TCP port actually bound (differs from the configured one when that is 0).
    public let boundPort = Atomic<Int>(0)
    private let shutdownHandler = Mutex<(@Sendable (ShutdownRequest) -> Void)?>(nil)
    /// Under `appendfsync always`: one queue of connections waiting for durability per event loop.
    let durableReplyQueues = NIOLockedValueBox<[ObjectIdentifier: DurableReplyQueue]>([:])

    /// SHUTDOWN's options.
    public struct ShutdownRequest: Sendable {
        public var save: Bool?
    }

    public init(engine: Engine, config: ConfigStore) {
        self.engine = engine
        self.config = config
        self.startTime = engine.clock.milliseconds()
        engine.hostMemoryBytes = Self.memoryBaseline
        var id = ""
        for _ in 0..<40 { id.append(String(Int.random(in: 0..<16), radix: 16)) }
        self.runID = id
        var replicationID = ""
        for _ in 0..<40 { replicationID.append(String(Int.random(in: 0..<16), radix: 16)) }
        self.replicationID = replicationID
    }

    /// Installs what SHUTDOWN does (the service stops the process's service group).
    public func onShutdown(_ handler: @escaping @Sendable (ShutdownRequest) -> Void) {
        shutdownHandler.withLock { $0 = handler }
    }

    /// Runs the installed SHUTDOWN handler; false if there is none.
    @discardableResult
    func requestShutdown(_ request: ShutdownRequest) -> Bool {
        guard let handler = shutdownHandler.withLock({ $0 }) else { return false }
        handler(request)
        return true
    }
}
