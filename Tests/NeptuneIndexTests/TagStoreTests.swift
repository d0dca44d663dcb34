@testable import NeptuneIndex
import Testing

/// The TAG field store's write path: interned tags released when their last document leaves (and their IDs
/// reused), postings of one or two documents kept inline, raw values kept only where they differ from the tag.
@Suite struct TagStoreTests {
    static let definition = IndexDefinition(
        name: Array("idx".utf8),
        fields: [IndexField(identifier: Array("t".utf8), type: .tag, sortable: true)]
    )

    static func index(_ index: SearchIndex, _ key: String, _ value: String?) {
        index.index(key: Array(key.utf8), values: [value.map { Array($0.utf8) }])
    }

    static func keys(_ index: SearchIndex, tag: String) throws -> [String] {
        let query = IndexQuery.tags(field: Array("t".utf8), patterns: [.exact(Array(tag.utf8))])
        return try index.search(query, limit: 100).keys.map { String(decoding: $0, as: UTF8.self) }.sorted()
    }

    @Test func tagsAreReleasedWhenTheirLastDocumentLeaves() throws {
        let index = SearchIndex(definition: Self.definition)
        for i in 0..<100 { Self.index(index, "k\(i)", "t\(i)") }
        #expect(index.distinctValueCount(field: 0) == 100)
        // Every document moves to a new unique tag: the old tags go, their IDs are reused.
        for i in 0..<100 { Self.index(index, "k\(i)", "u\(i)") }
        #expect(index.distinctValueCount(field: 0) == 100)
        guard case .tag(let store) = index.stores[0] else { Issue.record("not a tag store"); return }
        #expect(store.tags.idBound == 101)  // one spare ID at most: the new tag is interned before the old goes
        #expect(try Self.keys(index, tag: "t5").isEmpty)
        #expect(try Self.keys(index, tag: "u5") == ["k5"])
        // Two documents on one tag, then back to one.
        Self.index(index, "k1", "u5")
        #expect(try Self.keys(index, tag: "u5") == ["k1", "k5"])
        Self.index(index, "k5", nil)
        #expect(try Self.keys(index, tag: "u5") == ["k1"])
        #expect(index.distinctValueCount(field: 0) == 99)
    }

    @Test func rawValuesAreKeptOnlyWhereTheyDifferFromTheTag() throws {
        let index = SearchIndex(definition: Self.definition)
        Self.index(index, "a", "red")
        Self.index(index, "b", " Red ")
        Self.index(index, "c", "red,blue")
        Self.index(index, "d", "   ")
        guard case .tag(let store) = index.stores[0] else { Issue.record("not a tag store"); return }
        #expect(!store.keepsRawValue(0))
        #expect(store.keepsRawValue(1) && store.keepsRawValue(2) && store.keepsRawValue(3))
        #expect(store.rawValue(0) == Array("red".utf8))
        #expect(store.rawValue(1) == Array(" Red ".utf8))
        #expect(store.rawValue(2) == Array("red,blue".utf8))
        #expect(store.rawValue(3) == Array("   ".utf8))
        #expect(try Self.keys(index, tag: "red") == ["a", "b", "c"])
        #expect(try Self.keys(index, tag: "blue") == ["c"])
        // Rewriting the same value changes nothing; a new raw value of the same tag is remembered.
        Self.index(index, "b", "RED")
        #expect(store.rawValue(1) == Array("RED".utf8))
        Self.index(index, "c", "blue")
        #expect(try Self.keys(index, tag: "red") == ["a", "b"])
        #expect(!store.keepsRawValue(2) && store.rawValues[2] == nil)
        let sorted = try index.search(.all, sort: IndexSort(field: Array("t".utf8), ascending: true), limit: 10)
        #expect(sorted.keys.map { String(decoding: $0, as: UTF8.self) } == ["d", "c", "a", "b"])
    }
}
