import Foundation
import NeptuneCache
import NeptuneSnapshot
import Synchronization

/// One measured operation mix. "hit" runs on keys that exist, "miss" on keys that do not.
enum Workload: String, CaseIterable, Codable {
    /// GET of a loaded key.
    case getHit = "get-hit"
    /// GET of an absent key.
    case getMiss = "get-miss"
    /// A read of a loaded key's value in place, without copying it out: `withValue(of:)` for Neptune, a lookup
    /// inside the lock for the dictionary (both return the value's length).
    case withValueHit = "with-value-hit"
    /// SET overwriting a loaded key.
    case setHit = "set-hit"
    /// SET inserting a new key (the new keys are deleted, untimed, after each repetition).
    case setMiss = "set-miss"
    /// INCR of an existing counter.
    case incrementHit = "incr-hit"
    /// INCR creating a counter (deleted, untimed, after each repetition).
    case incrementMiss = "incr-miss"

    /// Whether a repetition adds keys that must be removed before the next one.
    var insertsKeys: Bool {
        self == .setMiss || self == .incrementMiss
    }
}

/// The keys every thread touches, built once so the measured loops do nothing but call the store.
struct KeyPlan: Sendable {
    /// `key:%08d`, loaded with 10-byte values.
    let loadedKeys: [[UInt8]]
    /// `ctr:%08d`, loaded with an integer.
    let counterKeys: [[UInt8]]
    /// Per thread, `operations` random picks from ``loadedKeys``, each a copy with its own storage: a program
    /// looks keys up with arrays it just built, not with the instances the store holds (for which `Array.==`
    /// returns at once on storage identity, without reading the bytes).
    let loadedOrder: [[[UInt8]]]
    /// Per thread, `operations` random picks from ``counterKeys``, copies as in ``loadedOrder``.
    let counterOrder: [[[UInt8]]]
    /// Per thread, the same picks as ``loadedOrder`` but the very arrays of ``loadedKeys`` (the arrays a store was
    /// loaded with), for the ``ArrayUse/sameArrays`` baseline.
    let loadedOrderSameArrays: [[[UInt8]]]
    /// Per thread, the same picks as ``counterOrder`` but the very arrays of ``counterKeys``.
    let counterOrderSameArrays: [[[UInt8]]]
    /// Per thread, `operations` distinct keys never loaded (`new:%02d:%08d`).
    let absentKeys: [[[UInt8]]]
    /// Per thread, `operations` copies of ``value``: each SET is given a value array of its own, as a program
    /// building values would, so a dictionary never ends up holding one shared array for every key.
    let setValues: [[[UInt8]]]
    /// Per thread, ``value`` itself `operations` times (one shared array), for the ``ArrayUse/sameArrays`` baseline.
    let setValuesSameArrays: [[[UInt8]]]
    /// The 10-byte value written by the set workloads.
    let value: [UInt8] = Array("0123456789".utf8)
    /// The loaded counters' value.
    let counterValue: [UInt8] = Array("1000000000".utf8)

    init(keys: Int, operations: Int, threads: Int, seed: UInt64) {
        var random = SplitMix64(seed: seed)
        self.loadedKeys = (0..<keys).map { makeKey("key:", $0) }
        self.counterKeys = (0..<max(1, keys / 10)).map { makeKey("ctr:", $0) }
        let loaded = self.loadedKeys
        let counters = self.counterKeys
        // The picks are drawn once; both key orders follow them, so every store sees the same sequence of keys.
        let loadedPicks = (0..<threads).map { _ in
            (0..<operations).map { _ in Int(random.next() % UInt64(loaded.count)) }
        }
        let counterPicks = (0..<threads).map { _ in
            (0..<operations).map { _ in Int(random.next() % UInt64(counters.count)) }
        }
        self.loadedOrder = loadedPicks.map { picks in picks.map { copyOf(loaded[$0]) } }
        self.counterOrder = counterPicks.map { picks in picks.map { copyOf(counters[$0]) } }
        self.loadedOrderSameArrays = loadedPicks.map { picks in picks.map { loaded[$0] } }
        self.counterOrderSameArrays = counterPicks.map { picks in picks.map { counters[$0] } }
        self.absentKeys = (0..<threads).map { thread in
            (0..<operations).map { makeKey("new:\(thread < 10 ? "0" : "")\(thread):", $0) }
        }
        let value = self.value
        self.setValues = (0..<threads).map { _ in (0..<operations).map { _ in copyOf(value) } }
        self.setValuesSameArrays = (0..<threads).map { _ in Array(repeating: value, count: operations) }
    }

    /// The keys thread `thread` uses for `workload`, as arrays of their own or the stored arrays themselves.
    func keys(for workload: Workload, thread: Int, arrayUse: ArrayUse) -> [[UInt8]] {
        switch (workload, arrayUse) {
        case (.getHit, .ownArrays), (.withValueHit, .ownArrays), (.setHit, .ownArrays): self.loadedOrder[thread]
        case (.getHit, .sameArrays), (.withValueHit, .sameArrays), (.setHit, .sameArrays):
            self.loadedOrderSameArrays[thread]
        case (.incrementHit, .ownArrays): self.counterOrder[thread]
        case (.incrementHit, .sameArrays): self.counterOrderSameArrays[thread]
        case (.getMiss, _), (.setMiss, _), (.incrementMiss, _): self.absentKeys[thread]
        }
    }

    /// The values thread `thread` gives its SETs: copies of ``value``, or ``value`` itself every time.
    func values(thread: Int, arrayUse: ArrayUse) -> [[UInt8]] {
        switch arrayUse {
        case .ownArrays: self.setValues[thread]
        case .sameArrays: self.setValuesSameArrays[thread]
        }
    }
}

/// A copy of `bytes` in storage of its own.
func copyOf(_ bytes: [UInt8]) -> [UInt8] {
    bytes.withUnsafeBufferPointer { Array($0) }
}

/// `prefix` followed by `index` zero-padded to 8 digits.
func makeKey(_ prefix: String, _ index: Int) -> [UInt8] {
    var key = Array(prefix.utf8)
    var digits = [UInt8](repeating: UInt8(ascii: "0"), count: 8)
    var rest = index
    var position = 7
    while rest > 0 && position >= 0 {
        digits[position] = UInt8(ascii: "0") + UInt8(rest % 10)
        rest /= 10
        position -= 1
    }
    key += digits
    return key
}

/// A small, fast, seeded generator so key orders repeat from run to run.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) {
        self.state = seed
    }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs every workload against Neptune and both dictionary baselines and collects the samples.
struct EmbeddedBenchmark {
    let options: BenchmarkOptions

    func run(progress: (String) -> Void) -> EmbeddedReport {
        let maxThreads = self.options.threads.max() ?? 1
        progress("building keys: \(self.options.keys) loaded, \(self.options.operations) operations per thread")
        let plan = KeyPlan(
            keys: self.options.keys,
            operations: self.options.operations,
            threads: maxThreads,
            seed: self.options.seed
        )
        let neptune = self.options.durableDirectory.map { directory in
            NeptuneMeasuredStore(
                durableDirectory: directory,
                appendfsync: Journal.FsyncPolicy(rawValue: self.options.appendfsync) ?? .everysec
            )
        } ?? NeptuneMeasuredStore()
        defer { neptune.store.close() }
        let ownArrays = DictionaryMeasuredStore(name: EmbeddedReport.dictionaryOwnArrays, arrayUse: .ownArrays)
        let sameArrays = DictionaryMeasuredStore(name: EmbeddedReport.dictionarySameArrays, arrayUse: .sameArrays)
        var report = EmbeddedReport(options: self.options)
        let chosen = self.options.stores
        if chosen.contains(neptune.name) { report.loadNsPerKey[neptune.name] = load(neptune, plan) }
        if chosen.contains(ownArrays.name) { report.loadNsPerKey[ownArrays.name] = load(ownArrays, plan) }
        if chosen.contains(sameArrays.name) { report.loadNsPerKey[sameArrays.name] = load(sameArrays, plan) }
        progress(
            "loaded \(neptune.count) keys into neptune, \(ownArrays.count) and \(sameArrays.count) into the dictionaries"
        )

        var samples: [String: [String: [Double]]] = [:]
        for repetition in 0..<self.options.repetitions {
            for threads in self.options.threads {
                for workload in self.options.workloads {
                    let id = "\(workload.rawValue)/\(threads)"
                    // Rotate which store goes first, so drift (heat, frequency) does not favour one.
                    for turn in 0..<3 {
                        let name: String
                        let outcome: (nsPerOperation: Double, failure: String?)
                        let order = [neptune.name, ownArrays.name, sameArrays.name]
                        guard chosen.contains(order[(repetition + turn) % 3]) else { continue }
                        switch (repetition + turn) % 3 {
                        case 0:
                            name = neptune.name
                            outcome = measure(neptune, workload, threads: threads, plan: plan)
                        case 1:
                            name = ownArrays.name
                            outcome = measure(ownArrays, workload, threads: threads, plan: plan)
                        default:
                            name = sameArrays.name
                            outcome = measure(sameArrays, workload, threads: threads, plan: plan)
                        }
                        samples[id, default: [:]][name, default: []].append(outcome.nsPerOperation)
                        if let failure = outcome.failure {
                            report.failures.append("\(name) \(id): \(failure)")
                        }
                    }
                }
            }
            progress("repetition \(repetition + 1)/\(self.options.repetitions) done")
        }
        for threads in self.options.threads {
            for workload in self.options.workloads {
                let id = "\(workload.rawValue)/\(threads)"
                report.results.append(
                    EmbeddedReport.Result(
                        workload: workload,
                        threads: threads,
                        neptune: EmbeddedReport.Samples(samples[id]?[neptune.name] ?? []),
                        dictionary: EmbeddedReport.Samples(samples[id]?[ownArrays.name] ?? []),
                        dictionarySameArrays: EmbeddedReport.Samples(samples[id]?[sameArrays.name] ?? [])
                    )
                )
            }
        }
        return report
    }

    /// Loads the plan's keys and counters; returns the mean load time per key in ns.
    private func load<Store: MeasuredStore>(_ store: Store, _ plan: KeyPlan) -> Double {
        // With own arrays every key gets a value of its own, as in a real cache (a dictionary given one shared
        // array holds one value a million times, always in cache); the copies are made outside the timed part.
        let values =
            store.arrayUse == .ownArrays
            ? plan.loadedKeys.map { _ in copyOf(plan.value) }
            : Array(repeating: plan.value, count: plan.loadedKeys.count)
        let start = ContinuousClock.now
        for (key, value) in zip(plan.loadedKeys, values) {
            store.set(key, value)
        }
        let elapsed = ContinuousClock.now - start
        for key in plan.counterKeys {
            store.set(key, store.arrayUse == .ownArrays ? copyOf(plan.counterValue) : plan.counterValue)
        }
        return nanoseconds(elapsed) / Double(plan.loadedKeys.count)
    }

    /// One timed repetition of `workload` on `threads` threads.
    private func measure<Store: MeasuredStore>(
        _ store: Store,
        _ workload: Workload,
        threads: Int,
        plan: KeyPlan
    ) -> (nsPerOperation: Double, failure: String?) {
        let expectedCount = store.count
        let run = runThreads(threads) { thread in
            let keys = plan.keys(for: workload, thread: thread, arrayUse: store.arrayUse)
            let values = plan.values(thread: thread, arrayUse: store.arrayUse)
            var unexpected = 0
            switch workload {
            case .getHit:
                for key in keys where store.get(key)?.count != 10 {
                    unexpected += 1
                }
            case .getMiss:
                for key in keys where store.get(key) != nil {
                    unexpected += 1
                }
            case .withValueHit:
                for key in keys where store.valueLength(key) != 10 {
                    unexpected += 1
                }
            case .setHit, .setMiss:
                for (key, value) in zip(keys, values) {
                    store.set(key, value)
                }
            case .incrementHit:
                for key in keys where store.increment(key) <= 1_000_000_000 {
                    unexpected += 1
                }
            case .incrementMiss:
                for key in keys where store.increment(key) != 1 {
                    unexpected += 1
                }
            }
            return unexpected
        }
        var failure: String?
        if run.unexpected > 0 {
            failure = "\(run.unexpected) replies were not what the workload expects"
        }
        if workload.insertsKeys {
            let inserted = store.count - expectedCount
            if inserted != threads * self.options.operations && failure == nil {
                failure = "expected \(threads * self.options.operations) new keys, found \(inserted)"
            }
            for thread in 0..<threads {
                for key in plan.absentKeys[thread] {
                    store.delete(key)
                }
            }
        }
        if store.count != expectedCount && failure == nil {
            failure = "key count changed from \(expectedCount) to \(store.count)"
        }
        return (nanoseconds(run.elapsed) / Double(threads * self.options.operations), failure)
    }
}

/// Per-thread outcomes, filled in by the threads.
private final class ThreadResults: Sendable {
    let entries = Mutex<[(start: ContinuousClock.Instant, end: ContinuousClock.Instant, unexpected: Int)]>([])
}

/// Runs `body(thread)` on `count` new threads released together; returns the span from the first start to the
/// last end, and the sum of what the bodies returned.
func runThreads(
    _ count: Int,
    _ body: @escaping @Sendable (Int) -> Int
) -> (elapsed: Duration, unexpected: Int) {
    let start = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    let results = ThreadResults()
    for index in 0..<count {
        let thread = Thread {
            start.wait()
            let begin = ContinuousClock.now
            let unexpected = body(index)
            let end = ContinuousClock.now
            results.entries.withLock { $0.append((begin, end, unexpected)) }
            done.signal()
        }
        thread.start()
    }
    for _ in 0..<count {
        start.signal()
    }
    for _ in 0..<count {
        done.wait()
    }
    return results.entries.withLock { entries in
        let first = entries.map(\.start).min()!
        let last = entries.map(\.end).max()!
        return (last - first, entries.reduce(0) { $0 + $1.unexpected })
    }
}

func nanoseconds(_ duration: Duration) -> Double {
    let parts = duration.components
    return Double(parts.seconds) * 1e9 + Double(parts.attoseconds) / 1e9
}
