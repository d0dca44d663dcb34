/// Everything that defines a benchmark run; the command-line options map one to one onto these properties.
public struct BenchmarkConfiguration: Sendable, Hashable {
    /// The server's host name or address.
    public var host = "127.0.0.1"
    /// The server's TCP port.
    public var port = 6379
    /// The number of client connections.
    public var connections = 50
    /// The number of event-loop threads driving the connections.
    public var threads = 1
    /// Requests in flight per connection (closed loop).
    public var pipeline = 1
    /// Total measured requests over all connections; `nil` with ``duration`` (or for the default count).
    public var requests: Int?
    /// Measured run time in seconds; `nil` to run a request count instead.
    public var duration: Double?
    /// Seconds of unmeasured load before measuring starts.
    public var warmup: Double = 0
    /// Weights of the commands (`--ratio 1:10`); `nil` for the defaults.
    public var ratio: [Int]?
    /// Command templates (`--command`); empty for `SET __key__ __data__` and `GET __key__`.
    public var commands: [String] = []
    /// The number of distinct keys.
    public var keyspace = 1_000_000
    /// How keys are picked.
    public var keyPattern: KeyPattern = .uniform
    /// The Zipf skew for ``KeyPattern/zipf``.
    public var zipfSkew = 0.99
    /// The text before each key's zero-padded index.
    public var keyPrefix = "key:"
    /// The value sizes in bytes; each request draws one uniformly.
    public var dataSize: ClosedRange<Int> = 32...32
    /// Total requests per second for an open-loop run; `nil` for a closed loop.
    public var rate: Double?
    /// The seed of every random choice in the run.
    public var seed: UInt64 = 0
    /// Write every key of the keyspace once, sequentially, then stop.
    public var load = false

    /// The request count when neither ``requests`` nor ``duration`` is given.
    public static let defaultRequests = 100_000
    /// The default templates, weighted by ``defaultRatio``.
    public static let defaultCommands = ["SET __key__ __data__", "GET __key__"]
    /// The default weights of ``defaultCommands`` (one write per ten reads).
    public static let defaultRatio = [1, 10]
    /// The largest value size accepted.
    public static let maximumDataSize = 64 << 20

    /// Creates the default configuration.
    public init() {}

    /// How requests are issued.
    public enum Mode: String, Sendable, Codable {
        /// Each connection keeps ``BenchmarkConfiguration/pipeline`` requests in flight.
        case closedLoop = "closed-loop"
        /// Requests are sent at fixed intervals, whatever the server's progress.
        case openLoop = "open-loop"
        /// Each key is written once.
        case load
    }

    /// The run's mode.
    public var mode: Mode {
        if self.load {
            return .load
        }
        return self.rate == nil ? .closedLoop : .openLoop
    }

    /// The event-loop threads actually used: never more than the connections.
    public var effectiveThreads: Int { max(1, min(self.threads, self.connections)) }

    /// Checks the options against each other.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/invalidConfiguration`` naming the first problem.
    public func validate() throws(BenchmarkError) {
        func check(_ condition: Bool, _ message: @autoclosure () -> String) throws(BenchmarkError) {
            if !condition {
                throw .invalidConfiguration(message())
            }
        }
        try check(!self.host.isEmpty, "--host must not be empty")
        try check((1...65535).contains(self.port), "--port must be between 1 and 65535")
        try check((1...100_000).contains(self.connections), "--connections must be between 1 and 100000")
        try check(self.threads >= 1, "--threads must be at least 1")
        try check((1...100_000).contains(self.pipeline), "--pipeline must be between 1 and 100000")
        try check(self.requests == nil || self.duration == nil, "--requests and --duration cannot be combined")
        try check(self.requests.map { $0 >= 1 } ?? true, "--requests must be at least 1")
        try check(self.duration.map { $0 > 0 && $0.isFinite } ?? true, "--duration must be a positive number")
        try check(self.warmup >= 0 && self.warmup.isFinite, "--warmup must not be negative")
        try check(self.keyspace >= 1, "--keyspace must be at least 1")
        try check(self.zipfSkew > 0 && self.zipfSkew.isFinite, "--zipf-skew must be a positive number")
        try check(self.dataSize.lowerBound >= 0, "the data size must not be negative")
        try check(
            self.dataSize.upperBound <= Self.maximumDataSize,
            "the data size must be at most \(Self.maximumDataSize) bytes"
        )
        try check(self.rate.map { $0 > 0 && $0.isFinite } ?? true, "--rate must be a positive number")
        if self.load {
            try check(self.rate == nil, "--load cannot be combined with --rate")
            try check(self.warmup == 0, "--load cannot be combined with --warmup")
            try check(
                self.requests == nil && self.duration == nil,
                "--load writes each key once: it cannot be combined with --requests or --duration"
            )
        }
        _ = try BenchmarkWorkload(configuration: self)
    }

    /// Parses `--ratio`, a colon-separated list of weights such as `1:10`.
    /// - Parameter text: The option's value.
    /// - Returns: The weights.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/invalidConfiguration`` if a part is not a
    ///   non-negative integer.
    public static func parseRatio(_ text: String) throws(BenchmarkError) -> [Int] {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        var weights: [Int] = []
        for part in parts {
            guard let weight = Int(part), weight >= 0 else {
                throw .invalidConfiguration("--ratio expects weights such as 1:10, got '\(text)'")
            }
            weights.append(weight)
        }
        return weights
    }

    /// Parses `--data-size-range`, two sizes separated by a dash such as `16-1024`.
    /// - Parameter text: The option's value.
    /// - Returns: The inclusive range of sizes.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/invalidConfiguration`` if it is malformed or
    ///   empty.
    public static func parseDataSizeRange(_ text: String) throws(BenchmarkError) -> ClosedRange<Int> {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low >= 0, low <= high else {
            throw .invalidConfiguration("--data-size-range expects MIN-MAX such as 16-1024, got '\(text)'")
        }
        return low...high
    }
}

/// The commands a run sends and their weights, resolved from a ``BenchmarkConfiguration``.
public struct BenchmarkWorkload: Sendable, Hashable {
    /// The parsed templates.
    public let templates: [CommandTemplate]
    /// One weight per template.
    public let weights: [Int]
    /// The sending order derived from ``weights``.
    public let mix: CommandMix

    /// Resolves the templates and weights.
    /// - Parameter configuration: The run's options.
    /// - Throws: ``BenchmarkError`` for an unparsable template or a ratio that does not fit the templates.
    public init(configuration: BenchmarkConfiguration) throws(BenchmarkError) {
        let sources = configuration.commands.isEmpty ? BenchmarkConfiguration.defaultCommands : configuration.commands
        var templates: [CommandTemplate] = []
        for source in sources {
            templates.append(try CommandTemplate(parsing: source))
        }
        var weights: [Int]
        if configuration.load {
            templates = [templates[0]]
            weights = [1]
            guard templates[0].usesKey else {
                throw .invalidConfiguration("--load needs a command that writes __key__, got '\(templates[0])'")
            }
        } else if let ratio = configuration.ratio {
            guard ratio.count == templates.count else {
                throw .invalidConfiguration(
                    "--ratio has \(ratio.count) weights but there are \(templates.count) commands"
                )
            }
            weights = ratio
        } else {
            weights = configuration.commands.isEmpty
                ? BenchmarkConfiguration.defaultRatio : [Int](repeating: 1, count: templates.count)
        }
        self.templates = templates
        self.weights = weights
        self.mix = try CommandMix(weights: weights)
    }
}
