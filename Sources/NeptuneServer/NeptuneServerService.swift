public import Logging
public import NIOCore
public import ServiceLifecycle
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import Synchronization

/// The TCP face of Neptune: binds the configured addresses, serves RESP connections on its own epoll event loops
/// (``EpollServer``: no SwiftNIO channel on the per-request path), and on graceful shutdown stops accepting,
/// closes client connections, ends the loops' threads and returns.
public struct NeptuneServerService: Service {
    public let state: ServerState
    let eventLoops: Int
    let logger: Logger
    private let ready: (@Sendable ([SocketAddress]) -> Void)?

    /// - Parameters:
    ///   - state: The engine, configuration and registries shared by connections.
    ///   - eventLoops: How many event-loop threads serve connections (neptune-server starts
    ///     ``defaultEventLoopCount(cores:)`` of them unless `--threads` or `io-threads` says otherwise).
    ///   - logger: Where connection-level events are logged.
    ///   - onReady: Called with the bound addresses once the server accepts connections.
    public init(
        state: ServerState,
        eventLoops: Int,
        logger: Logger,
        onReady: (@Sendable ([SocketAddress]) -> Void)? = nil
    ) {
        self.state = state
        self.eventLoops = max(1, eventLoops)
        self.logger = logger
        self.ready = onReady
    }

    /// How many event loops serve connections by default: one per two cores, at least one.
    ///
    /// Each request costs the kernel (the TCP stack, the client's wake-up) more than it costs the event loop, so the
    /// loops do not get the machine to themselves. Measured on 2 cores with the clients on the same machine
    /// (redis-benchmark, 50 clients): one loop spends 10-20% less CPU time per request at pipeline 1 than two
    /// (fewer sleeps and wake-ups per request: 0.18 context switches per request against 0.29) and the same at
    /// pipeline 16, with the same throughput within the machine's noise. More cores than that are untested here;
    /// `--threads N` (or `io-threads`) sets the count.
    /// - Parameter cores: The number of cores the process may run on.
    /// - Returns: The number of event loops to start.
    public static func defaultEventLoopCount(cores: Int) -> Int {
        max(1, cores / 2)
    }

    /// The addresses from `bind` (redis.conf syntax: `*` any IPv4, `::*` any IPv6, a leading `-` makes one optional).
    static func bindAddresses(_ binds: [String], port: Int) throws -> [(SocketAddress, optional: Bool)] {
        var result: [(SocketAddress, optional: Bool)] = []
        for var host in binds {
            var optional = false
            if host.hasPrefix("-") {
                optional = true
                host.removeFirst()
            }
            switch host {
            case "*": host = "0.0.0.0"
            case "::*": host = "::"
            default: break
            }
            result.append((try SocketAddress(ipAddress: host, port: port), optional))
        }
        return result
    }

    public func run() async throws {
        let server = try EpollServer(state: state, loopCount: eventLoops, logger: logger)
        var bound: [SocketAddress] = []
        let port = state.config.port
        do {
            for (address, optional) in try Self.bindAddresses(state.config.bind, port: port) {
                do {
                    bound.append(try server.listen(on: address, backlog: Int32(clamping: state.config.tcpBacklog)))
                } catch where optional {
                    logger.warning("could not bind optional address", metadata: ["address": "\(address)"])
                }
            }
            guard !bound.isEmpty else {
                throw NeptuneServerError.noBindAddress
            }
            try server.start()
        } catch {
            server.closeListeners()
            throw error
        }
        state.boundPort.store(bound[0].port ?? port, ordering: .relaxed)
        logger.notice("Ready to accept connections tcp", metadata: ["addresses": "\(bound)"])
        ready?(bound)

        try? await gracefulShutdown()

        logger.info("shutting down: closing listeners and clients")
        await server.shutDown()
    }
}

/// Errors the server reports at start.
public struct NeptuneServerError: Error, CustomStringConvertible, Sendable {
    public let description: String

    public static let noBindAddress = NeptuneServerError(description: "no address could be bound")
}

/// Periodic work, as Redis's serverCron: the active expiry sweep (bounded CPU share), idle-client timeouts and the
/// `save` rules.
public struct ServerCronService: Service {
    let state: ServerState
    let logger: Logger

    public init(state: ServerState, logger: Logger) {
        self.state = state
        self.logger = logger
    }

    public func run() async throws {
        let clock = ContinuousClock()
        var ticks = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            let hz = max(1, min(500, state.config.hz))
            let period = Duration.milliseconds(1000 / hz)
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: period) }
            } catch {
                return
            }
            ticks += 1
            // Active expiry: sweep in small steps while a good share of what we meet is expired, for at most a
            // quarter of the tick (Redis's ACTIVE_EXPIRE_CYCLE_SLOW_TIME_PERC).
            let deadline = clock.now.advanced(by: period / 4)
            while clock.now < deadline {
                let (examined, removed) = state.engine.sweepExpired(budget: 32)
                if examined == 0 || removed * 10 < examined { break }
            }
            // Memory: count the clients' buffers, and finish evictions a write left over (bounded per call).
            state.engine.hostMemoryBytes = ServerState.memoryBaseline + state.clients.count * ServerState.perClientBytes
            let evictionDeadline = clock.now.advanced(by: period / 4)
            while state.engine.maxmemory > 0 && clock.now < evictionDeadline {
                let before = state.engine.evictedKeys
                state.engine.evictIfNeeded()
                if state.engine.evictedKeys == before { break }
            }
            if ticks % hz == 0 {
                closeIdleClients()
            }
            // `save <seconds> <changes>` rules start a background snapshot, as Redis's serverCron does.
            if let snapshotter = state.snapshotter, !state.engine.isLoading {
                let rules = state.config.saveRules.map { (seconds: $0.seconds, changes: $0.changes) }
                snapshotter.checkRules(rules, now: state.engine.clock.milliseconds())
                state.applySnapshotWriteRefusal()
            }
        }
    }

    private func closeIdleClients() {
        let timeout = state.config.timeout
        guard timeout > 0 else { return }
        let now = state.engine.clock.milliseconds()
        // As Redis, a client waiting in a blocking command is not idle: its own timeout applies.
        for client in state.clients.all
        where now - client.lastInteraction > Int64(timeout) * 1000 && client.blockedClient == nil {
            logger.debug("closing idle client", metadata: ["client": "\(client.address)"])
            client.close()
        }
    }
}
