/// What a run measured.
public struct BenchmarkResult: Sendable {
    /// The run's options.
    public let configuration: BenchmarkConfiguration
    /// The commands sent, with their weights.
    public let workload: BenchmarkWorkload
    /// The measured time: from the end of the warm-up to the last reply (request count) or to the stop (duration).
    public let durationSeconds: Double
    /// Statistics per template, in ``BenchmarkWorkload/templates`` order.
    public let commands: [LatencyStatistics]
    /// The texts of the first distinct error replies.
    public let errorSamples: [String]

    /// The maximum number of error texts kept in ``errorSamples``.
    public static let maximumErrorSamples = 5

    /// Creates a result (the runner builds them; tests and tools may too).
    /// - Parameters:
    ///   - configuration: The run's options.
    ///   - workload: The commands sent.
    ///   - durationSeconds: The measured time.
    ///   - commands: Statistics per template.
    ///   - errorSamples: Error texts; only the first ``maximumErrorSamples`` distinct ones are kept.
    public init(
        configuration: BenchmarkConfiguration,
        workload: BenchmarkWorkload,
        durationSeconds: Double,
        commands: [LatencyStatistics],
        errorSamples: [String]
    ) {
        self.configuration = configuration
        self.workload = workload
        self.durationSeconds = durationSeconds
        self.commands = commands
        var distinct: [String] = []
        for sample in errorSamples where !distinct.contains(sample) && distinct.count < Self.maximumErrorSamples {
            distinct.append(sample)
        }
        self.errorSamples = distinct
    }

    init(plan: BenchmarkPlan, snapshots: [WorkerSnapshot]) {
        var commands = plan.workload.templates.map { _ in LatencyStatistics() }
        var errorSamples: [String] = []
        var start = UInt64.max
        var end: UInt64 = 0
        for snapshot in snapshots {
            for index in commands.indices {
                commands[index].merge(snapshot.statistics[index])
            }
            errorSamples += snapshot.errorSamples
            start = min(start, snapshot.measureStart)
            let finish = plan.totalRequests == nil ? (snapshot.stoppedAt ?? 0) : snapshot.lastCompletion
            end = max(end, finish)
        }
        self.init(
            configuration: plan.configuration,
            workload: plan.workload,
            durationSeconds: start != .max && end > start ? Double(end - start) / 1e9 : 0,
            commands: commands,
            errorSamples: errorSamples
        )
    }

    /// All commands together.
    public var total: LatencyStatistics {
        var total = LatencyStatistics()
        for statistics in self.commands {
            total.merge(statistics)
        }
        return total
    }

    /// Completed requests per second over the measured time.
    /// - Parameter statistics: The requests to count, all by default.
    public func opsPerSecond(_ statistics: LatencyStatistics? = nil) -> Double {
        let requests = (statistics ?? self.total).requests
        return self.durationSeconds > 0 ? Double(requests) / self.durationSeconds : 0
    }
}
