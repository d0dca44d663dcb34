/// Read-only walks over a tag's documents in whatever form they are kept (inline, block list, bitmap), for query
/// evaluation: a bitmap is read word by word (each set bit found with `trailingZeroBitCount`), never turned into a
/// list of its documents first, and every walk can stop early (a LIMIT page needs its first few documents only).
extension TagPosting {
    /// Calls `body` with each document, ascending, until it returns false.
    ///
    /// - Returns: False if `body` stopped the walk, true if it saw every document.
    /// - Complexity: O(documents visited) for lists; for a bitmap, O(words up to the last document visited).
    @discardableResult
    func forEach(while body: (UInt32) -> Bool) -> Bool {
        if !bits.isEmpty {
            return bits.withUnsafeBufferPointer { words in
                for w in words.indices {
                    var rest = words[w]
                    while rest != 0 {
                        if !body(UInt32(truncatingIfNeeded: w << 6 | rest.trailingZeroBitCount)) { return false }
                        rest &= rest &- 1
                    }
                }
                return true
            }
        }
        if !more.isEmpty {
            for block in more.blocks {
                for document in block where !body(document) { return false }
            }
            return true
        }
        if first != TagStore.none && !body(first) { return false }
        if second != TagStore.none && !body(second) { return false }
        return true
    }

    /// A cursor over the documents, ascending (see ``Cursor``).
    func makeCursor() -> Cursor { Cursor(self) }

    /// A position in a posting's documents that moves forward only: what a merge of several postings advances.
    struct Cursor: IteratorProtocol {
        private let posting: TagPosting
        /// A bitmap's words, read directly (the posting keeps them alive; nothing writes them while a query runs).
        private let words: UnsafeBufferPointer<UInt64>
        /// Bitmap: index of the word being read. List: index of the block.
        private var major = 0
        /// Bitmap: the bits of the current word not returned yet. List: offset in the block. Inline: documents
        /// returned.
        private var minor: UInt64 = 0

        init(_ posting: TagPosting) {
            self.posting = posting
            words = posting.bits.withUnsafeBufferPointer { $0 }
            if !words.isEmpty { minor = words[0] }
        }

        /// The next document, or nil past the last.
        mutating func next() -> UInt32? {
            if !words.isEmpty {
                while minor == 0 {
                    major += 1
                    if major >= words.count { return nil }
                    minor = words[major]
                }
                let document = UInt32(truncatingIfNeeded: major << 6 | minor.trailingZeroBitCount)
                minor &= minor &- 1
                return document
            }
            if !posting.more.isEmpty {
                let blocks = posting.more.blocks
                while major < blocks.count {
                    let block = blocks[major]
                    if Int(minor) < block.count {
                        minor += 1
                        return block[Int(minor) - 1]
                    }
                    major += 1
                    minor = 0
                }
                return nil
            }
            while minor < 2 {
                minor += 1
                let document = minor == 1 ? posting.first : posting.second
                if document != TagStore.none { return document }
            }
            return nil
        }
    }

    /// Calls `body` with each document of the union of `postings`, ascending and once each, until it returns false.
    ///
    /// Bitmaps are combined word by word (an OR of the words at each index); lists and inline documents are merged
    /// with them through cursors.
    ///
    /// - Returns: False if `body` stopped the walk.
    /// - Complexity: O(documents visited · number of list postings) plus the bitmap words up to the last visited.
    @discardableResult
    static func forEachUnion(_ postings: [TagPosting], while body: (UInt32) -> Bool) -> Bool {
        if postings.count == 1 { return postings[0].forEach(while: body) }
        // The bitmaps' words, read directly (the postings keep them alive).
        let bitmaps = postings.filter(\.isBitmap).map { $0.bits.withUnsafeBufferPointer { $0 } }
        var cursors = postings.filter { !$0.isBitmap }.map { $0.makeCursor() }
        var heads = cursors.indices.map { cursors[$0].next() }
        // The bitmaps' union, one word at a time: `word` holds the bits of word `w` not returned yet.
        let wordCount = bitmaps.reduce(0) { Swift.max($0, $1.count) }
        var w = -1
        var word: UInt64 = 0
        func nextBit() -> UInt32? {
            while word == 0 {
                w += 1
                if w >= wordCount { return nil }
                for bitmap in bitmaps where w < bitmap.count { word |= bitmap[w] }
            }
            let document = UInt32(truncatingIfNeeded: w << 6 | word.trailingZeroBitCount)
            word &= word &- 1
            return document
        }
        var bit = nextBit()
        while true {
            // The smallest head among the bitmap union and the cursors.
            var smallest = bit ?? UInt32.max
            var any = bit != nil
            for head in heads {
                if let head, head <= smallest {
                    smallest = head
                    any = true
                }
            }
            guard any else { return true }
            if !body(smallest) { return false }
            if bit == smallest { bit = nextBit() }
            for i in heads.indices where heads[i] == smallest { heads[i] = cursors[i].next() }
        }
    }

    /// Number of documents in the union of `postings`.
    ///
    /// - Parameter disjoint: Whether no document is in two of the postings (true of a TAG field none of whose
    ///   documents holds several tags): the count is then the sum of the postings' counts.
    static func unionCount(_ postings: [TagPosting], disjoint: Bool) -> Int {
        if postings.count == 1 || disjoint { return postings.reduce(0) { $0 + $1.count } }
        if postings.allSatisfy(\.isBitmap) {
            let bitmaps = postings.map { $0.bits.withUnsafeBufferPointer { $0 } }
            let wordCount = bitmaps.reduce(0) { Swift.max($0, $1.count) }
            var total = 0
            for w in 0..<wordCount {
                var word: UInt64 = 0
                for bitmap in bitmaps where w < bitmap.count { word |= bitmap[w] }
                total += word.nonzeroBitCount
            }
            return total
        }
        var total = 0
        forEachUnion(postings) { _ in
            total += 1
            return true
        }
        return total
    }

    /// A membership test for repeated use (an intersection tests thousands of documents): it holds the posting's
    /// storage itself, so that a test is a bit test or a search, without copying the posting out of a plan first.
    func membership() -> DocumentTest {
        if !bits.isEmpty { return DocumentTest(bitmap: bits) }
        if !more.isEmpty { return DocumentTest(list: more) }
        return DocumentTest(first: first, second: second)
    }

    /// What a membership test costs, relative to a bitmap's bit test (1): a list is a binary search over its
    /// blocks' maxima and then over one block.
    var probeCost: Int { !bits.isEmpty || more.isEmpty ? 1 : 3 }

    /// What reading one document costs relative to a bitmap of dense documents: a sparse bitmap reads several
    /// empty words for each document it finds.
    var walkCost: Double {
        if bits.isEmpty { return 0.5 }
        return Swift.max(1, Double(bits.count) / Double(Swift.max(bitCount, 1)) / 4)
    }
}

/// Whether a document belongs to a set (a posting, a range, or any combination as a closure), built once and then
/// called for each of the many documents an intersection, a negation or a sorted walk tests.
///
/// A struct rather than a closure: the common tests (a bitmap's bit, a range's value) are then a branch on the kind
/// and a load, where a closure costs an indirect call through its reabstraction thunks, several times the test.
struct DocumentTest {
    private enum Kind {
        case always, never, bitmap, list, inline, numeric, closure
    }

    private let kind: Kind
    /// The bitmap's words: `bitmap` keeps them alive, `words` reads them (no writes while a query runs: it holds
    /// the index's lock).
    private var bitmap = BitmapWords.empty
    private var words = UnsafeBufferPointer<UInt64>(start: nil, count: 0)
    private var list = SortedBlockList<UInt32>()
    private var first = TagStore.none
    private var second = TagStore.none
    private var store: NumericStore? = nil
    private var range = NumericRange()
    private var closure: ((UInt32) -> Bool)? = nil

    /// A test every document passes (`matches` true) or none does.
    init(constant matches: Bool) { kind = matches ? .always : .never }

    /// Membership in a bitmap (bit `d & 63` of word `d >> 6`).
    init(bitmap words: BitmapWords) {
        kind = .bitmap
        bitmap = words
        self.words = words.withUnsafeBufferPointer { $0 }
    }

    /// Membership in a sorted block list.
    init(list: SortedBlockList<UInt32>) {
        kind = .list
        self.list = list
    }

    /// Equality with one of two documents (``TagStore/none`` for neither).
    init(first: UInt32, second: UInt32) {
        kind = .inline
        self.first = first
        self.second = second
    }

    /// A document whose value of a NUMERIC field lies in `range`.
    init(store: NumericStore, range: NumericRange) {
        kind = .numeric
        self.store = store
        self.range = range
    }

    /// Any other test.
    init(_ closure: @escaping (UInt32) -> Bool) {
        kind = .closure
        self.closure = closure
    }

    /// Whether `document` passes.
    @inline(__always)
    func callAsFunction(_ document: UInt32) -> Bool {
        switch kind {
        case .always: return true
        case .never: return false
        case .bitmap:
            let w = Int(document >> 6)
            return w < words.count && words[w] & (1 << (document & 63)) != 0
        case .list: return list.contains(document)
        case .inline: return document != TagStore.none && (document == first || document == second)
        case .numeric:
            guard let value = store.unsafelyUnwrapped.value(document) else { return false }
            return range.contains(value)
        case .closure: return closure.unsafelyUnwrapped(document)
        }
    }
}
