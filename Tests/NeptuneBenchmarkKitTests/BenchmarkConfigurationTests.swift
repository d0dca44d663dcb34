import NeptuneBenchmarkKit
import Testing

@Suite struct BenchmarkConfigurationTests {
    @Test func defaultsAreValidAndMixSetWithGet() throws {
        let configuration = BenchmarkConfiguration()
        try configuration.validate()
        #expect(configuration.mode == .closedLoop)
        let workload = try BenchmarkWorkload(configuration: configuration)
        #expect(workload.templates.map(\.name) == ["SET", "GET"])
        #expect(workload.weights == [1, 10])
    }

    @Test func customCommandsWeighEquallyUnlessARatioIsGiven() throws {
        var configuration = BenchmarkConfiguration()
        configuration.commands = ["INCR __key__", "GET __key__", "PING"]
        #expect(try BenchmarkWorkload(configuration: configuration).weights == [1, 1, 1])
        configuration.ratio = try BenchmarkConfiguration.parseRatio("2:0:5")
        #expect(try BenchmarkWorkload(configuration: configuration).weights == [2, 0, 5])
        configuration.ratio = [1, 2]
        #expect(throws: BenchmarkError(.invalidConfiguration, "")) {
            try configuration.validate()
        }
    }

    @Test func loadUsesTheFirstCommandOnly() throws {
        var configuration = BenchmarkConfiguration()
        configuration.load = true
        configuration.commands = ["HSET __key__ f __data__", "GET __key__"]
        let workload = try BenchmarkWorkload(configuration: configuration)
        #expect(workload.templates.map(\.name) == ["HSET"])
        #expect(configuration.mode == .load)
        configuration.commands = ["PING"]
        #expect(throws: BenchmarkError(.invalidConfiguration, "")) {
            try configuration.validate()
        }
    }

    @Test func parsesRatiosAndSizeRanges() throws {
        #expect(try BenchmarkConfiguration.parseRatio("1:10") == [1, 10])
        #expect(try BenchmarkConfiguration.parseDataSizeRange("16-1024") == 16...1024)
        #expect(try BenchmarkConfiguration.parseDataSizeRange("0-0") == 0...0)
        for bad in ["1:", "a:b", "-1:2", ""] {
            #expect(throws: BenchmarkError(.invalidConfiguration, ""), "\(bad)") {
                try BenchmarkConfiguration.parseRatio(bad)
            }
        }
        for bad in ["10-1", "5", "1-2-3", "-1-4", "a-b"] {
            #expect(throws: BenchmarkError(.invalidConfiguration, ""), "\(bad)") {
                try BenchmarkConfiguration.parseDataSizeRange(bad)
            }
        }
    }

    @Test(arguments: [
        { (c: inout BenchmarkConfiguration) in c.requests = 10; c.duration = 1 },
        { (c: inout BenchmarkConfiguration) in c.connections = 0 },
        { (c: inout BenchmarkConfiguration) in c.pipeline = 0 },
        { (c: inout BenchmarkConfiguration) in c.port = 70_000 },
        { (c: inout BenchmarkConfiguration) in c.keyspace = 0 },
        { (c: inout BenchmarkConfiguration) in c.zipfSkew = 0 },
        { (c: inout BenchmarkConfiguration) in c.rate = -5 },
        { (c: inout BenchmarkConfiguration) in c.warmup = -1 },
        { (c: inout BenchmarkConfiguration) in c.load = true; c.rate = 100 },
        { (c: inout BenchmarkConfiguration) in c.load = true; c.requests = 100 },
        { (c: inout BenchmarkConfiguration) in c.load = true; c.warmup = 1 },
        { (c: inout BenchmarkConfiguration) in c.commands = ["SET 'x"] },
    ] as [@Sendable (inout BenchmarkConfiguration) -> Void])
    func rejectsContradictoryOptions(change: @Sendable (inout BenchmarkConfiguration) -> Void) {
        var configuration = BenchmarkConfiguration()
        change(&configuration)
        #expect(throws: BenchmarkError.self) {
            try configuration.validate()
        }
    }

    @Test func threadsNeverExceedConnections() {
        var configuration = BenchmarkConfiguration()
        configuration.connections = 2
        configuration.threads = 8
        #expect(configuration.effectiveThreads == 2)
    }
}
