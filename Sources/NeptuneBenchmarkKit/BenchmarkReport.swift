import FoundationEssentials

/// The published form of a ``BenchmarkResult``: the `--json` object and the human-readable text.
///
/// JSON shape (latencies in milliseconds, throughput in completed requests per second):
/// ```json
/// {
///   "tool": "neptune-benchmark",
///   "configuration": { "host": "127.0.0.1", "port": 6379, "connections": 50, "threads": 1, "pipeline": 1,
///                      "mode": "closed-loop", "requests": 100000, "durationSeconds": null, "warmupSeconds": 0,
///                      "rate": null, "keyspace": 1000000, "keyPattern": "uniform", "zipfSkew": 0.99,
///                      "keyPrefix": "key:", "dataSize": { "min": 32, "max": 32 }, "seed": 0 },
///   "requests": 100000, "errors": 0, "durationSeconds": 0.52, "opsPerSecond": 192307.7,
///   "latencyMs": { "min": 0.05, "mean": 0.25, "p50": 0.23, "p90": 0.31, "p99": 0.52, "p99.9": 1.1, "max": 2.3 },
///   "commands": [ { "name": "SET", "template": "SET __key__ __data__", "weight": 1, "requests": 9091,
///                   "errors": 0, "opsPerSecond": 17482.7, "latencyMs": { ... } }, ... ],
///   "errorSamples": [],
///   "percentiles": [ { "percentile": 0, "latencyMs": 0.05 }, { "percentile": 10, "latencyMs": 0.18 }, ... ],
///   "histogramMicroseconds": [ [50, 3], [51, 7], ... ]
/// }
/// ```
public struct BenchmarkReport: Codable, Sendable, Equatable {
    /// Latency summary in milliseconds.
    public struct Latency: Codable, Sendable, Equatable {
        public var min: Double
        public var mean: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var p999: Double
        public var max: Double

        enum CodingKeys: String, CodingKey {
            case min, mean, p50, p90, p99
            case p999 = "p99.9"
            case max
        }

        /// Summarizes statistics.
        /// - Parameter statistics: The recorded latencies.
        public init(_ statistics: LatencyStatistics) {
            self.min = rounded(statistics.minimumMilliseconds, decimals: 3)
            self.mean = rounded(statistics.meanMilliseconds, decimals: 3)
            self.p50 = rounded(statistics.milliseconds(atPercentile: 50), decimals: 3)
            self.p90 = rounded(statistics.milliseconds(atPercentile: 90), decimals: 3)
            self.p99 = rounded(statistics.milliseconds(atPercentile: 99), decimals: 3)
            self.p999 = rounded(statistics.milliseconds(atPercentile: 99.9), decimals: 3)
            self.max = rounded(statistics.maximumMilliseconds, decimals: 3)
        }
    }

    /// One command template's results.
    public struct Command: Codable, Sendable, Equatable {
        public var name: String
        public var template: String
        public var weight: Int
        public var requests: UInt64
        public var errors: UInt64
        public var opsPerSecond: Double
        public var latencyMs: Latency
    }

    /// The value size range.
    public struct DataSize: Codable, Sendable, Equatable {
        public var min: Int
        public var max: Int
    }

    /// The options the run used. Options that were not set are `null`.
    public struct Configuration: Codable, Sendable, Equatable {
        public var host: String
        public var port: Int
        public var connections: Int
        public var threads: Int
        public var pipeline: Int
        public var mode: BenchmarkConfiguration.Mode
        public var requests: Int?
        public var durationSeconds: Double?
        public var warmupSeconds: Double
        public var rate: Double?
        public var keyspace: Int
        public var keyPattern: KeyPattern
        public var zipfSkew: Double
        public var keyPrefix: String
        public var dataSize: DataSize
        public var seed: UInt64

        enum CodingKeys: String, CodingKey {
            case host, port, connections, threads, pipeline, mode, requests, durationSeconds, warmupSeconds, rate
            case keyspace, keyPattern, zipfSkew, keyPrefix, dataSize, seed
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.host, forKey: .host)
            try container.encode(self.port, forKey: .port)
            try container.encode(self.connections, forKey: .connections)
            try container.encode(self.threads, forKey: .threads)
            try container.encode(self.pipeline, forKey: .pipeline)
            try container.encode(self.mode, forKey: .mode)
            try container.encode(self.requests, forKey: .requests)
            try container.encode(self.durationSeconds, forKey: .durationSeconds)
            try container.encode(self.warmupSeconds, forKey: .warmupSeconds)
            try container.encode(self.rate, forKey: .rate)
            try container.encode(self.keyspace, forKey: .keyspace)
            try container.encode(self.keyPattern, forKey: .keyPattern)
            try container.encode(self.zipfSkew, forKey: .zipfSkew)
            try container.encode(self.keyPrefix, forKey: .keyPrefix)
            try container.encode(self.dataSize, forKey: .dataSize)
            try container.encode(self.seed, forKey: .seed)
        }
    }

    /// One point of the latency distribution.
    public struct PercentilePoint: Codable, Sendable, Equatable {
        public var percentile: Double
        public var latencyMs: Double
    }

    /// Always `neptune-benchmark`, so a consumer can tell these objects apart from other tools' output.
    public var tool: String
    public var configuration: Configuration
    /// Completed measured requests.
    public var requests: UInt64
    /// Error replies among them.
    public var errors: UInt64
    public var durationSeconds: Double
    public var opsPerSecond: Double
    /// Latency over all commands.
    public var latencyMs: Latency
    public var commands: [Command]
    /// The first error replies' texts.
    public var errorSamples: [String]
    /// The latency distribution over all commands, for plots.
    public var percentiles: [PercentilePoint]
    /// The latency histogram over all commands: `[microseconds, count]` per non-empty bucket (the bucket's highest
    /// equivalent value, three significant digits), in increasing order. Reports of several runs merge exactly by
    /// adding the counts of equal values, so a consumer can take a percentile over several runs.
    public var histogramMicroseconds: [[UInt64]]

    /// Builds the report of a result.
    /// - Parameter result: The measured run.
    public init(result: BenchmarkResult) {
        let configuration = result.configuration
        let total = result.total
        var requests: Int?
        if configuration.load {
            requests = configuration.keyspace
        } else if configuration.duration == nil {
            requests = configuration.requests ?? BenchmarkConfiguration.defaultRequests
        }
        self.tool = "neptune-benchmark"
        self.configuration = Configuration(
            host: configuration.host,
            port: configuration.port,
            connections: configuration.connections,
            threads: configuration.effectiveThreads,
            pipeline: configuration.pipeline,
            mode: configuration.mode,
            requests: requests,
            durationSeconds: configuration.duration,
            warmupSeconds: configuration.warmup,
            rate: configuration.rate,
            keyspace: configuration.keyspace,
            keyPattern: configuration.load ? .sequential : configuration.keyPattern,
            zipfSkew: configuration.zipfSkew,
            keyPrefix: configuration.keyPrefix,
            dataSize: DataSize(min: configuration.dataSize.lowerBound, max: configuration.dataSize.upperBound),
            seed: configuration.seed
        )
        self.requests = total.requests
        self.errors = total.errors
        self.durationSeconds = rounded(result.durationSeconds, decimals: 6)
        self.opsPerSecond = rounded(result.opsPerSecond(), decimals: 1)
        self.latencyMs = Latency(total)
        self.commands = result.workload.templates.indices.map { index in
            let template = result.workload.templates[index]
            let statistics = result.commands[index]
            return Command(
                name: template.name,
                template: template.source,
                weight: result.workload.weights[index],
                requests: statistics.requests,
                errors: statistics.errors,
                opsPerSecond: rounded(result.opsPerSecond(statistics), decimals: 1),
                latencyMs: Latency(statistics)
            )
        }
        self.errorSamples = result.errorSamples
        self.percentiles = total.percentileCurve().map {
            PercentilePoint(
                percentile: rounded($0.percentile, decimals: 6),
                latencyMs: rounded($0.milliseconds, decimals: 3)
            )
        }
        self.histogramMicroseconds = total.buckets().map { [$0.microseconds, $0.count] }
    }

    /// The report as one line of JSON.
    public var json: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        do {
            return String(decoding: try encoder.encode(self), as: UTF8.self)
        } catch {
            preconditionFailure("encoding a benchmark report cannot fail: \(error)")
        }
    }

    /// The report as aligned text for a terminal.
    public var text: String {
        let configuration = self.configuration
        var lines: [String] = []
        let threads = configuration.threads == 1 ? "1 thread" : "\(configuration.threads) threads"
        var mode: String
        switch configuration.mode {
        case .closedLoop: mode = "closed loop, pipeline \(configuration.pipeline)"
        case .openLoop: mode = "open loop at \(formatFixed(configuration.rate ?? 0, decimals: 0)) requests/s"
        case .load: mode = "load, pipeline \(configuration.pipeline)"
        }
        lines.append(
            "server:      \(configuration.host):\(configuration.port), \(configuration.connections) connections on "
                + "\(threads), \(mode)"
        )
        let commands = self.commands.map { "\($0.template) (\($0.weight))" }.joined(separator: ", ")
        let sizes = configuration.dataSize.min == configuration.dataSize.max
            ? "\(configuration.dataSize.min)" : "\(configuration.dataSize.min)-\(configuration.dataSize.max)"
        var keys = "\(configuration.keyspace) keys, \(configuration.keyPattern.rawValue)"
        if configuration.keyPattern == .zipf {
            keys += " (skew \(configuration.zipfSkew))"
        }
        lines.append("workload:    \(commands); \(keys); values of \(sizes) bytes")
        lines.append("")
        lines.append(
            "requests:    \(self.requests) in \(formatFixed(self.durationSeconds, decimals: 3)) s, "
                + "\(self.errors) errors"
        )
        lines.append("throughput:  \(formatFixed(self.opsPerSecond, decimals: 1)) ops/s")
        lines.append("")
        let header = [
            padRight("command", 10), padLeft("ops/s", 12), padLeft("requests", 11), padLeft("errors", 8),
            padLeft("p50", 9), padLeft("p90", 9), padLeft("p99", 9), padLeft("p99.9", 9), padLeft("max", 9),
        ]
        lines.append(header.joined() + "   (latency in ms)")
        func row(_ name: String, _ ops: Double, _ requests: UInt64, _ errors: UInt64, _ latency: Latency) -> String {
            [
                padRight(name, 10), padLeft(formatFixed(ops, decimals: 1), 12), padLeft("\(requests)", 11),
                padLeft("\(errors)", 8), padLeft(formatFixed(latency.p50, decimals: 3), 9),
                padLeft(formatFixed(latency.p90, decimals: 3), 9), padLeft(formatFixed(latency.p99, decimals: 3), 9),
                padLeft(formatFixed(latency.p999, decimals: 3), 9), padLeft(formatFixed(latency.max, decimals: 3), 9),
            ].joined()
        }
        for command in self.commands {
            lines.append(row(command.name, command.opsPerSecond, command.requests, command.errors, command.latencyMs))
        }
        if self.commands.count > 1 {
            lines.append(row("ALL", self.opsPerSecond, self.requests, self.errors, self.latencyMs))
        }
        if !self.errorSamples.isEmpty {
            lines.append("")
            lines.append("first error replies:")
            for sample in self.errorSamples {
                lines.append("  \(sample)")
            }
        }
        return lines.joined(separator: "\n")
    }
}
