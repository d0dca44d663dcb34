import NIOCore

/// What connections and timers report to the coordinating task.
enum RunEvent: Sendable {
    case connectionFinished
    case connectionFailed(BenchmarkError)
    case warmupEnded
    case deadline
    case tick
}

/// What one event loop measured.
struct WorkerSnapshot: Sendable {
    var statistics: [LatencyStatistics]
    var measureStart: UInt64
    var stoppedAt: UInt64?
    var lastCompletion: UInt64
    var errorSamples: [String]
}

/// The state shared by the connections of one event loop: statistics and the run's phase.
///
/// It is confined to its loop (reached through a `NIOLoopBoundBox`), so recording needs no lock or atomic.
final class BenchmarkWorker {
    let plan: BenchmarkPlan
    private let events: AsyncStream<RunEvent>.Continuation
    private var handlers: [BenchmarkConnectionHandler] = []
    @exclusivity(unchecked) private var statistics: [LatencyStatistics]
    /// Requests sent at or after this instant are measured; `.max` while warming up.
    @exclusivity(unchecked) private(set) var measureStart: UInt64 = .max
    @exclusivity(unchecked) private(set) var stopped = false
    private var stoppedAt: UInt64?
    @exclusivity(unchecked) private var lastCompletion: UInt64 = 0
    /// Every reply, warm-up included, for the progress line's rate.
    @exclusivity(unchecked) private var replies: UInt64 = 0

    init(plan: BenchmarkPlan, events: AsyncStream<RunEvent>.Continuation) {
        self.plan = plan
        self.events = events
        self.statistics = plan.workload.templates.map { _ in LatencyStatistics() }
    }

    func register(_ handler: BenchmarkConnectionHandler) {
        self.handlers.append(handler)
    }

    /// Starts sending on every connection; measurement starts now unless there is a warm-up.
    func start(measuring: Bool) {
        if measuring {
            self.measureStart = monotonicNanoseconds()
        }
        for handler in self.handlers {
            handler.start()
        }
    }

    /// Ends the warm-up: from now on requests are counted and recorded.
    func beginMeasurement() {
        self.measureStart = monotonicNanoseconds()
        for handler in self.handlers {
            handler.measurementBegan()
        }
    }

    /// Stops sending and recording; connections stay open until the coordinator closes them.
    func stop() {
        guard !self.stopped else {
            return
        }
        self.stopped = true
        self.stoppedAt = monotonicNanoseconds()
        for handler in self.handlers {
            handler.stop()
        }
    }

    @inline(__always)
    func record(command: Int, start: UInt64, now: UInt64, isError: Bool) {
        self.replies &+= 1
        guard start >= self.measureStart, !self.stopped else {
            return
        }
        self.statistics[command].record(microseconds: now > start ? (now - start) / 1000 : 0, isError: isError)
        self.lastCompletion = now
    }

    func connectionFinished() {
        self.events.yield(.connectionFinished)
    }

    func connectionFailed(_ error: BenchmarkError) {
        self.events.yield(.connectionFailed(error))
    }

    /// Measured requests and errors so far, and all replies (warm-up included), for the progress line.
    func progress() -> (requests: UInt64, errors: UInt64, replies: UInt64, measuring: Bool) {
        var requests: UInt64 = 0
        var errors: UInt64 = 0
        for statistics in self.statistics {
            requests += statistics.requests
            errors += statistics.errors
        }
        return (requests, errors, self.replies, self.measureStart != .max)
    }

    func snapshot() -> WorkerSnapshot {
        WorkerSnapshot(
            statistics: self.statistics,
            measureStart: self.measureStart,
            stoppedAt: self.stoppedAt,
            lastCompletion: self.lastCompletion,
            errorSamples: self.handlers.flatMap(\.capturedErrors)
        )
    }

    /// Breaks the worker-handler reference cycle once the run is over.
    func releaseHandlers() {
        self.handlers.removeAll()
    }
}

/// The monotonic clock every timestamp of a run is read from, in nanoseconds.
@inline(__always)
func monotonicNanoseconds() -> UInt64 {
    NIODeadline.now().uptimeNanoseconds
}
