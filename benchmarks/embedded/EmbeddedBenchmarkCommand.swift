import Foundation
import Synchronization

/// `neptune-embedded-benchmark`: Neptune's embedded API (`NeptuneStore`) against a `Dictionary` behind a `Mutex`,
/// in the same process and run, reporting median nanoseconds per operation and their ratio.
///
/// The dictionary runs twice, as two baselines: "own keys" (looked up with copies of the keys, a value array per
/// key, as a program building its keys has) and "same key arrays" (looked up with the very arrays it stores, one
/// shared value array: the first performance pass's baseline, which `Array.==`'s identity shortcut flatters).
///
/// Each workload runs on 1 and 2 threads; with several threads, ns/op is the wall time over all threads' operations
/// (perfect scaling halves it). Ratios are neptune / dictionary: below 1 means Neptune is faster.
@main
struct EmbeddedBenchmarkCommand {
    static let usage = """
        usage: neptune-embedded-benchmark [--keys N] [--operations N] [--repetitions N] [--threads 1,2]
                                          [--workloads LIST] [--stores LIST] [--quick] [--json]
                                          [--durable DIR --appendfsync always|everysec|no]

          --keys N          keys loaded into each store before measuring (default 1000000)
          --operations N    operations per thread per repetition (default 1000000)
          --repetitions N   measured repetitions; medians are reported (default 5)
          --threads LIST    thread counts, comma-separated (default 1,2)
          --workloads LIST  workloads, comma-separated (default all: get-hit, get-miss, with-value-hit,
                            set-hit, set-miss, incr-hit, incr-miss)
          --stores LIST     stores, comma-separated (default all: neptune, dictionary,
                            dictionary-same-arrays); for profiling one store alone
          --seed N          seed of the key order (default 1)
          --quick           a smoke run: 100000 keys, 200000 operations, 3 repetitions (other options
                            given override these)
          --json            print one JSON object instead of the table
          --durable DIR     open Neptune durably on DIR (a fresh directory: NeptuneStore.open, journal
                            on, no save rules), so writes pay the journal: with --appendfsync always an
                            fsync each (shared by threads), with everysec or no a write(2) each
          --appendfsync P   the journal's fsync policy with --durable (default everysec)
        """

    static func main() {
        var options: BenchmarkOptions
        do {
            options = try BenchmarkOptions.parse(Array(CommandLine.arguments.dropFirst()))
        } catch {
            if error.message.isEmpty {
                print(Self.usage)
                exit(0)
            }
            FileHandle.standardError.write(Data("neptune-embedded-benchmark: \(error.message)\n\(Self.usage)\n".utf8))
            exit(2)
        }
        let progress: (String) -> Void = { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        let report = EmbeddedBenchmark(options: options).run(progress: options.json ? { _ in } : progress)
        print(options.json ? report.json() : report.table())
        if !report.failures.isEmpty {
            FileHandle.standardError.write(Data(report.failures.joined(separator: "\n").utf8 + Data("\n".utf8)))
            exit(1)
        }
    }
}

/// A command-line mistake; an empty message asks for the usage text.
struct UsageError: Error {
    var message: String
}

/// The run's settings.
struct BenchmarkOptions {
    var keys = 1_000_000
    var operations = 1_000_000
    var repetitions = 5
    var threads = [1, 2]
    var workloads = Workload.allCases
    /// The stores measured, by report name.
    var stores = BenchmarkOptions.allStores
    var seed: UInt64 = 1
    var json = false
    /// Open Neptune durably on this directory (`--durable`), with this `appendfsync` policy.
    var durableDirectory: String?
    var appendfsync = "everysec"

    static let allStores = ["neptune", EmbeddedReport.dictionaryOwnArrays, EmbeddedReport.dictionarySameArrays]

    static func parse(_ arguments: [String]) throws(UsageError) -> BenchmarkOptions {
        var options = BenchmarkOptions()
        if arguments.contains("--quick") {
            options.keys = 100_000
            options.operations = 200_000
            options.repetitions = 3
        }
        var index = 0
        func value(_ name: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else {
                throw UsageError(message: "\(name) needs a value")
            }
            return arguments[index]
        }
        func positive(_ name: String) throws(UsageError) -> Int {
            let text = try value(name)
            guard let number = Int(text.replacingOccurrences(of: "_", with: "")), number > 0 else {
                throw UsageError(message: "\(name) must be a positive integer, not '\(text)'")
            }
            return number
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--keys": options.keys = try positive(argument)
            case "--operations": options.operations = try positive(argument)
            case "--repetitions": options.repetitions = try positive(argument)
            case "--seed": options.seed = UInt64(try positive(argument))
            case "--threads":
                let text = try value(argument)
                let counts = text.split(separator: ",").compactMap { Int($0) }
                guard !counts.isEmpty, counts.allSatisfy({ $0 > 0 && $0 <= 64 }) else {
                    throw UsageError(message: "--threads takes thread counts such as 1,2, not '\(text)'")
                }
                options.threads = counts
            case "--workloads":
                let text = try value(argument)
                let names = text.split(separator: ",").map(String.init)
                let chosen = names.compactMap(Workload.init(rawValue:))
                guard !chosen.isEmpty, chosen.count == names.count else {
                    let known = Workload.allCases.map(\.rawValue).joined(separator: ", ")
                    throw UsageError(message: "--workloads takes names among \(known), not '\(text)'")
                }
                options.workloads = chosen
            case "--stores":
                let text = try value(argument)
                let names = text.split(separator: ",").map(String.init)
                guard !names.isEmpty, names.allSatisfy(Self.allStores.contains) else {
                    throw UsageError(
                        message: "--stores takes names among \(Self.allStores.joined(separator: ", ")), not '\(text)'"
                    )
                }
                options.stores = names
            case "--durable": options.durableDirectory = try value(argument)
            case "--appendfsync":
                let text = try value(argument)
                guard ["always", "everysec", "no"].contains(text) else {
                    throw UsageError(message: "--appendfsync takes always, everysec or no, not '\(text)'")
                }
                options.appendfsync = text
            case "--quick": break
            case "--json": options.json = true
            case "--help", "-h": throw UsageError(message: "")
            default: throw UsageError(message: "unknown option '\(argument)'")
            }
            index += 1
        }
        return options
    }
}
