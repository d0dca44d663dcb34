/// The storage of one TAG field's bitmap postings: one fixed-size slot of words per bitmap, all in one
/// ``WordBuffer`` (huge pages once large).
///
/// A category's bitmap over a million documents is 128 KB; a hundred of them as ordinary heap arrays sit on 4 KiB
/// pages, so each of a write's two bitmap words (the old tag's bit, the new tag's) costs a page walk as well as a
/// cache miss, and on the machine measured a prefetch waits for that walk. Here they share 2 MiB pages.
///
/// Every slot has ``slotWords`` words (a power of two), enough for every document ID so far: when an ID needs
/// more, every slot is copied to a layout with twice the words (amortized over the IDs that doubled), keeping its
/// slot number. A released slot is zeroed and reused. Not thread-safe: the index's owner serializes access.
final class BitmapArena {
    private var storage: WordBuffer
    /// The first word of slot 0 (changes when the storage grows).
    private(set) var base: UnsafeMutablePointer<UInt64>
    /// Words per slot.
    private(set) var slotWords: Int
    /// Slots handed out so far (in use or free).
    private var slotCount = 0
    private var free: [Int] = []

    /// An empty arena whose slots start with room for `words` words.
    init(words: Int = 8) {
        var size = 8
        while size < words { size *= 2 }
        slotWords = size
        storage = WordBuffer(capacity: size)
        base = storage.base
    }

    /// Number of slots in use.
    var inUse: Int { slotCount - free.count }

    /// Whether the storage is mapped with the huge-page advice.
    var isHugePageAdvised: Bool { storage.isHugePageAdvised }

    /// A zeroed slot with room for at least `words` words.
    func allocate(words: Int) -> Int {
        reserve(words: words)
        if let slot = free.popLast() { return slot }
        slotCount += 1
        storage.reserve(slotCount * slotWords)
        base = storage.base
        return slotCount - 1
    }

    /// Zeroes `slot` and takes it back.
    func release(_ slot: Int) {
        precondition(slot >= 0 && slot < slotCount && !free.contains(slot), "a slot in use")
        (base + slot * slotWords).update(repeating: 0, count: slotWords)
        free.append(slot)
    }

    /// Gives every slot room for at least `words` words (new words are zero).
    @inline(__always)
    func reserve(words: Int) {
        if words > slotWords { widen(words) }
    }

    private func widen(_ words: Int) {
        var size = slotWords * 2
        while size < words { size *= 2 }
        let wider = WordBuffer(capacity: Swift.max(1, slotCount) * size)
        for slot in 0..<slotCount { (wider.base + slot * size).update(from: base + slot * slotWords, count: slotWords) }
        storage = wider
        base = wider.base
        slotWords = size
    }

    /// The words of `slot`.
    @inline(__always)
    func words(_ slot: Int) -> UnsafeMutablePointer<UInt64> { base + (slot &* slotWords) }
}

/// The words of one bitmap posting (a slot of a ``BitmapArena``), or none (``empty``): a collection of
/// ``BitmapArena/slotWords`` words, bit `d & 63` of word `d >> 6` standing for document `d`.
///
/// Copies share the words (a posting copied out by a query reads the same slot); only the posting's owner writes
/// them, under the index's lock.
struct BitmapWords: RandomAccessCollection {
    let arena: BitmapArena?
    let slot: Int

    /// No bitmap.
    static var empty: BitmapWords { BitmapWords(arena: nil, slot: 0) }

    init(arena: BitmapArena?, slot: Int) {
        self.arena = arena
        self.slot = slot
    }

    /// Calls `body` with the words (valid until the arena changes: a reader holds the index's lock).
    @inline(__always)
    func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt64>) throws -> R) rethrows -> R {
        guard let arena else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        return try body(UnsafeBufferPointer(start: arena.words(slot), count: arena.slotWords))
    }

    var startIndex: Int { 0 }
    var endIndex: Int { arena?.slotWords ?? 0 }
    var isEmpty: Bool { arena == nil }

    @inline(__always)
    subscript(_ w: Int) -> UInt64 {
        get {
            assert(w >= 0 && w < endIndex, "a word of the bitmap")
            return arena.unsafelyUnwrapped.words(slot)[w]
        }
        nonmutating set {
            assert(w >= 0 && w < endIndex, "a word of the bitmap")
            arena.unsafelyUnwrapped.words(slot)[w] = newValue
        }
    }
}
