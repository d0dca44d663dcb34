@testable import NeptuneIndex
import Testing

/// The interner under the index's key and tag maps: short strings inline in their record, long ones in a shared
/// arena that is compacted once released strings make up most of it. Checked against a dictionary.
@Suite struct ByteInternerTests {
    static func find(_ interner: inout ByteInterner, _ key: [UInt8]) -> UInt32? {
        key.withUnsafeBytes { interner.find($0, hash: ByteKeyTable.hash($0)) }
    }

    @Test func randomInternsAndReleasesOfShortAndLongStringsMatchADictionary() {
        var rng = SplitMix(seed: 11)
        var interner = ByteInterner()
        var model: [[UInt8]: UInt32] = [:]
        var compactions = 0
        var arenaBefore = 0
        for step in 0..<40_000 {
            // Lengths 0...80: inline (up to 24 bytes) and arena strings, many sharing probe runs.
            let length = Int(rng.next() % 81)
            let key = [UInt8](repeating: UInt8(rng.next() % 4) + 0x61, count: length) + Array("\(rng.next() % 20)".utf8)
            if let id = model[key], rng.next() % 2 == 0 {
                key.withUnsafeBytes { interner.remove(id, hash: ByteKeyTable.hash($0)) }
                model[key] = nil
            } else if model[key] == nil {
                let id = key.withUnsafeBytes { interner.add($0, hash: ByteKeyTable.hash($0)) }
                #expect(!model.values.contains(id), "a live ID is never handed out again")
                model[key] = id
            }
            let arena = interner.arenaCount
            if arena < arenaBefore { compactions += 1 }
            arenaBefore = arena
            if step % 1000 == 0 {
                let consistent = interner.isConsistent
                #expect(consistent)
            }
        }
        #expect(compactions > 0, "enough long strings were released to compact the arena")
        let consistent = interner.isConsistent
        #expect(consistent)
        #expect(interner.count == model.count)
        for (key, id) in model {
            let found = Self.find(&interner, key)
            let bytes = interner.bytes(id)
            #expect(found == id)
            #expect(bytes == key)
        }
        var live: [UInt32] = []
        interner.forEachLive { live.append($0) }
        #expect(live == model.values.sorted())
        let absent = Self.find(&interner, Array("absent".utf8))
        #expect(absent == nil)
    }

    @Test func emptyAndBoundaryLengthStringsRoundTrip() {
        var interner = ByteInterner()
        let keys: [[UInt8]] = [[], Array(repeating: 0x78, count: 24), Array(repeating: 0x78, count: 25), [0, 0]]
        let ids = keys.map { key in key.withUnsafeBytes { interner.add($0, hash: ByteKeyTable.hash($0)) } }
        for (key, id) in zip(keys, ids) {
            let found = Self.find(&interner, key)
            let bytes = interner.bytes(id)
            #expect(found == id)
            #expect(bytes == key)
        }
        let consistent = interner.isConsistent
        #expect(consistent)
    }
}
