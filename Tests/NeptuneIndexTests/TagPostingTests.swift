@testable import NeptuneIndex
import Testing

/// A tag's posting in each of its forms (inline, block list, bitmap) and across the conversions between them,
/// checked against a set: count, membership, ascending documents, and the form's own invariants.
@Suite struct TagPostingTests {
    @Test func randomInsertsAndRemovesMatchASetAcrossEveryForm() {
        var rng = SplitMix(seed: 17)
        var posting = TagPosting()
        var model = Set<UInt32>()
        let idCapacity = 4096
        var sawBitmap = false
        var sawListAfterBitmap = false
        // Grow past the bitmap threshold, shrink below the way back, twice.
        for phase in 0..<4 {
            let growing = phase % 2 == 0
            for step in 0..<20_000 {
                let document = UInt32(rng.next() % UInt64(idCapacity))
                let insert = rng.next() % 20 < (growing ? 16 : 1)
                if insert {
                    posting.insert(document, idCapacity: idCapacity)
                    model.insert(document)
                } else if model.contains(document) {
                    let empty = posting.remove(document, idCapacity: idCapacity)
                    model.remove(document)
                    #expect(empty == model.isEmpty)
                    if empty { posting = TagPosting() }  // what the store does: the tag is released
                }
                if posting.isBitmap { sawBitmap = true } else if sawBitmap && !model.isEmpty { sawListAfterBitmap = true }
                if step % 1000 == 0 {
                    #expect(posting.isConsistent)
                    #expect(posting.count == model.count)
                    #expect(posting.documents == model.sorted())
                    #expect(posting.contains(document) == model.contains(document))
                }
            }
        }
        #expect(sawBitmap, "the posting became a bitmap")
        #expect(sawListAfterBitmap, "and went back to a list")
        #expect(posting.documents == model.sorted())
    }

    @Test func aBitmapGrowsForDocumentsBeyondItsWords() {
        var posting = TagPosting()
        for document in 0..<UInt32(2000) { posting.insert(document, idCapacity: 2048) }
        #expect(posting.isBitmap)
        posting.insert(1_000_000, idCapacity: 2048)
        posting.insert(1_000_000, idCapacity: 2048)
        #expect(posting.count == 2001 && posting.contains(1_000_000) && posting.isConsistent)
        #expect(posting.documents.last == 1_000_000)
        // Removing an absent document changes nothing.
        #expect(!posting.remove(1_500_000, idCapacity: 2048) && posting.count == 2001)
    }
}
