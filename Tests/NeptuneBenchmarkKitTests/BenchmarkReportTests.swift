import Foundation
import NeptuneBenchmarkKit
import Testing

@Suite struct BenchmarkReportTests {
    static func makeResult() throws -> BenchmarkResult {
        var configuration = BenchmarkConfiguration()
        configuration.requests = 4
        configuration.seed = 99
        var set = LatencyStatistics()
        set.record(microseconds: 100, isError: false)
        var get = LatencyStatistics()
        get.record(microseconds: 200, isError: false)
        get.record(microseconds: 300, isError: true)
        get.record(microseconds: 1500, isError: true)
        return BenchmarkResult(
            configuration: configuration,
            workload: try BenchmarkWorkload(configuration: configuration),
            durationSeconds: 0.5,
            commands: [set, get],
            errorSamples: ["ERR a", "ERR a", "ERR b"]
        )
    }

    @Test func jsonHasTheDocumentedShape() throws {
        let report = BenchmarkReport(result: try Self.makeResult())
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any]
        )
        #expect(
            Set(object.keys) == [
                "tool", "configuration", "requests", "errors", "durationSeconds", "opsPerSecond", "latencyMs",
                "commands", "errorSamples", "percentiles", "histogramMicroseconds",
            ]
        )
        #expect(object["tool"] as? String == "neptune-benchmark")
        #expect(object["requests"] as? Int == 4)
        #expect(object["errors"] as? Int == 2)
        #expect(object["opsPerSecond"] as? Double == 8)
        #expect(object["errorSamples"] as? [String] == ["ERR a", "ERR b"])

        let configuration = try #require(object["configuration"] as? [String: Any])
        #expect(configuration["mode"] as? String == "closed-loop")
        #expect(configuration["requests"] as? Int == 4)
        #expect(configuration["durationSeconds"] is NSNull)
        #expect(configuration["rate"] is NSNull)
        #expect(configuration["keyPattern"] as? String == "uniform")
        #expect(configuration["seed"] as? Int == 99)
        #expect((configuration["dataSize"] as? [String: Int]) == ["min": 32, "max": 32])

        let latency = try #require(object["latencyMs"] as? [String: Double])
        #expect(Set(latency.keys) == ["min", "mean", "p50", "p90", "p99", "p99.9", "max"])
        #expect(latency["min"] == 0.1)
        #expect(latency["p50"] == 0.2)
        #expect(latency["max"] == 1.5)

        let commands = try #require(object["commands"] as? [[String: Any]])
        #expect(commands.map { $0["name"] as? String } == ["SET", "GET"])
        #expect(commands.map { $0["template"] as? String } == ["SET __key__ __data__", "GET __key__"])
        #expect(commands.map { $0["weight"] as? Int } == [1, 10])
        #expect(commands.map { $0["requests"] as? Int } == [1, 3])
        #expect(commands.map { $0["errors"] as? Int } == [0, 2])
        #expect(commands.map { $0["opsPerSecond"] as? Double } == [2, 6])
        #expect((commands[1]["latencyMs"] as? [String: Double])?["max"] == 1.5)

        let curve = try #require(object["percentiles"] as? [[String: Double]])
        #expect(curve.first?["percentile"] == 0)
        #expect(curve.last?["percentile"] == 100)
        #expect(curve.last?["latencyMs"] == 1.5)
        let percentiles = curve.compactMap { $0["percentile"] }
        #expect(percentiles == percentiles.sorted())

        // One bucket per recorded latency here (100, 200, 300 and 1500 us are each their own bucket's highest value
        // at three significant digits, 1500 within 0.1%), counts adding up to the requests.
        let buckets = try #require(object["histogramMicroseconds"] as? [[Int]])
        #expect(buckets.map { $0[1] }.reduce(0, +) == 4)
        #expect(buckets.map { $0[0] } == buckets.map { $0[0] }.sorted())
        #expect(buckets.count == 4)
        #expect(buckets.first == [100, 1])
        #expect(abs(Double(buckets.last?[0] ?? 0) - 1500) <= 1.5)
    }

    @Test func jsonRoundTrips() throws {
        let report = BenchmarkReport(result: try Self.makeResult())
        let decoded = try JSONDecoder().decode(BenchmarkReport.self, from: Data(report.json.utf8))
        #expect(decoded == report)
    }

    @Test func textListsEveryCommandAndTheTotal() throws {
        let text = BenchmarkReport(result: try Self.makeResult()).text
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("SET ") && $0.contains("2.0") })
        #expect(lines.contains { $0.hasPrefix("GET ") && $0.contains("6.0") })
        #expect(lines.contains { $0.hasPrefix("ALL ") && $0.contains("8.0") })
        #expect(text.contains("requests:    4 in 0.500 s, 2 errors"))
        #expect(text.contains("ERR b"))
    }

    @Test func emptyStatisticsReportZeros() throws {
        var configuration = BenchmarkConfiguration()
        configuration.duration = 1
        let result = BenchmarkResult(
            configuration: configuration,
            workload: try BenchmarkWorkload(configuration: configuration),
            durationSeconds: 0,
            commands: [LatencyStatistics(), LatencyStatistics()],
            errorSamples: []
        )
        let report = BenchmarkReport(result: result)
        #expect(report.opsPerSecond == 0)
        #expect(report.latencyMs.max == 0)
        #expect(report.percentiles.isEmpty)
        #expect(report.configuration.requests == nil)
        #expect(report.configuration.durationSeconds == 1)
    }
}
