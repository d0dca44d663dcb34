@testable import NeptuneIndex
import Testing

/// A tag's posting in each of its forms (inline, block list, bitmap) and across the conversions between them,
/// checked against a set: count, membership, ascending documents, and the form's own invariants.
@Suite struct TagPostingTests {
    @Test func randomInsertsAndRemovesMatchASetAcrossEveryForm() {
        var rng = SplitMix(seed: 17)
        var posting = TagPosting()
        let bitmaps = BitmapArena()
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
                    posting.insert(document, idCapacity: idCapacity, bitmaps: bitmaps)
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
        // Every slot a bitmap gave up went back to the arena.
        #expect(bitmaps.inUse == (posting.isBitmap ? 1 : 0))
    }

    @Test func aBitmapGrowsForDocumentsBeyondItsWords() {
        var posting = TagPosting()
        let bitmaps = BitmapArena()
        for document in 0..<UInt32(2000) { posting.insert(document, idCapacity: 2048, bitmaps: bitmaps) }
        #expect(posting.isBitmap)
        posting.insert(1_000_000, idCapacity: 2048, bitmaps: bitmaps)
        posting.insert(1_000_000, idCapacity: 2048, bitmaps: bitmaps)
        #expect(posting.count == 2001 && posting.contains(1_000_000) && posting.isConsistent)
        #expect(posting.documents.last == 1_000_000)
        // Removing an absent document changes nothing.
        #expect(!posting.remove(1_500_000, idCapacity: 2048) && posting.count == 2001)
    }

    /// Bitmaps sharing an arena: each keeps its own bits while another widens every slot (a document beyond the
    /// slots' words), released slots come back zeroed, and a large arena is on huge-page-advised storage.
    @Test func bitmapsShareAnArenaAcrossWideningAndReuse() {
        let bitmaps = BitmapArena()
        var rng = SplitMix(seed: 23)
        var postings = (0..<6).map { _ in TagPosting() }
        var models = [Set<UInt32>](repeating: [], count: 6)
        for i in postings.indices {
            for _ in 0..<3_000 {
                let document = UInt32(rng.next() % 8_192)
                postings[i].insert(document, idCapacity: 8_192, bitmaps: bitmaps)
                models[i].insert(document)
            }
            #expect(postings[i].isBitmap)
        }
        #expect(bitmaps.inUse == 6)
        // One posting takes a document far beyond the words: every slot widens, and every posting keeps its bits.
        postings[2].insert(3_000_000, idCapacity: 8_192, bitmaps: bitmaps)
        models[2].insert(3_000_000)
        #expect(bitmaps.slotWords >= 3_000_000 / 64 + 1)
        #if os(Linux)
        #expect(bitmaps.isHugePageAdvised, "6 slots of 64 Ki words: 3 MiB")
        #endif
        for i in postings.indices {
            #expect(postings[i].documents == models[i].sorted(), "posting \(i)")
            #expect(postings[i].isConsistent)
        }
        // Emptying one gives its slot back zeroed; the next bitmap reuses it and holds only its own documents.
        for document in models[4] { _ = postings[4].remove(document, idCapacity: 8_192) }
        #expect(!postings[4].isBitmap && bitmaps.inUse == 5)
        var fresh = TagPosting()
        for document in 0..<UInt32(2_000) { fresh.insert(document, idCapacity: 8_192, bitmaps: bitmaps) }
        #expect(fresh.isBitmap && bitmaps.inUse == 6)
        #expect(fresh.documents == Array(0..<UInt32(2_000)), "a reused slot starts empty")
        #expect(postings[3].documents == models[3].sorted())
        // A posting whose bits disagree with its count is caught by the check.
        fresh.bits[0] ^= 1
        #expect(!fresh.isConsistent)
    }
}
