@testable import NeptuneCache
import NeptuneTestSupport
import Testing

/// White-box tests of the compact storage against a Dictionary oracle.
@Suite struct KeyTableTests {
    @Test func randomOperationsMatchDictionary() throws {
        let engine = Engine(clock: ManualClock(), hashSeed: 42)
        let store = NeptuneStore(engine: engine)
        var oracle: [[UInt8]: [UInt8]] = [:]
        var rng = SystemRandomNumberGenerator()
        for step in 0..<20_000 {
            let key = Array("k\(Int.random(in: 0..<2000, using: &rng))".utf8)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0..<5:
                let length = [0, 1, 10, 100, 5000][Int.random(in: 0..<5, using: &rng)]
                let value = [UInt8](repeating: UInt8(step % 256), count: length)
                #expect((try? store.set(key, value)) == true)
                oracle[key] = value
            case 5..<8:
                #expect(try store.delete(key) == (oracle.removeValue(forKey: key) == nil ? 0 : 1))
            default:
                #expect((try? store.get(key)) == oracle[key])
            }
        }
        #expect(engine.keyCount(db: 0) == oracle.count)
        for (key, value) in oracle {
            #expect((try? store.get(key)) == value)
        }
    }

    /// Every key length from 0 to 300 (one- and two-byte lengths, the inline word compares and `memcmp`), with
    /// values around the 128-byte boundary and with and without an expiry (whose header is 8 bytes longer): each
    /// key finds its own value, and keys differing only in their first or last byte are told apart.
    @Test func lookupsTellKeysOfEveryLengthApart() throws {
        let clock = ManualClock()
        let store = NeptuneStore(engine: Engine(clock: clock, hashSeed: 7))
        var expected: [[UInt8]: [UInt8]] = [:]
        for length in 0...300 {
            let base = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            var variants = [base]
            if length > 0 {
                var first = base
                first[0] ^= 0x01
                var last = base
                last[length - 1] ^= 0x80
                variants += [first, last]
            }
            for (index, key) in variants.enumerated() {
                let value = [UInt8](repeating: UInt8(truncatingIfNeeded: length), count: [0, 10, 127, 128, 300][
                    (length + index) % 5])
                let ttl: Duration? = (length + index) % 3 == 0 ? .seconds(100) : nil
                #expect(try store.set(key, value, ttl: ttl))
                expected[key] = value
            }
        }
        #expect(store.count() == expected.count)
        for (key, value) in expected {
            #expect(try store.get(key) == value, "key of \(key.count) bytes")
            #expect(try store.withValue(of: key) { Array($0) } == value)
        }
        #expect(try store.get(Array(repeating: 0xFF, count: 16)) == nil)
        clock.advance(seconds: 101)
        let live = expected.keys.filter { (try? store.get($0)) != nil }
        #expect(live.count > 0 && live.count < expected.count, "keys with a TTL expire, the others stay")
    }

    /// Threads reading and writing the same shards: the shard lock (a futex mutex) excludes them, so no update is
    /// lost.
    @Test func concurrentIncrementsAreNotLost() async throws {
        let store = NeptuneStore(engine: Engine(clock: ManualClock()))
        let keys = (0..<8).map { Array("counter:\($0)".utf8) }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for round in 0..<2_000 {
                        let key = keys[round % keys.count]
                        _ = try? store.increment(key)
                        _ = try? store.get(key)
                    }
                }
            }
        }
        var total: Int64 = 0
        for key in keys {
            total += Int64(String(decoding: try #require(try store.get(key)), as: UTF8.self)) ?? 0
        }
        #expect(total == 8_000)
    }

    @Test func emptyingTheKeyspaceReturnsItsMemory() throws {
        let engine = Engine(clock: ManualClock())
        let store = NeptuneStore(engine: engine)
        let before = engine.statistics().memoryBytes
        for i in 0..<50_000 { _ = try? store.set("key:\(i)", "value-\(i)") }
        let loaded = engine.statistics().memoryBytes
        #expect(loaded > before + 50_000 * 24)
        for i in 0..<50_000 { try store.delete("key:\(i)") }
        #expect(engine.keyCount(db: 0) == 0)
        #expect(engine.statistics().memoryBytes == before)
    }

    @Test func compactLayoutCostsFewBytesPerKey() {
        let engine = Engine(clock: ManualClock())
        let store = NeptuneStore(engine: engine)
        let keys = 100_000
        for i in 0..<keys {
            _ = try? store.set(Array("key:\(String(repeating: "0", count: 8 - String(i).count))\(i)".utf8),
                           Array("0123456789".utf8))
        }
        let perKey = Double(engine.statistics().memoryBytes) / Double(keys)
        // 22 bytes of key and value: a 32-byte cell plus an 8-byte slot at 50-75% load.
        #expect(perKey < 56, "bytes per key: \(perKey)")
    }

    @Test func reverseBinaryCursorVisitsEverySlotOnce() {
        for mask in [7, 63, 1023] {
            var seen = Set<Int>()
            var cursor = 0
            repeat {
                #expect(seen.insert(cursor).inserted)
                cursor = KeyTable.nextCursor(cursor, mask: mask)
            } while cursor != 0
            #expect(seen.count == mask + 1)
        }
    }
}
