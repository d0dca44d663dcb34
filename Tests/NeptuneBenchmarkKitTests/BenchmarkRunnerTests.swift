import NeptuneBenchmarkKit
import Testing

/// End-to-end runs against a real `redis-server` (skipped when it is not installed).
@Suite(.serialized, .enabled(if: RedisServerProcess.isAvailable, "needs redis-server on PATH"))
struct BenchmarkRunnerTests {
    static func configuration(port: Int) -> BenchmarkConfiguration {
        var configuration = BenchmarkConfiguration()
        configuration.port = port
        configuration.connections = 4
        configuration.keyspace = 100
        configuration.seed = 1
        return configuration
    }

    @Test func completesExactlyTheRequestedCount() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.requests = 1000
        configuration.pipeline = 8
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.total.requests == 1000)
        #expect(result.total.errors == 0)
        // One SET per ten GETs: each of the 4 connections sends 250 requests through the 11-step cycle.
        #expect((80...100).contains(result.commands[0].requests))
        #expect(result.durationSeconds > 0)
        #expect(result.opsPerSecond() > 0)
    }

    @Test func loadWritesEveryKeyOnce() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.load = true
        configuration.keyspace = 1000
        configuration.connections = 3
        configuration.pipeline = 16
        configuration.dataSize = 10...10
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.total.requests == 1000)
        #expect(try server.cli("DBSIZE") == "1000")
        #expect(try server.cli("STRLEN", "key:00000000") == "10")
        #expect(try server.cli("STRLEN", "key:00000999") == "10")
    }

    @Test func countsErrorRepliesAndKeepsTheirText() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.commands = ["NOSUCHCMD __key__", "PING"]
        configuration.requests = 100
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.total.requests == 100)
        #expect(result.commands[0].errors == 50)
        #expect(result.commands[1].errors == 0)
        // The texts name each request's key, so they differ; a few distinct ones are kept.
        #expect(result.errorSamples.count == BenchmarkResult.maximumErrorSamples)
        #expect(result.errorSamples.allSatisfy { $0.hasPrefix("ERR unknown command 'NOSUCHCMD'") })
    }

    @Test func variableSizesZipfKeysAndTwoThreads() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.threads = 2
        configuration.keyPattern = .zipf
        configuration.dataSize = 0...300
        configuration.commands = ["SET __key__ __data__", "HSET h:__key__ f __data__", "GET __key__"]
        configuration.requests = 600
        configuration.pipeline = 4
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.total.requests == 600)
        #expect(result.total.errors == 0)
        #expect(result.commands.map(\.requests) == [200, 200, 200])
    }

    @Test func openLoopSendsTheRequestedCount() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.rate = 5000
        configuration.requests = 300
        configuration.connections = 3
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.configuration.mode == .openLoop)
        #expect(result.total.requests == 300)
        #expect(result.total.errors == 0)
    }

    @Test func warmupRequestsAreNotCounted() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.warmup = 0.2
        configuration.requests = 400
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.total.requests == 400)
        let processed = try server.cli("INFO", "stats")
            .split(whereSeparator: \.isNewline)
            .first { $0.hasPrefix("total_commands_processed:") }
            .flatMap { Int($0.split(separator: ":")[1].trimmingPrefix(" ").prefix { $0.isNumber }) }
        #expect((processed ?? 0) > 400)
    }

    @Test func timedRunStopsAndReportsWhatCompleted() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.duration = 0.3
        let result = try await BenchmarkRunner(configuration: configuration).run()
        #expect(result.total.requests > 0)
        #expect(result.durationSeconds > 0)
    }

    @Test func serverClosingTheConnectionFailsTheRun() async throws {
        let server = try RedisServerProcess()
        var configuration = Self.configuration(port: server.port)
        configuration.commands = ["QUIT"]
        await #expect(throws: BenchmarkError(.connectionClosed, "")) {
            _ = try await BenchmarkRunner(configuration: configuration).run()
        }
    }
}

@Suite struct BenchmarkRunnerFailureTests {
    @Test func refusedConnectionFailsWithAClearMessage() async throws {
        var configuration = BenchmarkConfiguration()
        configuration.port = 1
        configuration.connections = 2
        let error = await #expect(throws: BenchmarkError.self) {
            _ = try await BenchmarkRunner(configuration: configuration).run()
        }
        #expect(error?.code == .connectionFailed)
        #expect(error?.message.contains("127.0.0.1:1") == true)
    }

    @Test func invalidConfigurationFailsBeforeConnecting() async throws {
        var configuration = BenchmarkConfiguration()
        configuration.pipeline = 0
        await #expect(throws: BenchmarkError(.invalidConfiguration, "")) {
            _ = try await BenchmarkRunner(configuration: configuration).run()
        }
    }
}
