import ArgumentParser
import NeptuneBenchmarkKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `neptune-benchmark`: a load generator for any RESP server (Neptune, Redis, Valkey...).
@main
struct NeptuneBenchmarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neptune-benchmark",
        abstract: "Load generator for RESP servers: throughput and latency percentiles.",
        discussion: """
            Closed loop by default: every connection keeps --pipeline requests in flight. With --rate, requests \
            are sent on a fixed schedule and latency is measured from each request's scheduled time. In a \
            --command template, __key__ is the key prefix plus a zero-padded key index and __data__ a value of \
            --data-size bytes. Default commands: 'SET __key__ __data__' and 'GET __key__' with --ratio 1:10.
            """
    )

    @Option(help: "Server host name or address.")
    var host = "127.0.0.1"

    @Option(name: [.customShort("p"), .long], help: "Server port.")
    var port = 6379

    @Option(name: [.customShort("c"), .long], help: "Number of connections.")
    var connections = 50

    @Option(help: "Number of event-loop threads.")
    var threads = 1

    @Option(name: [.customShort("P"), .long], help: "Requests in flight per connection (closed loop and --load).")
    var pipeline = 1

    @Option(name: [.customShort("n"), .long], help: "Total measured requests (default 100000).")
    var requests: Int?

    @Option(help: "Measured run time in seconds, instead of a request count.")
    var duration: Double?

    @Option(help: "Seconds of unmeasured load before measuring.")
    var warmup: Double = 0

    @Option(help: "Command weights, one per command, such as 1:10 for SET:GET.")
    var ratio: String?

    @Option(name: .customLong("command"), help: "A command template; repeat for a mix.")
    var commands: [String] = []

    @Option(help: "Number of distinct keys.")
    var keyspace = 1_000_000

    @Option(help: "Key distribution: uniform, sequential or zipf.")
    var keyPattern = "uniform"

    @Option(help: "Zipf skew for --key-pattern zipf.")
    var zipfSkew = 0.99

    @Option(help: "Text before each key's zero-padded index.")
    var keyPrefix = "key:"

    @Option(name: [.customShort("d"), .long], help: "Value size in bytes (default 32).")
    var dataSize: Int?

    @Option(help: "Value sizes drawn uniformly from MIN-MAX bytes.")
    var dataSizeRange: String?

    @Option(help: "Open loop: total requests per second over all connections.")
    var rate: Double?

    @Option(help: "Seed for keys, command order and values (default: random).")
    var seed: UInt64?

    @Flag(help: "Print one JSON object to stdout instead of text.")
    var json = false

    @Flag(help: "Print nothing but errors.")
    var quiet = false

    @Flag(help: "Write every key of the keyspace once, sequentially, then exit.")
    var load = false

    func run() async throws {
        let configuration: BenchmarkConfiguration
        do {
            configuration = try self.makeConfiguration()
            try configuration.validate()
        } catch {
            throw ValidationError(error.message)
        }
        let showProgress = !self.json && !self.quiet && isatty(STDOUT_FILENO) == 1
        var progress: (@Sendable (BenchmarkProgress) -> Void)?
        if showProgress {
            progress = { update in writeStandardOutput("\r\u{1B}[K" + update.line) }
        }
        let result: BenchmarkResult
        do {
            result = try await BenchmarkRunner(configuration: configuration).run(progress: progress)
        } catch {
            if showProgress {
                writeStandardOutput("\r\u{1B}[K")
            }
            writeStandardError("neptune-benchmark: error: \(error)\n")
            throw ExitCode.failure
        }
        if showProgress {
            writeStandardOutput("\r\u{1B}[K")
        }
        let report = BenchmarkReport(result: result)
        if self.json {
            writeStandardOutput(report.json + "\n")
        } else if !self.quiet {
            writeStandardOutput(report.text + "\n")
        }
    }

    private func makeConfiguration() throws(BenchmarkError) -> BenchmarkConfiguration {
        var configuration = BenchmarkConfiguration()
        configuration.host = self.host
        configuration.port = self.port
        configuration.connections = self.connections
        configuration.threads = self.threads
        configuration.pipeline = self.pipeline
        configuration.requests = self.requests
        configuration.duration = self.duration
        configuration.warmup = self.warmup
        configuration.commands = self.commands
        configuration.keyspace = self.keyspace
        guard let pattern = KeyPattern(rawValue: self.keyPattern) else {
            throw BenchmarkError(.invalidConfiguration, "--key-pattern must be uniform, sequential or zipf")
        }
        configuration.keyPattern = pattern
        configuration.zipfSkew = self.zipfSkew
        configuration.keyPrefix = self.keyPrefix
        if let ratio = self.ratio {
            configuration.ratio = try BenchmarkConfiguration.parseRatio(ratio)
        }
        switch (self.dataSize, self.dataSizeRange) {
        case (.some, .some):
            throw BenchmarkError(.invalidConfiguration, "--data-size and --data-size-range cannot be combined")
        case (.some(let size), nil):
            configuration.dataSize = size...size
        case (nil, .some(let range)):
            configuration.dataSize = try BenchmarkConfiguration.parseDataSizeRange(range)
        case (nil, nil):
            break
        }
        configuration.rate = self.rate
        configuration.seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
        configuration.load = self.load
        return configuration
    }
}

private func writeStandardOutput(_ text: String) {
    writeAll(STDOUT_FILENO, text)
}

private func writeStandardError(_ text: String) {
    writeAll(STDERR_FILENO, text)
}

/// Writes unbuffered, so the progress line and the report never interleave out of order.
private func writeAll(_ descriptor: Int32, _ text: String) {
    var text = text
    text.withUTF8 { bytes in
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 {
                if written < 0 && errno == EINTR {
                    continue
                }
                return
            }
            offset += written
        }
    }
}
