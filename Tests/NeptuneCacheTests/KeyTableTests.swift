@testable import NeptuneCache
import NeptuneTestSupport
import Testing

/// White-box tests of the compact storage against a Dictionary oracle.
@Suite struct KeyTableTests {
    @Test func randomOperationsMatchDictionary() {
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
                #expect(store.delete(key) == (oracle.removeValue(forKey: key) == nil ? 0 : 1))
            default:
                #expect((try? store.get(key)) == oracle[key])
            }
        }
        #expect(engine.keyCount(db: 0) == oracle.count)
        for (key, value) in oracle {
            #expect((try? store.get(key)) == value)
        }
    }

    @Test func emptyingTheKeyspaceReturnsItsMemory() {
        let engine = Engine(clock: ManualClock())
        let store = NeptuneStore(engine: engine)
        let before = engine.statistics().memoryBytes
        for i in 0..<50_000 { _ = try? store.set("key:\(i)", "value-\(i)") }
        let loaded = engine.statistics().memoryBytes
        #expect(loaded > before + 50_000 * 24)
        for i in 0..<50_000 { store.delete("key:\(i)") }
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
