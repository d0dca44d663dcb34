@testable import NeptuneIndex
import Testing

/// The byte-string-to-ID table under the index's key and tag maps, checked against a dictionary through random
/// inserts and removals (backward-shift deletion must keep every remaining key reachable).
@Suite struct ByteKeyTableTests {
    struct Fixture {
        var table = ByteKeyTable()
        var bytes: [[UInt8]?] = []

        func find(_ key: [UInt8]) -> UInt32? {
            key.withUnsafeBytes { k in
                table.find(hash: ByteKeyTable.hash(k)) { id in bytes[Int(id)] == key }
            }
        }

        mutating func insert(_ key: [UInt8]) {
            let id = UInt32(bytes.count)
            bytes.append(key)
            key.withUnsafeBytes { table.insert(hash: ByteKeyTable.hash($0), id: id) }
        }

        mutating func remove(_ key: [UInt8]) -> Bool {
            guard let id = find(key) else { return false }
            bytes[Int(id)] = nil
            return key.withUnsafeBytes { table.remove(hash: ByteKeyTable.hash($0), id: id) }
        }
    }

    @Test func randomInsertsAndRemovalsMatchADictionary() {
        var rng = SplitMix(seed: 7)
        var fixture = Fixture()
        var model: Set<[UInt8]> = []
        for _ in 0..<20_000 {
            // Short keys from a small alphabet: many shared probe runs.
            let key = Array("k\(rng.next() % 3000)".utf8)
            if rng.next() % 3 == 0 {
                #expect(fixture.remove(key) == (model.remove(key) != nil))
            } else if !model.contains(key) {
                fixture.insert(key)
                model.insert(key)
            }
            #expect(fixture.table.count == model.count)
        }
        for i in 0..<3000 {
            let key = Array("k\(i)".utf8)
            #expect((fixture.find(key) != nil) == model.contains(key))
        }
        fixture.table.removeAll()
        #expect(fixture.find(Array("k1".utf8)) == nil)
    }

    @Test func hashCoversEveryByteAndTheLength() {
        let keys: [[UInt8]] = [[], [0], [0, 0], Array("abcdefgh".utf8), Array("abcdefgh\0".utf8), Array("abcdefgi".utf8)]
        let hashes = Set(keys.map { key in key.withUnsafeBytes { ByteKeyTable.hash($0) } })
        #expect(hashes.count == keys.count)
    }

    @Test func removingAnAbsentKeyChangesNothing() {
        var fixture = Fixture()
        fixture.insert(Array("a".utf8))
        #expect(!Array("b".utf8).withUnsafeBytes { fixture.table.remove(hash: ByteKeyTable.hash($0), id: 0) })
        #expect(fixture.table.count == 1)
        #expect(fixture.find(Array("a".utf8)) == 0)
    }
}
