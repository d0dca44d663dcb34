@testable import NeptuneIndex
import Testing

/// The query-side walks over a tag's posting (``TagPosting/forEach(while:)``, ``TagPosting/Cursor``, unions and
/// their counts) in each of the posting's forms, checked against sets; and the partial selection sorted pages use.
@Suite struct PostingIterationTests {
    /// A posting holding `documents`, built by inserts (so it takes the form the store would give it).
    static func posting(_ documents: Set<UInt32>, idCapacity: Int) -> TagPosting {
        var posting = TagPosting()
        let bitmaps = BitmapArena()
        for document in documents { posting.insert(document, idCapacity: idCapacity, bitmaps: bitmaps) }
        return posting
    }

    static func randomSet(_ count: Int, below bound: UInt32, _ rng: inout SplitMix) -> Set<UInt32> {
        var set = Set<UInt32>()
        while set.count < count { set.insert(UInt32(rng.next() % UInt64(bound))) }
        return set
    }

    /// Sizes that give each form: inline (0-2), block list, and bitmap (at least 1,024 documents).
    static let sizes = [0, 1, 2, 3, 700, 1100, 3000]

    @Test func walksAndCursorsSeeEveryDocumentAscendingAndStopEarly() {
        var rng = SplitMix(seed: 5)
        var forms = Set<String>()
        for size in Self.sizes {
            let model = Self.randomSet(size, below: 8192, &rng)
            let posting = Self.posting(model, idCapacity: 8192)
            forms.insert(posting.isBitmap ? "bitmap" : size > 2 ? "list" : "inline")
            let expected = model.sorted()
            var seen: [UInt32] = []
            #expect(posting.forEach { seen.append($0); return true })
            #expect(seen == expected, "size \(size)")
            var cursor = posting.makeCursor()
            var cursorSeen: [UInt32] = []
            while let document = cursor.next() { cursorSeen.append(document) }
            #expect(cursorSeen == expected, "cursor, size \(size)")
            #expect(cursor.next() == nil)
            // Stopping after k documents returns false and has seen exactly the first k.
            for k in [1, 2, 10, 500] where k < expected.count {
                var prefix: [UInt32] = []
                let finished = posting.forEach { prefix.append($0); return prefix.count < k }
                #expect(!finished && prefix == Array(expected.prefix(k)), "size \(size) stop after \(k)")
            }
        }
        #expect(forms == ["inline", "list", "bitmap"], "every form was walked")
    }

    @Test func membershipTestsAgreeWithTheSetInEveryForm() {
        var rng = SplitMix(seed: 9)
        for size in Self.sizes {
            let model = Self.randomSet(size, below: 8192, &rng)
            let test = Self.posting(model, idCapacity: 8192).membership()
            // Every member, and as many random documents (mostly not members; some beyond the bitmap's words).
            for document in model { #expect(test(document), "size \(size) member \(document)") }
            for _ in 0..<2000 {
                let document = UInt32(rng.next() % 20_000)
                #expect(test(document) == model.contains(document), "size \(size) document \(document)")
            }
            #expect(!test(TagStore.none))
        }
    }

    @Test func aBitmapWalkFindsDocumentsAtWordEdges() {
        let documents: Set<UInt32> = Set((0..<1100).map { UInt32($0) * 64 + 63 }).union([0, 64, 65, 127])
        let posting = Self.posting(documents, idCapacity: 1 << 17)
        #expect(posting.isBitmap)
        var seen: [UInt32] = []
        posting.forEach { seen.append($0); return true }
        #expect(seen == documents.sorted())
    }

    @Test func unionsOfMixedFormsMatchTheSetUnion() {
        var rng = SplitMix(seed: 23)
        for trial in 0..<60 {
            let n = 1 + Int(rng.next() % 4)
            let overlapping = trial % 2 == 0
            var sets: [Set<UInt32>] = []
            for _ in 0..<n {
                let size = Self.sizes[Int(rng.next() % UInt64(Self.sizes.count))]
                var set = Self.randomSet(size, below: 8192, &rng)
                if !overlapping { set.subtract(sets.reduce(Set<UInt32>()) { $0.union($1) }) }
                sets.append(set)
            }
            let postings = sets.map { Self.posting($0, idCapacity: 8192) }
            let expected = sets.reduce(Set<UInt32>()) { $0.union($1) }.sorted()
            var seen: [UInt32] = []
            #expect(TagPosting.forEachUnion(postings) { seen.append($0); return true })
            #expect(seen == expected, "trial \(trial): \(sets.map(\.count))")
            #expect(TagPosting.unionCount(postings, disjoint: false) == expected.count, "trial \(trial)")
            if !overlapping { #expect(TagPosting.unionCount(postings, disjoint: true) == expected.count) }
            if expected.count > 3 {
                var prefix: [UInt32] = []
                #expect(!TagPosting.forEachUnion(postings) { prefix.append($0); return prefix.count < 3 })
                #expect(prefix == Array(expected.prefix(3)))
            }
        }
    }

    @Test func unionOfOverlappingBitmapsCountsEachDocumentOnce() {
        let a = Self.posting(Set(0..<2000), idCapacity: 4096)
        let b = Self.posting(Set(1000..<3000), idCapacity: 4096)
        #expect(a.isBitmap && b.isBitmap)
        #expect(TagPosting.unionCount([a, b], disjoint: false) == 3000)
    }

    @Test func partialSelectionEqualsTheSortedPrefix() {
        var rng = SplitMix(seed: 41)
        for _ in 0..<20 {
            let elements = (0..<Int(rng.next() % 1500)).map { i in (value: Double(rng.next() % 50), id: UInt32(i)) }
            let ascending = rng.next() % 2 == 0
            let precedes = { (a: (value: Double, id: UInt32), b: (value: Double, id: UInt32)) -> Bool in
                if a.value != b.value { return ascending ? a.value < b.value : a.value > b.value }
                return a.id < b.id
            }
            let full = elements.sorted(by: precedes).map(\.id)
            for count in [0, 1, 7, 100, elements.count, elements.count + 5] {
                let chosen = SearchIndex.smallest(count, of: elements, by: precedes).map(\.id)
                #expect(chosen == Array(full.prefix(count)), "\(count) of \(elements.count)")
            }
        }
    }
}
