import NeptuneCache
import NeptuneSnapshot
import Synchronization

/// The operations every measured store offers, so one generic loop drives both (and is specialized for each).
protocol MeasuredStore: Sendable {
    /// The name used in reports and JSON.
    var name: String { get }
    /// Whether the store is driven with the very arrays it holds (see ``ArrayUse``).
    var arrayUse: ArrayUse { get }
    func get(_ key: [UInt8]) -> [UInt8]?
    /// The length of the value of `key`, read in place (no copy).
    func valueLength(_ key: [UInt8]) -> Int?
    func set(_ key: [UInt8], _ value: [UInt8])
    func increment(_ key: [UInt8]) -> Int64
    func delete(_ key: [UInt8])
    var count: Int { get }
}

/// Neptune's embedded face, as a Swift program would call it.
final class NeptuneMeasuredStore: MeasuredStore {
    let name = "neptune"
    /// Neptune copies keys and values into its own cells, so which arrays it is given makes no difference.
    let arrayUse = ArrayUse.ownArrays
    let store: NeptuneStore

    /// An in-memory store.
    init() {
        self.store = NeptuneStore()
    }

    /// A durable store on `directory` (journal on, no save rules), acknowledging writes as `appendfsync` says.
    init(durableDirectory directory: String, appendfsync: Journal.FsyncPolicy) {
        do {
            self.store = try NeptuneStore.open(
                directory: directory,
                options: .init(appendfsync: appendfsync, save: [], saveOnClose: false)
            )
        } catch {
            fatalError("cannot open a durable store on \(directory): \(error)")
        }
    }

    func get(_ key: [UInt8]) -> [UInt8]? {
        do {
            return try self.store.get(key)
        } catch {
            fatalError("GET failed: \(error)")
        }
    }

    func valueLength(_ key: [UInt8]) -> Int? {
        do {
            return try self.store.withValue(of: key) { $0.count }
        } catch {
            fatalError("withValue failed: \(error)")
        }
    }

    func set(_ key: [UInt8], _ value: [UInt8]) {
        do {
            try self.store.set(key, value)
        } catch {
            fatalError("SET failed: \(error)")
        }
    }

    func increment(_ key: [UInt8]) -> Int64 {
        do {
            return try self.store.increment(key, by: 1)
        } catch {
            fatalError("INCR failed: \(error)")
        }
    }

    func delete(_ key: [UInt8]) {
        do {
            try self.store.delete(key)
        } catch {
            fatalError("DEL failed: \(error)")
        }
    }

    var count: Int {
        self.store.engine.keyCount(db: 0)
    }
}

/// How a baseline dictionary is driven: the dictionary code is the same, the arrays it is given differ.
enum ArrayUse: Sendable {
    /// Lookups use copies of the keys (arrays of their own, as a program that builds a key per request has),
    /// every loaded key has a value array of its own, and every SET is given a value array of its own.
    case ownArrays
    /// The first performance pass's baseline: lookups use the very key arrays the dictionary stores (`Array.==`
    /// then returns on storage identity without reading the bytes) and every key holds one shared value array
    /// (always in cache).
    case sameArrays
}

/// The baseline: the simplest thread-safe map a Swift program could use instead, one lock around a `Dictionary`.
final class DictionaryMeasuredStore: MeasuredStore {
    let name: String
    let arrayUse: ArrayUse
    let storage = Mutex<[[UInt8]: [UInt8]]>([:])

    init(name: String, arrayUse: ArrayUse) {
        self.name = name
        self.arrayUse = arrayUse
    }

    func get(_ key: [UInt8]) -> [UInt8]? {
        self.storage.withLock { $0[key] }
    }

    func valueLength(_ key: [UInt8]) -> Int? {
        self.storage.withLock { $0[key]?.count }
    }

    func set(_ key: [UInt8], _ value: [UInt8]) {
        self.storage.withLock { $0[key] = value }
    }

    /// Keeps the value as decimal text, as INCR does, so the baseline pays for parsing and formatting too.
    func increment(_ key: [UInt8]) -> Int64 {
        self.storage.withLock { dictionary in
            var result: Int64 = 1
            if let old = dictionary[key] {
                guard let value = parseDecimal(old) else {
                    fatalError("increment of a non-integer value")
                }
                result = value &+ 1
            }
            dictionary[key] = formatDecimal(result)
            return result
        }
    }

    func delete(_ key: [UInt8]) {
        _ = self.storage.withLock { $0.removeValue(forKey: key) }
    }

    var count: Int {
        self.storage.withLock { $0.count }
    }
}

/// Parses a decimal integer without leading zeros or a plus sign, as Redis does; nil if it is not one.
func parseDecimal(_ bytes: [UInt8]) -> Int64? {
    guard !bytes.isEmpty, bytes.count <= 20 else {
        return nil
    }
    var index = 0
    var negative = false
    if bytes[0] == UInt8(ascii: "-") {
        negative = true
        index = 1
    }
    guard index < bytes.count else {
        return nil
    }
    if bytes[index] == UInt8(ascii: "0") && bytes.count > index + 1 {
        return nil
    }
    var value: Int64 = 0
    while index < bytes.count {
        let digit = bytes[index] &- UInt8(ascii: "0")
        guard digit < 10 else {
            return nil
        }
        let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) =
            negative
            ? times.subtractingReportingOverflow(Int64(digit)) : times.addingReportingOverflow(Int64(digit))
        guard !overflow1 && !overflow2 else {
            return nil
        }
        value = sum
        index += 1
    }
    return value
}

/// The decimal text of `value`.
func formatDecimal(_ value: Int64) -> [UInt8] {
    if value == 0 {
        return [UInt8(ascii: "0")]
    }
    var digits: [UInt8] = []
    digits.reserveCapacity(20)
    var magnitude = value.magnitude
    while magnitude > 0 {
        digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
        magnitude /= 10
    }
    if value < 0 {
        digits.append(UInt8(ascii: "-"))
    }
    digits.reverse()
    return digits
}
