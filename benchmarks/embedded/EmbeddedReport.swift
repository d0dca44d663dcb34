import Foundation

/// What a run measured, printable as a table or as JSON.
struct EmbeddedReport: Encodable {
    /// Repetition samples of one store and their median, in ns per operation.
    struct Samples: Encodable {
        var median: Double
        var samples: [Double]

        init(_ samples: [Double]) {
            self.samples = samples.map { ($0 * 10).rounded() / 10 }
            self.median = (middleValue(of: samples) * 10).rounded() / 10
        }
    }

    /// One workload at one thread count.
    struct Result: Encodable {
        var workload: Workload
        var threads: Int
        var neptune: Samples
        var dictionary: Samples

        /// neptune / dictionary, median over median: below 1 means Neptune is faster.
        var ratio: Double {
            self.dictionary.median > 0 ? self.neptune.median / self.dictionary.median : 0
        }

        enum CodingKeys: String, CodingKey {
            case workload, threads, neptune, dictionary, ratio
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.workload, forKey: .workload)
            try container.encode(self.threads, forKey: .threads)
            try container.encode(self.neptune, forKey: .neptune)
            try container.encode(self.dictionary, forKey: .dictionary)
            try container.encode((self.ratio * 1000).rounded() / 1000, forKey: .ratio)
        }
    }

    struct Configuration: Encodable {
        var keys: Int
        var operations: Int
        var repetitions: Int
        var threads: [Int]
        var seed: UInt64
        var valueBytes = 10
        var unit = "ns per operation: wall time divided by all threads' operations"
        var ratio = "neptune / dictionary (lower is better for neptune)"
    }

    var tool = "neptune-embedded-benchmark"
    var configuration: Configuration
    /// Mean ns per key while loading the keys, per store.
    var loadNsPerKey: [String: Double] = [:]
    var results: [Result] = []
    /// Workloads whose replies were wrong; empty on a good run.
    var failures: [String] = []

    init(options: BenchmarkOptions) {
        self.configuration = Configuration(
            keys: options.keys,
            operations: options.operations,
            repetitions: options.repetitions,
            threads: options.threads,
            seed: options.seed
        )
    }

    enum CodingKeys: String, CodingKey {
        case tool, configuration, loadNsPerKey, results, failures
    }

    func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var copy = self
        copy.loadNsPerKey = self.loadNsPerKey.mapValues { ($0 * 10).rounded() / 10 }
        guard let data = try? encoder.encode(copy) else {
            fatalError("the report cannot be encoded")
        }
        return String(decoding: data, as: UTF8.self)
    }

    func table() -> String {
        var lines = [
            "embedded API: \(self.configuration.keys) keys, \(self.configuration.operations) operations per thread, "
                + "median of \(self.configuration.repetitions) repetitions",
            "ns/op = wall time / all threads' operations; ratio = neptune / dictionary, lower is better for neptune",
            "",
            pad("workload", 15, left: false) + pad("threads", 8) + pad("neptune ns/op", 15)
                + pad("dictionary ns/op", 18) + pad("ratio", 8),
        ]
        for result in self.results {
            lines.append(
                pad(result.workload.rawValue, 15, left: false) + pad("\(result.threads)", 8)
                    + pad(fixed(result.neptune.median, 1), 15) + pad(fixed(result.dictionary.median, 1), 18)
                    + pad(fixed(result.ratio, 2), 8)
            )
        }
        let loads = self.loadNsPerKey.keys.sorted().map { "\($0) \(fixed(self.loadNsPerKey[$0] ?? 0, 1)) ns/key" }
        lines.append("")
        lines.append("load: " + loads.joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}

func middleValue(of values: [Double]) -> Double {
    guard !values.isEmpty else {
        return 0
    }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

func fixed(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

func pad(_ text: String, _ width: Int, left: Bool = true) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? fill + text : text + fill
}
