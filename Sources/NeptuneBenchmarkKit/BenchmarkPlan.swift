import NIOCore

/// The resolved, immutable description of a run that every connection reads: encoders, value bytes and each
/// connection's share of the work.
struct BenchmarkPlan: Sendable {
    let configuration: BenchmarkConfiguration
    let workload: BenchmarkWorkload
    let keyFormat: KeyFormat
    let encoders: [RequestEncoder]
    let data: [UInt8]
    /// Measured requests over all connections; `nil` when the run lasts a fixed time.
    let totalRequests: Int?

    init(configuration: BenchmarkConfiguration) throws(BenchmarkError) {
        try configuration.validate()
        let workload = try BenchmarkWorkload(configuration: configuration)
        let keyFormat = KeyFormat(prefix: configuration.keyPrefix, keyspace: configuration.keyspace)
        let fixedSize = configuration.dataSize.count == 1 ? configuration.dataSize.lowerBound : nil
        self.configuration = configuration
        self.workload = workload
        self.keyFormat = keyFormat
        self.encoders = workload.templates.map {
            RequestEncoder(template: $0, keyFormat: keyFormat, fixedDataSize: fixedSize)
        }
        self.data = Self.makeData(count: configuration.dataSize.upperBound, seed: configuration.seed)
        if configuration.load {
            self.totalRequests = configuration.keyspace
        } else if configuration.duration != nil {
            self.totalRequests = nil
        } else {
            self.totalRequests = configuration.requests ?? BenchmarkConfiguration.defaultRequests
        }
    }

    /// Value bytes: seeded random letters and digits, so they neither compress to nothing nor vary between runs.
    static func makeData(count: Int, seed: UInt64) -> [UInt8] {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
        var random = BenchmarkRandom(seed: seed ^ 0x5DA7_A5EE_D000_0001)
        return (0..<count).map { _ in alphabet[random.nextIndex(below: alphabet.count)] }
    }

    /// The first key and the number of keys a connection writes in a load run: contiguous, disjoint ranges that
    /// cover the keyspace.
    func loadRange(connection: Int) -> (start: Int, count: Int) {
        let keyspace = self.configuration.keyspace
        let connections = self.configuration.connections
        let start = keyspace * connection / connections
        let end = keyspace * (connection + 1) / connections
        return (start, end - start)
    }

    /// How many measured requests a connection sends; `Int.max` for a timed run.
    func quota(connection: Int) -> Int {
        guard let total = self.totalRequests else {
            return Int.max
        }
        if self.configuration.load {
            return self.loadRange(connection: connection).count
        }
        let connections = self.configuration.connections
        return total / connections + (connection < total % connections ? 1 : 0)
    }

    /// Nanoseconds between two requests of one connection in an open-loop run, 0 for a closed loop.
    var interval: UInt64 {
        guard let rate = self.configuration.rate else {
            return 0
        }
        return max(1, UInt64((Double(self.configuration.connections) / rate * 1e9).rounded()))
    }

    /// Spreads the connections' send times evenly over one interval.
    func phase(connection: Int) -> UInt64 {
        self.interval / UInt64(self.configuration.connections) * UInt64(connection)
    }

    func makeGenerator(connection: Int) -> RequestGenerator {
        let configuration = self.configuration
        let sequentialStart: Int
        let pattern: KeyPattern
        if configuration.load {
            pattern = .sequential
            sequentialStart = self.loadRange(connection: connection).start
        } else {
            pattern = configuration.keyPattern
            sequentialStart = configuration.keyspace * connection / configuration.connections
        }
        let cycle = self.workload.mix.cycle
        return RequestGenerator(
            random: BenchmarkRandom(seed: configuration.seed &+ UInt64(connection) &* 0xD1B5_4A32_D192_ED03),
            keys: KeyGenerator(
                pattern: pattern,
                keyspace: configuration.keyspace,
                zipfExponent: configuration.zipfSkew,
                sequentialStart: sequentialStart
            ),
            cycle: cycle,
            cursor: connection % cycle.count,
            encoders: self.encoders,
            usesKey: self.workload.templates.map(\.usesKey),
            data: self.data,
            dataMinimum: configuration.dataSize.lowerBound,
            dataSpan: configuration.dataSize.count
        )
    }
}

/// One connection's request stream: which command, which key, which value size.
struct RequestGenerator {
    var random: BenchmarkRandom
    var keys: KeyGenerator
    let cycle: [Int]
    var cursor: Int
    let encoders: [RequestEncoder]
    let usesKey: [Bool]
    let data: [UInt8]
    let dataMinimum: Int
    let dataSpan: Int

    /// Appends the next request and returns its command index.
    @inline(__always)
    mutating func writeNext(into buffer: inout ByteBuffer) -> Int {
        let command = self.cycle[self.cursor]
        self.cursor += 1
        if self.cursor == self.cycle.count {
            self.cursor = 0
        }
        let key = self.usesKey[command] ? self.keys.next(using: &self.random) : 0
        var size = self.dataMinimum
        if self.dataSpan > 1 {
            size += self.random.nextIndex(below: self.dataSpan)
        }
        self.encoders[command].write(keyIndex: key, dataSize: size, data: self.data, into: &buffer)
        return command
    }
}
