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
        /// The dictionary driven with arrays of its own (``ArrayUse/ownArrays``).
        var dictionary: Samples
        /// The dictionary driven with the arrays it stores (``ArrayUse/sameArrays``, the first pass's baseline).
        var dictionarySameArrays: Samples

        /// neptune / dictionary (own arrays), median over median: below 1 means Neptune is faster.
        var ratio: Double {
            Self.ratio(self.neptune, self.dictionary)
        }

        /// neptune / dictionary (same arrays), median over median.
        var ratioSameArrays: Double {
            Self.ratio(self.neptune, self.dictionarySameArrays)
        }

        static func ratio(_ neptune: Samples, _ baseline: Samples) -> Double {
            baseline.median > 0 ? neptune.median / baseline.median : 0
        }

        enum CodingKeys: String, CodingKey {
            case workload, threads, neptune, dictionary, ratio, dictionarySameArrays, ratioSameArrays
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.workload, forKey: .workload)
            try container.encode(self.threads, forKey: .threads)
            try container.encode(self.neptune, forKey: .neptune)
            try container.encode(self.dictionary, forKey: .dictionary)
            try container.encode((self.ratio * 1000).rounded() / 1000, forKey: .ratio)
            try container.encode(self.dictionarySameArrays, forKey: .dictionarySameArrays)
            try container.encode((self.ratioSameArrays * 1000).rounded() / 1000, forKey: .ratioSameArrays)
        }
    }

    /// Report name of the dictionary driven with arrays of its own.
    static let dictionaryOwnArrays = "dictionary"
    /// Report name of the dictionary driven with the arrays it stores.
    static let dictionarySameArrays = "dictionary-same-arrays"

    struct Configuration: Encodable {
        var keys: Int
        var operations: Int
        var repetitions: Int
        var threads: [Int]
        var seed: UInt64
        var valueBytes = 10
        var unit = "ns per operation: wall time divided by all threads' operations"
        var ratio = "neptune / dictionary (lower is better for neptune)"
        var baselines = [
            "dictionary: own keys; lookups use copies of the keys, every key and every SET has a value array of its own",
            "dictionary-same-arrays: same key arrays; lookups use the very key arrays the dictionary stores "
                + "(Array.== returns on storage identity) and all keys share one value array (the first pass's baseline)",
        ]
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
            "ns/op = wall time / all threads' operations; ratio = neptune / baseline, lower is better for neptune",
            "own keys: the dictionary is looked up with copies of the keys, every value is an array of its own",
            "same key arrays: looked up with the very key arrays it stores, all keys share one value array",
            "",
            pad("", 23, left: false) + pad("neptune", 8) + pad("dictionary, own keys", 23)
                + pad("dictionary, same key arrays", 30),
            pad("workload", 15, left: false) + pad("threads", 8) + pad("ns/op", 8) + pad("ns/op", 15)
                + pad("ratio", 8) + pad("ns/op", 22) + pad("ratio", 8),
        ]
        for result in self.results {
            lines.append(
                pad(result.workload.rawValue, 15, left: false) + pad("\(result.threads)", 8)
                    + pad(fixed(result.neptune.median, 1), 8) + pad(fixed(result.dictionary.median, 1), 15)
                    + pad(fixed(result.ratio, 2), 8) + pad(fixed(result.dictionarySameArrays.median, 1), 22)
                    + pad(fixed(result.ratioSameArrays, 2), 8)
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

/// `value` with `decimals` decimals; "-" for 0 (a store or ratio that was not measured).
func fixed(_ value: Double, _ decimals: Int) -> String {
    value == 0 ? "-" : String(format: "%.\(decimals)f", value)
}

func pad(_ text: String, _ width: Int, left: Bool = true) -> String {
    let fill = String(repeating: " ", count: max(0, width - text.count))
    return left ? fill + text : text + fill
}
