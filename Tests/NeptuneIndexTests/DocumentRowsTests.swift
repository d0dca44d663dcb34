@testable import NeptuneIndex
import Foundation
import Synchronization
import Testing

/// The per-document rows: ``WordBuffer`` growth (zero-filled, contents kept, huge-page advice once large), the
/// interner's payload words (zero for every new or reused ID, one aligned line for eight-word rows), and the
/// stores' columns in those rows when an index has more NUMERIC and TAG fields than one line holds.
@Suite struct DocumentRowsTests {
    @Test func wordBufferGrowsKeepingItsWordsAndZeroFillingTheRest() {
        let buffer = WordBuffer()
        #expect(buffer.capacity >= 8)
        #expect(UInt(bitPattern: buffer.base) % 64 == 0, "cache-line aligned")
        for i in 0..<8 { buffer[i] = UInt64(i) &+ 1 }
        // Past the huge-page threshold: mapped storage, aligned to a huge page.
        let words = WordBuffer.hugePage / 8 + 3
        buffer.reserve(words)
        #expect(buffer.capacity >= words)
        #expect((0..<8).allSatisfy { buffer[$0] == UInt64($0) &+ 1 })
        #expect((8..<buffer.capacity).allSatisfy { buffer[$0] == 0 })
        #if os(Linux)
        #expect(buffer.isHugePageAdvised)
        #expect(UInt(bitPattern: buffer.base) % UInt(WordBuffer.hugePage) == 0)
        #endif
        buffer[words - 1] = 42
        buffer.reserve(words * 2)
        #expect(buffer[words - 1] == 42 && buffer[7] == 8)
        buffer.reset()
        #expect(!buffer.isHugePageAdvised && buffer.capacity >= 8)
        #expect((0..<buffer.capacity).allSatisfy { buffer[$0] == 0 })
    }

    @Test func payloadWordsStartAtZeroForNewAndReusedIDs() {
        var interner = ByteInterner(payloadWords: 3)
        #expect(interner.stride == 8 && interner.payloadWords == 4)
        let column = RowColumn(interner, column: 3)
        var ids: [UInt32] = []
        for i in 0..<2000 {
            let key = Array("key:\(i)".utf8)
            let id = key.withUnsafeBytes { interner.add($0, hash: ByteKeyTable.hash($0)) }
            #expect(column[id] == 0)
            column[id] = UInt64(i) | 1 << 40
            ids.append(id)
        }
        // The rows grew many times; every payload word survived, and each row is one aligned line.
        #expect(ids.enumerated().allSatisfy { column[$0.element] == UInt64($0.offset) | 1 << 40 })
        #expect(UInt(bitPattern: interner.rows.base) % 64 == 0)
        for i in stride(from: 0, to: 2000, by: 2) {
            // The owner clears its columns before removing; a reused ID starts clean even if it did not.
            Array("key:\(i)".utf8).withUnsafeBytes { interner.remove(ids[i], hash: ByteKeyTable.hash($0)) }
        }
        let consistent = interner.isConsistent
        #expect(consistent)
        for i in 0..<1000 {
            let id = Array("new:\(i)".utf8).withUnsafeBytes { interner.add($0, hash: ByteKeyTable.hash($0)) }
            #expect(id % 2 == 0, "a freed ID is reused")
            #expect(column[id] == 0)
        }
        #expect(interner.idBound == 2000)
    }

    @Test func holdsChecksAHintAgainstTheRow() {
        var interner = ByteInterner()
        let a = Array("alpha".utf8).withUnsafeBytes { interner.add($0, hash: ByteKeyTable.hash($0)) }
        let long = [UInt8](repeating: 0x62, count: 40)
        let b = long.withUnsafeBytes { interner.add($0, hash: ByteKeyTable.hash($0)) }
        let alphaHeld = Array("alpha".utf8).withUnsafeBytes { interner.holds(a, $0) }
        let longHeld = long.withUnsafeBytes { interner.holds(b, $0) }
        let wrongID = Array("alpha".utf8).withUnsafeBytes { interner.holds(b, $0) }
        let outOfRange = Array("alpha".utf8).withUnsafeBytes { interner.holds(.max, $0) }
        #expect(alphaHeld && longHeld && !wrongID && !outOfRange)
        Array("alpha".utf8).withUnsafeBytes { interner.remove(a, hash: ByteKeyTable.hash($0)) }
        let freed = Array("alpha".utf8).withUnsafeBytes { interner.holds(a, $0) }
        #expect(!freed, "a freed ID holds nothing")
    }

    /// Seven NUMERIC and TAG fields need sixteen-word rows: every column keeps its own document's value.
    @Test func wideSchemasKeepEveryFieldInTheDocumentsRow() throws {
        let numeric = (0..<4).map { IndexField(identifier: Array("n\($0)".utf8), type: .numeric) }
        let tags = (0..<3).map { IndexField(identifier: Array("t\($0)".utf8), type: .tag) }
        let definition = IndexDefinition(name: Array("wide".utf8), fields: numeric + tags)
        let index = SearchIndex(definition: definition)
        #expect(index.documents.stride == 16)
        var rng = SplitMix(seed: 5)
        var model: [String: [Int]] = [:]
        for _ in 0..<3000 {
            let key = "doc:\(rng.next() % 300)"
            if rng.next() % 6 == 0 {
                #expect(index.remove(key: Array(key.utf8)) == (model.removeValue(forKey: key) != nil))
                continue
            }
            let values = (0..<7).map { _ in Int(rng.next() % 5) }
            index.index(key: Array(key.utf8), values: values.enumerated().map { Array(($0.offset < 4 ? "\($0.element)" : "t\($0.element)").utf8) })
            model[key] = values
        }
        #expect(index.documentCount == model.count)
        for field in 0..<7 {
            for value in 0..<5 {
                let query: IndexQuery = field < 4
                    ? .numericRange(field: Array("n\(field)".utf8), range: NumericRange(min: Double(value), minInclusive: true, max: Double(value), maxInclusive: true))
                    : .tags(field: Array("t\(field - 4)".utf8), patterns: [.exact(Array("t\(value)".utf8))])
                let found = Set(try index.search(query, limit: Int.max).keys.map { String(decoding: $0, as: UTF8.self) })
                #expect(found == Set(model.filter { $0.value[field] == value }.keys), "field \(field) value \(value)")
            }
        }
    }
}
