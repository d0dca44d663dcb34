import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A snapshot of a running benchmark, delivered once a second for a progress line.
public struct BenchmarkProgress: Sendable {
    /// Seconds since the connections were established.
    public var elapsedSeconds: Double
    /// Whether the warm-up is over.
    public var measuring: Bool
    /// Completed measured requests so far.
    public var requests: UInt64
    /// Measured error replies so far.
    public var errors: UInt64
    /// Replies per second over the last interval, warm-up included.
    public var currentOpsPerSecond: Double

    /// One line of text, without a line break, such as `[   3s] 584321 requests  194533 ops/s  0 errors`.
    public var line: String {
        let seconds = String(Int(self.elapsedSeconds.rounded(.down)))
        let padded = String(repeating: " ", count: max(0, 4 - seconds.count)) + seconds
        let phase = self.measuring ? "" : "  (warming up)"
        return "[\(padded)s] \(self.requests) requests  \(formatFixed(self.currentOpsPerSecond, decimals: 0)) ops/s"
            + "  \(self.errors) errors\(phase)"
    }
}

/// Runs a benchmark: opens the connections, drives them on SwiftNIO event loops and gathers the results.
///
/// ```swift
/// var configuration = BenchmarkConfiguration()
/// configuration.port = 6380
/// configuration.duration = 10
/// let result = try await BenchmarkRunner(configuration: configuration).run()
/// print(BenchmarkReport(result: result).text)
/// ```
public struct BenchmarkRunner: Sendable {
    /// The run's options.
    public let configuration: BenchmarkConfiguration

    /// Creates a runner.
    /// - Parameter configuration: The run's options; checked when ``run(progress:)`` starts.
    public init(configuration: BenchmarkConfiguration) {
        self.configuration = configuration
    }

    /// Runs the benchmark to completion.
    /// - Parameter progress: Called about once a second while the run lasts.
    /// - Returns: The measured statistics.
    /// - Throws: ``BenchmarkError``: an invalid configuration, a connection that cannot be opened, a connection the
    ///   server closes, or bytes that are not RESP. The run stops at the first failure.
    public func run(progress: (@Sendable (BenchmarkProgress) -> Void)? = nil) async throws -> BenchmarkResult {
        let plan = try BenchmarkPlan(configuration: self.configuration)
        let group = MultiThreadedEventLoopGroup(numberOfThreads: self.configuration.effectiveThreads)
        let result: Result<BenchmarkResult, any Error>
        do {
            result = .success(try await Self.run(plan: plan, group: group, progress: progress))
        } catch {
            result = .failure(error)
        }
        try? await group.shutdownGracefully()
        return try result.get()
    }

    private struct Loop: Sendable {
        let eventLoop: any EventLoop
        let worker: NIOLoopBoundBox<BenchmarkWorker>

        func execute(_ body: @escaping @Sendable (BenchmarkWorker) -> Void) {
            let worker = self.worker
            self.eventLoop.execute { body(worker.value) }
        }

        func submit<T: Sendable>(_ body: @escaping @Sendable (BenchmarkWorker) -> T) async throws -> T {
            let worker = self.worker
            return try await self.eventLoop.submit { body(worker.value) }.get()
        }
    }

    private static func run(
        plan: BenchmarkPlan,
        group: MultiThreadedEventLoopGroup,
        progress: (@Sendable (BenchmarkProgress) -> Void)?
    ) async throws -> BenchmarkResult {
        let configuration = plan.configuration
        let (events, continuation) = AsyncStream.makeStream(of: RunEvent.self)
        defer { continuation.finish() }
        let loops = group.makeIterator().map { eventLoop in
            Loop(
                eventLoop: eventLoop,
                worker: .makeBoxSendingValue(BenchmarkWorker(plan: plan, events: continuation), eventLoop: eventLoop)
            )
        }
        let channels: [any Channel]
        do {
            channels = try await Self.connect(plan: plan, loops: loops)
        } catch {
            for loop in loops {
                loop.execute { $0.releaseHandlers() }
            }
            throw error
        }

        let startTime = monotonicNanoseconds()
        let measuringFromStart = configuration.warmup == 0
        for loop in loops {
            loop.execute { $0.start(measuring: measuringFromStart) }
        }
        var timers: [Task<Void, Never>] = []
        defer {
            for timer in timers {
                timer.cancel()
            }
        }
        func yield(_ event: RunEvent, after seconds: Double) -> Task<Void, Never> {
            Task {
                try? await Task.sleep(for: .nanoseconds(Int64(seconds * 1e9)))
                if !Task.isCancelled {
                    continuation.yield(event)
                }
            }
        }
        if !measuringFromStart {
            timers.append(yield(.warmupEnded, after: configuration.warmup))
        } else if let duration = configuration.duration {
            timers.append(yield(.deadline, after: duration))
        }
        if progress != nil {
            timers.append(
                Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .seconds(1))
                        continuation.yield(.tick)
                    }
                }
            )
        }

        var failure: BenchmarkError?
        var finishedConnections = 0
        var lastTick = (time: startTime, replies: UInt64(0))
        eventLoop: for await event in events {
            switch event {
            case .warmupEnded:
                for loop in loops {
                    loop.execute { $0.beginMeasurement() }
                }
                if let duration = configuration.duration {
                    timers.append(yield(.deadline, after: duration))
                }
            case .deadline:
                break eventLoop
            case .connectionFinished:
                finishedConnections += 1
                if finishedConnections == configuration.connections {
                    break eventLoop
                }
            case .connectionFailed(let error):
                failure = error
                break eventLoop
            case .tick:
                guard let progress else {
                    continue
                }
                var requests: UInt64 = 0
                var errors: UInt64 = 0
                var replies: UInt64 = 0
                var measuring = false
                for loop in loops {
                    let counts = try await loop.submit { $0.progress() }
                    requests += counts.requests
                    errors += counts.errors
                    replies += counts.replies
                    measuring = measuring || counts.measuring
                }
                let now = monotonicNanoseconds()
                let elapsed = Double(now - lastTick.time) / 1e9
                let completed = replies - lastTick.replies
                progress(
                    BenchmarkProgress(
                        elapsedSeconds: Double(now - startTime) / 1e9,
                        measuring: measuring,
                        requests: requests,
                        errors: errors,
                        currentOpsPerSecond: elapsed > 0 ? Double(completed) / elapsed : 0
                    )
                )
                lastTick = (now, replies)
            }
        }

        var snapshots: [WorkerSnapshot] = []
        for loop in loops {
            snapshots.append(
                try await loop.submit { worker in
                    worker.stop()
                    return worker.snapshot()
                }
            )
        }
        for channel in channels {
            try? await channel.close()
        }
        for loop in loops {
            loop.execute { $0.releaseHandlers() }
        }
        if let failure {
            throw failure
        }
        return BenchmarkResult(plan: plan, snapshots: snapshots)
    }

    private static func connect(plan: BenchmarkPlan, loops: [Loop]) async throws -> [any Channel] {
        let configuration = plan.configuration
        var pending: [EventLoopFuture<any Channel>] = []
        for connection in 0..<configuration.connections {
            let loop = loops[connection % loops.count]
            let worker = loop.worker
            let bootstrap = ClientBootstrap(group: loop.eventLoop)
                .connectTimeout(.seconds(10))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let handler = BenchmarkConnectionHandler(worker: worker.value, connection: connection)
                        try channel.pipeline.syncOperations.addHandler(handler)
                    }
                }
            pending.append(bootstrap.connect(host: configuration.host, port: configuration.port))
        }
        var channels: [any Channel] = []
        var failure: (any Error)?
        for future in pending {
            do {
                channels.append(try await future.get())
            } catch {
                failure = failure ?? error
            }
        }
        if let failure {
            for channel in channels {
                try? await channel.close()
            }
            throw BenchmarkError(
                .connectionFailed,
                "could not connect to \(configuration.host):\(configuration.port): \(describeConnectError(failure))"
            )
        }
        return channels
    }
}

private func describeConnectError(_ error: any Error) -> String {
    var error = error
    if let connectionError = error as? NIOConnectionError {
        if let dnsError = connectionError.dnsAError ?? connectionError.dnsAAAAError {
            return "cannot resolve the host (\(dnsError))"
        }
        if let first = connectionError.connectionErrors.first {
            error = first.error
        }
    }
    if let ioError = error as? IOError {
        return String(cString: strerror(ioError.errnoCode))
    }
    if error is ChannelError {
        return "\(error)"
    }
    return String(describing: error)
}
