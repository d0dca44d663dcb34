import CNeptuneIndex

/// A numeric index entry, ordered by value then document.
struct NumericEntry: Comparable {
    var value: Double
    var document: UInt32

    static func < (a: NumericEntry, b: NumericEntry) -> Bool {
        a.value < b.value || (a.value == b.value && a.document < b.document)
    }

    static func == (a: NumericEntry, b: NumericEntry) -> Bool {
        a.value == b.value && a.document == b.document
    }
}

/// A NUMERIC field: an ordered structure of (value, document) for ranges and sorted streaming, plus each
/// document's value for O(1) predicate checks and removal, kept in a column of the document's row (so that the
/// write path reads the key, the old value and the old tags from one cache line).
final class NumericStore {
    var tree: NumericBlocks
    /// Each document's value as `bitPattern ^ Self.absent`: 0 (the column's initial value) when absent.
    let values: RowColumn
    let indexed: Bool
    /// What the write in progress's prefetches found in `tree` (runs of bounds, block indices; -1: nothing) for
    /// the new entry and the current one, so that its change does not search for them again. Each is checked
    /// against the bounds before use, so a stale one costs a search, never a wrong answer.
    private var newRun = -1
    private var currentRun = -1
    private var newBlock = -1
    private var currentBlock = -1

    /// The bit pattern stored values are XORed with, so that an absent value (NaN) is stored as 0.
    static let absent = Double.nan.bitPattern

    /// - Parameter positions: A byte per document for its position in its block (``NumericBlocks/positions``);
    ///   nil to scan blocks on removal instead.
    init(indexed: Bool, values: RowColumn, positions: DocumentBytes?) {
        self.indexed = indexed
        self.values = values
        self.tree = NumericBlocks(positions: positions)
    }

    /// The document's value (NaN when absent).
    @inline(__always)
    func number(_ document: UInt32) -> Double {
        Double(bitPattern: values[document] ^ Self.absent)
    }

    func value(_ document: UInt32) -> Double? {
        let word = values[document]
        return word == 0 ? nil : Double(bitPattern: word ^ Self.absent)
    }

    /// Starts fetching the bounds a search for `value` reads (``NumericBlocks/prefetchBound(_:)``), and the
    /// position of `hint`'s entry: the first round of a write's prefetches, before the document's ID is checked.
    @inline(__always)
    func prefetchBound(_ value: Double, hint: UInt32) {
        guard indexed else { return }
        tree.positions?.prefetch(hint)
        newRun = tree.prefetchBound(NumericEntry(value: value, document: 0))
    }

    /// Starts fetching the bounds a search for the document's current entry reads, if it has one.
    @inline(__always)
    func prefetchCurrentBound(_ document: UInt32) {
        guard indexed else { return }
        let word = values[document]
        if word != 0 {
            currentRun = tree.prefetchBound(NumericEntry(value: Double(bitPattern: word ^ Self.absent), document: document))
        }
    }

    /// Starts fetching the lines of the block the document's new entry goes to, unless the value is unchanged
    /// (``NumericBlocks/prefetchBlock(_:forRemoval:)``).
    @inline(__always)
    func prefetchBlock(_ document: UInt32, _ value: Double) {
        guard indexed, !value.isNaN, values[document] != value.bitPattern ^ Self.absent else { return }
        newBlock = tree.prefetchBlock(NumericEntry(value: value, document: document), forRemoval: false, run: newRun)
    }

    /// Starts fetching the lines of the block the new entry goes to without reading the document's row (which may
    /// not have arrived yet): `hint` is the caller's guess of the document's ID, which only orders equal values,
    /// and an unchanged value costs a needless prefetch.
    @inline(__always)
    func prefetchNewBlock(_ hint: UInt32, _ value: Double) {
        guard indexed, !value.isNaN else { return }
        newBlock = tree.prefetchBlock(NumericEntry(value: value, document: hint), forRemoval: false, run: newRun)
    }

    /// Starts fetching the lines of the block holding the document's current entry (if it has one), unless
    /// `newValue` is the same.
    @inline(__always)
    func prefetchCurrentBlock(_ document: UInt32, _ newValue: Double) {
        guard indexed else { return }
        let word = values[document]
        guard word != 0, word != newValue.bitPattern ^ Self.absent else { return }
        currentBlock = tree.prefetchBlock(NumericEntry(value: Double(bitPattern: word ^ Self.absent), document: document),
                                          forRemoval: true, run: currentRun)
    }

    /// Sets the document's value (nil: none). A new value that stays inside the block of the current one is
    /// changed in place (``NumericBlocks/replaceInPlace(_:with:hint:)``).
    func set(_ document: UInt32, _ newValue: Double?) {
        let oldWord = values[document]
        let new = newValue ?? .nan
        let newWord = new.isNaN ? 0 : new.bitPattern ^ Self.absent
        let (currentBlock, newBlock) = (self.currentBlock, self.newBlock)
        (newRun, currentRun, self.newBlock, self.currentBlock) = (-1, -1, -1, -1)
        if oldWord == newWord { return }
        if indexed {
            let old = NumericEntry(value: Double(bitPattern: oldWord ^ Self.absent), document: document)
            let entry = NumericEntry(value: new, document: document)
            if oldWord == 0 {
                tree.insert(entry, hint: newBlock)
            } else if newWord == 0 {
                tree.remove(old, hint: currentBlock)
            } else if !tree.replaceInPlace(old, with: entry, hint: currentBlock) {
                tree.remove(old, hint: currentBlock)
                tree.insert(entry, hint: newBlock)
            }
        }
        values[document] = newWord
    }

    /// Number of documents whose value lies in `range`.
    func count(_ range: NumericRange) -> Int {
        guard indexed, range.min <= range.max else { return 0 }
        return tree.count(in: range)
    }

    /// The documents whose value lies in `range`, ascending.
    func documents(_ range: NumericRange) -> [UInt32] {
        guard indexed, range.min <= range.max else { return [] }
        var result: [UInt32] = []
        tree.forEach(in: range) { result.append($0.document) }
        result.sort()
        return result
    }
}

/// A TAG field: each distinct tag interned to a dense tag ID with its sorted document-ID set, each document's tag
/// IDs, and each document's raw value where it differs from its tag (for SORTBY).
///
/// The write path allocates nothing when a value does not change, nor when a single-tag value moves a document
/// to a tag that exists: it looks the new tag up by its bytes (a ``ByteKeyTable`` probe, no key array built) and
/// moves the document between two posting sets, each changed in place. A tag with one or two documents keeps them
/// inline; a tag whose set empties is released (its bytes stay in the interner's arena until compaction) and its
/// ID reused.
final class TagStore {
    /// Tags interned to tag IDs.
    var tags = ByteInterner()
    /// Documents of each tag ID.
    var postings: [TagPosting] = []
    /// The storage of the postings that are bitmaps.
    let bitmaps = BitmapArena()
    /// For each tag ID, its bitmap's slot in `bitmaps` plus one (0: not a bitmap), kept beside `postings` so that
    /// a write's prefetch reads a plain word instead of the postings array (which would retain it).
    private let bitmapSlots = WordBuffer()
    /// Each document's tag ID, or ``none``, or ``many`` (the IDs are then in `multipleTags`), with ``keptRaw`` set
    /// when its raw value is in `rawValues`; stored XOR ``none`` in a column of the document's row (so a new row's
    /// 0 reads as ``none``).
    let documentTags: RowColumn
    var multipleTags: [UInt32: [UInt32]] = [:]
    /// The raw values that differ from their single tag's bytes (most values are one tag already in normal form:
    /// no copy kept); see ``rawValue(_:)``.
    var rawValues: [UInt32: [UInt8]] = [:]
    /// The normalized tag of the value being written (reused).
    private var scratch: [UInt8] = []
    /// How the value ``prefetch(_:_:)`` last found a tag ID for normalizes, so that ``set(_:_:lookup:)`` given that
    /// ID does not scan the value again.
    private var prefetchedKind = SingleTag.asIs
    let separator: UInt8
    let caseSensitive: Bool
    let indexed: Bool

    static let none: UInt32 = 0x7FFF_FFFF
    static let many: UInt32 = 0x7FFF_FFFE
    /// What ``prefetch(_:_:)`` returns when it did not find the new value's tag ID (not interned yet, or a value
    /// the single-tag path does not take).
    static let unknown: UInt32 = 0xFFFF_FFFF
    /// Flag of a `documentTags` entry whose document has its raw value in `rawValues`.
    static let keptRaw: UInt32 = 0x8000_0000

    init(separator: UInt8, caseSensitive: Bool, indexed: Bool, documentTags: RowColumn) {
        self.documentTags = documentTags
        self.separator = separator
        self.caseSensitive = caseSensitive
        self.indexed = indexed
    }

    /// Number of distinct tags indexed.
    var tagCount: Int { tags.count }

    /// A copy of the bytes of a tag ID in use.
    func bytes(_ id: UInt32) -> [UInt8] { tags.bytes(id)! }

    func normalize(_ tag: [UInt8]) -> [UInt8] {
        var lo = 0
        var hi = tag.count
        while lo < hi && FieldValues.isSpace(tag[lo]) { lo += 1 }
        while hi > lo && FieldValues.isSpace(tag[hi - 1]) { hi -= 1 }
        let trimmed = Array(tag[lo..<hi])
        return caseSensitive ? trimmed : FieldValues.lowercase(trimmed)
    }

    /// The tag ID of `tag`, if indexed.
    func tagID(_ tag: [UInt8]) -> UInt32? {
        tag.withUnsafeBytes { tags.find($0, hash: ByteKeyTable.hash($0)) }
    }

    /// The tag ID of `tag`, interning it if new.
    private func intern(_ tag: UnsafeRawBufferPointer) -> UInt32 {
        let hash = ByteKeyTable.hash(tag)
        if let id = tags.find(tag, hash: hash) { return id }
        let id = tags.add(tag, hash: hash)
        if Int(id) == postings.count { postings.append(TagPosting()) }
        return id
    }

    private func release(_ id: UInt32) {
        let hash = tags.withBytes(id) { ByteKeyTable.hash($0) }
        tags.remove(id, hash: hash)
        postings[Int(id)] = TagPosting()
    }

    /// The tag entry of a document: its state and ``keptRaw`` flag.
    @inline(__always)
    private func entry(_ i: Int) -> UInt32 { UInt32(truncatingIfNeeded: documentTags[UInt32(i)]) ^ Self.none }

    @inline(__always)
    private func setEntry(_ i: Int, _ entry: UInt32) { documentTags[UInt32(i)] = UInt64(entry ^ Self.none) }

    /// The tag state of a document (``none``, ``many`` or a tag ID), without the ``keptRaw`` flag.
    @inline(__always)
    private func state(_ i: Int) -> UInt32 { entry(i) & ~Self.keptRaw }

    /// The tag IDs of a document, ascending.
    func tagIDs(of document: UInt32) -> [UInt32] {
        let i = Int(document)
        switch state(i) {
        case Self.none: return []
        case Self.many: return multipleTags[document] ?? []
        case let id: return [id]
        }
    }

    /// Whether the document's raw value is kept apart (it differs from its single tag).
    func keepsRawValue(_ document: UInt32) -> Bool {
        entry(Int(document)) & Self.keptRaw != 0
    }

    /// A document's raw value (nil when it has none).
    func rawValue(_ document: UInt32) -> [UInt8]? {
        let i = Int(document)
        if entry(i) & Self.keptRaw != 0 { return rawValues[document] }
        let tag = state(i)
        return tag == Self.none || tag == Self.many ? nil : bytes(tag)
    }

    /// Whether `raw` is the document's current raw value (nil: no value).
    @inline(__always)
    private func isCurrent(_ i: Int, _ raw: UnsafeRawBufferPointer?) -> Bool {
        let tag = entry(i)
        if tag & Self.keptRaw != 0 {
            guard let raw, let kept = rawValues[UInt32(i)] else { return false }
            return kept.withUnsafeBytes { $0.elementsEqual(raw) }
        }
        guard tag != Self.none else { return raw == nil }
        guard let raw, tag != Self.many else { return false }
        return tags.equals(tag, raw)
    }

    /// Sets or clears the document's kept raw value.
    @inline(__always)
    private func keepRaw(_ i: Int, _ raw: UnsafeRawBufferPointer?) {
        if let raw {
            rawValues[UInt32(i)] = Array(raw)
            setEntry(i, entry(i) | Self.keptRaw)
        } else if entry(i) & Self.keptRaw != 0 {
            rawValues[UInt32(i)] = nil
            setEntry(i, entry(i) & ~Self.keptRaw)
        }
    }

    /// Sets the document's tag state, keeping its ``keptRaw`` flag.
    @inline(__always)
    private func setState(_ i: Int, _ tag: UInt32) {
        setEntry(i, (entry(i) & Self.keptRaw) | tag)
    }

    /// Sets the document's value (nil: none).
    ///
    /// - Parameter lookup: What ``prefetch(_:_:)`` returned for this document and value, with nothing changed in
    ///   this store since: the new tag's ID, which is then not looked up again; ``unknown`` to look it up.
    func set(_ document: UInt32, _ raw: UnsafeRawBufferPointer?, lookup: UInt32 = TagStore.unknown) {
        let i = Int(document)
        // The same raw value gives the same tags: nothing to do (a rewrite of the other fields).
        guard indexed else {
            keepRaw(i, raw)
            return
        }
        // With the new tag's ID known (and the value that tag's own bytes), the value is current exactly when the
        // document has that tag and no raw value kept apart: no comparison of bytes.
        if lookup != Self.unknown && prefetchedKind == .asIs && entry(i) & Self.keptRaw == 0 {
            if state(i) == lookup { return }
        } else if isCurrent(i, raw) {
            return
        }
        let old = state(i)
        // Fast path: a single ASCII tag (or a blank value) replacing a single tag (or none).
        if old != Self.many, let raw, let kind = lookup != Self.unknown ? prefetchedKind : normalizeSingle(raw) {
            let new = lookup != Self.unknown ? lookup : internSingle(kind, raw)
            keepRaw(i, kind != .asIs ? raw : nil)
            if new == old { return }
            if old != Self.none { removePosting(old, document) }
            if new != Self.none { addPosting(new, document) }
            setState(i, new)
            return
        }
        let oldIDs = tagIDs(of: document)
        var newIDs: [UInt32] = []
        if let raw {
            if let kind = normalizeSingle(raw) {
                let id = internSingle(kind, raw)
                if id != Self.none { newIDs = [id] }
            } else {
                let tags = FieldValues.tags(Array(raw), separator: separator, caseSensitive: caseSensitive)
                newIDs = tags.map { tag in tag.withUnsafeBytes { intern($0) } }.sorted()
            }
        }
        for id in oldIDs where !Self.contains(newIDs, id) { removePosting(id, document) }
        for id in newIDs where !Self.contains(oldIDs, id) { addPosting(id, document) }
        if newIDs.count > 1 {
            setState(i, Self.many)
            multipleTags[document] = newIDs
        } else {
            if old == Self.many { multipleTags[document] = nil }
            setState(i, newIDs.first ?? Self.none)
        }
        let same = newIDs.count == 1 && raw.map { tags.equals(newIDs[0], $0) } == true
        keepRaw(i, same ? nil : raw)
    }

    @inline(__always)
    private static func contains(_ sorted: [UInt32], _ id: UInt32) -> Bool {
        SearchIndex.binarySearch(sorted, id)
    }

    /// How a value without the separator and with ASCII bytes only normalizes: to itself, to the (trimmed or
    /// lowercased) copy left in `scratch`, or to no tag (blank).
    enum SingleTag {
        case asIs
        case scratch
        case blank
    }

    /// Normalizes a value holding at most one tag (ASCII, no separator) into a ``SingleTag``; nil when the value
    /// needs the general path.
    @inline(__always)
    private func normalizeSingle(_ raw: UnsafeRawBufferPointer) -> SingleTag? {
        var upper = false
        for byte in raw {
            if byte == separator || byte >= 0x80 { return nil }
            if byte &- 0x41 < 26 { upper = true }
        }
        var lo = 0
        var hi = raw.count
        while lo < hi && FieldValues.isSpace(raw[lo]) { lo += 1 }
        while hi > lo && FieldValues.isSpace(raw[hi - 1]) { hi -= 1 }
        if lo == hi { return .blank }
        let lowercase = upper && !caseSensitive
        if lo == 0 && hi == raw.count && !lowercase { return .asIs }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[lo..<hi]))
        if lowercase {
            scratch.withUnsafeMutableBufferPointer { buffer in
                for i in buffer.indices where buffer[i] &- 0x41 < 26 { buffer[i] |= 0x20 }
            }
        }
        return .scratch
    }

    /// The tag ID for a value ``normalizeSingle(_:)`` accepted, interning the tag if new (``none`` when blank).
    @inline(__always)
    private func internSingle(_ kind: SingleTag, _ raw: UnsafeRawBufferPointer) -> UInt32 {
        switch kind {
        case .asIs: intern(raw)
        case .scratch: scratch.withUnsafeBytes { intern($0) }
        case .blank: Self.none
        }
    }

    /// Starts fetching what a ``set(_:_:lookup:)`` of a single-tag value will touch in bitmap postings: the
    /// document's bit in its current tag's bitmap and in the new tag's. Returns the new tag's ID (``none`` for a
    /// blank value) for that `set` to reuse, or ``unknown`` if the tag is not interned or the value is not a single
    /// tag.
    func prefetch(_ document: UInt32, _ raw: UnsafeRawBufferPointer?) -> UInt32 {
        prefetchCurrent(document)
        return prefetchNew(document, raw)
    }

    /// Starts fetching the document's bit in its current tag's bitmap (the first half of ``prefetch(_:_:)``,
    /// which reads the document's row).
    @inline(__always)
    func prefetchCurrent(_ document: UInt32) {
        guard indexed else { return }
        let old = state(Int(document))
        if old != Self.none && old != Self.many { prefetchBit(old, document) }
    }

    /// The second half of ``prefetch(_:_:)``: looks the new value's tag up and starts fetching the document's bit
    /// in its bitmap, without reading the document's row (`document` may be a guess: a wrong one costs a needless
    /// prefetch), so a write can call it before the row arrives.
    func prefetchNew(_ document: UInt32, _ raw: UnsafeRawBufferPointer?) -> UInt32 {
        guard indexed, let raw, let kind = normalizeSingle(raw) else { return Self.unknown }
        let new: UInt32?
        switch kind {
        case .asIs: new = tags.find(raw, hash: ByteKeyTable.hash(raw))
        case .scratch: new = scratch.withUnsafeBytes { tags.find($0, hash: ByteKeyTable.hash($0)) }
        case .blank:
            prefetchedKind = .blank
            return Self.none
        }
        guard let new else { return Self.unknown }
        prefetchBit(new, document)
        prefetchedKind = kind
        return new
    }

    /// Starts fetching the document's bit in tag `id`'s posting if it is a bitmap. The bitmap's slot is read as a
    /// plain word out of `postings` (copying the posting out would retain its references: atomic changes of lines
    /// that may not be in cache); a prefetch never faults, so a word past the slot is harmless.
    @inline(__always)
    private func prefetchBit(_ id: UInt32, _ document: UInt32) {
        guard Int(id) < bitmapSlots.capacity else { return }
        let slot = bitmapSlots[Int(id)]
        guard slot != 0 else { return }
        neptune_prefetch_write(bitmaps.words(Int(slot) - 1) + Int(document >> 6))
    }

    /// Records in `bitmapSlots` whether tag `id`'s posting is a bitmap, and where.
    @inline(__always)
    private func noteBitmap(_ id: UInt32) {
        let i = Int(id)
        let slot: UInt64 = postings[i].bitCount > 0 ? UInt64(postings[i].bits.slot + 1) : 0
        if i >= bitmapSlots.capacity {
            guard slot != 0 else { return }
            bitmapSlots.reserve(i + 1)
        }
        bitmapSlots[i] = slot
    }

    @inline(__always)
    private func addPosting(_ id: UInt32, _ document: UInt32) {
        postings[Int(id)].insert(document, idCapacity: documentTags.idCapacity, bitmaps: bitmaps)
        noteBitmap(id)
    }

    @inline(__always)
    private func removePosting(_ id: UInt32, _ document: UInt32) {
        if postings[Int(id)].remove(document, idCapacity: documentTags.idCapacity) { release(id) }
        noteBitmap(id)
    }

    /// The postings of the tags matching the patterns (already normalized), each tag once.
    func lists(_ patterns: [TagPattern]) -> [TagPosting] {
        guard indexed else { return [] }
        var result: [TagPosting] = []
        var prefixes: [[UInt8]] = []
        var seen: Set<UInt32> = []
        for pattern in patterns {
            switch pattern {
            case .exact(let tag):
                if let id = tagID(tag), seen.insert(id).inserted { result.append(postings[Int(id)]) }
            case .prefix(let prefix):
                prefixes.append(prefix)
            }
        }
        if !prefixes.isEmpty {
            var live: [UInt32] = []
            tags.forEachLive { if !seen.contains($0) { live.append($0) } }
            for id in live where tags.withBytes(id, { tag in prefixes.contains { tag.starts(with: $0) } }) {
                result.append(postings[Int(id)])
            }
        }
        return result
    }

    /// Whether the document has a tag matching one of the patterns (already normalized).
    func matches(_ document: UInt32, _ patterns: [TagPattern]) -> Bool {
        guard indexed else { return false }
        switch state(Int(document)) {
        case Self.none: return false
        case Self.many: return (multipleTags[document] ?? []).contains { matches(tag: $0, patterns) }
        case let id: return matches(tag: id, patterns)
        }
    }

    private func matches(tag id: UInt32, _ patterns: [TagPattern]) -> Bool {
        tags.withBytes(id) { (bytes) -> Bool in
            for pattern in patterns {
                switch pattern {
                case .exact(let tag): if bytes.elementsEqual(tag) { return true }
                case .prefix(let prefix): if bytes.starts(with: prefix) { return true }
                }
            }
            return false
        }
    }
}

/// The documents of one tag, changed in place: most tags of a field with many distinct values have one or two
/// documents, kept inline (no allocation); a third moves them all into a ``SortedBlockList``; and a tag holding
/// many of the index's documents (a category) becomes a bitmap over document IDs, which a write changes by one bit
/// in one cache line instead of moving a block's entries.
///
/// A tag becomes a bitmap once the bitmap is at most ``bitmapFactor`` times the size of its list (its documents
/// number at least `idCapacity / (32 · bitmapFactor)`, and at least ``bitmapMinimum``), and goes back to a list
/// when it falls to a quarter of that.
struct TagPosting {
    /// Inline documents, ascending (``TagStore/none`` when absent); used only while `more` and `bits` are empty.
    var first = TagStore.none
    var second = TagStore.none
    var more = SortedBlockList<UInt32>()
    /// One bit per document ID (bit `d & 63` of word `d >> 6`), in a slot of the field's ``BitmapArena``; used
    /// instead of the others while not empty.
    var bits = BitmapWords.empty
    /// Number of bits set in `bits`.
    var bitCount = 0

    /// How much larger than the list a tag's bitmap may be.
    static let bitmapFactor = 8
    /// Fewest documents a bitmap holds.
    static let bitmapMinimum = 1024

    var count: Int {
        if !bits.isEmpty { return bitCount }
        if !more.isEmpty { return more.count }
        return (first == TagStore.none ? 0 : 1) + (second == TagStore.none ? 0 : 1)
    }

    /// Whether the documents are kept as a bitmap.
    var isBitmap: Bool { !bits.isEmpty }

    /// Adds a document (no-op if present).
    ///
    /// - Parameters:
    ///   - idCapacity: Bound of the document IDs for the bitmap decision (the index's ID capacity).
    ///   - bitmaps: Where the posting keeps its bitmap if it becomes one (the field's arena).
    @inline(__always)
    mutating func insert(_ document: UInt32, idCapacity: Int, bitmaps: BitmapArena) {
        if !bits.isEmpty {
            let word = Int(document >> 6)
            if word >= bits.count { bits.arena.unsafelyUnwrapped.reserve(words: word + 1) }
            let bit: UInt64 = 1 << (document & 63)
            if bits[word] & bit == 0 {
                bits[word] |= bit
                bitCount += 1
            }
        } else if !more.isEmpty {
            more.insert(document)
            let count = more.count
            if count >= Self.bitmapMinimum && count * 32 * Self.bitmapFactor >= idCapacity { toBitmap(idCapacity, bitmaps) }
        } else if first == TagStore.none {
            first = document
        } else if document == first || document == second {
            return
        } else if second == TagStore.none {
            if document < first {
                second = first
                first = document
            } else {
                second = document
            }
        } else {
            more.insert(first)
            more.insert(second)
            more.insert(document)
            first = TagStore.none
            second = TagStore.none
        }
    }

    /// Removes a document; returns true if no document is left.
    @inline(__always)
    mutating func remove(_ document: UInt32, idCapacity: Int) -> Bool {
        if !bits.isEmpty {
            let word = Int(document >> 6)
            let bit: UInt64 = 1 << (document & 63)
            if word < bits.count && bits[word] & bit != 0 {
                bits[word] &= ~bit
                bitCount -= 1
                if bitCount == 0 {
                    releaseBitmap()
                    return true
                }
                if bitCount * 32 * Self.bitmapFactor * 4 < idCapacity || bitCount * 4 < Self.bitmapMinimum { toList() }
            }
            return false
        }
        if !more.isEmpty {
            more.remove(document)
            return more.isEmpty
        }
        if document == first {
            first = second
            second = TagStore.none
        } else if document == second {
            second = TagStore.none
        }
        return first == TagStore.none
    }

    private mutating func toBitmap(_ idCapacity: Int, _ bitmaps: BitmapArena) {
        // The list is ascending: its last document needs the most words.
        let last = Int(more.blocks.last?.last ?? 0)
        bitmaps.reserve(words: (last >> 6) + 1)
        let words = BitmapWords(arena: bitmaps, slot: bitmaps.allocate(words: Swift.max(1, (idCapacity + 63) >> 6)))
        var n = 0
        for block in more.blocks {
            for document in block {
                words[Int(document >> 6)] |= 1 << (document & 63)
                n += 1
            }
        }
        bits = words
        bitCount = n
        more = SortedBlockList()
    }

    /// Gives the bitmap's slot back to its arena.
    private mutating func releaseBitmap() {
        bits.arena?.release(bits.slot)
        bits = .empty
        bitCount = 0
    }

    private mutating func toList() {
        var list = SortedBlockList<UInt32>()
        forEach { list.insert($0) }
        more = list
        releaseBitmap()
        if more.isEmpty { return }
        if more.count <= 2 {
            let documents = more.elements
            more = SortedBlockList()
            first = documents[0]
            second = documents.count == 2 ? documents[1] : TagStore.none
        }
    }

    /// Whether `document` is in the posting.
    func contains(_ document: UInt32) -> Bool {
        if !bits.isEmpty {
            let word = Int(document >> 6)
            return word < bits.count && bits[word] & (1 << (document & 63)) != 0
        }
        if !more.isEmpty { return more.contains(document) }
        return document != TagStore.none && (document == first || document == second)
    }

    /// Calls `body` with each document, ascending.
    func forEach(_ body: (UInt32) -> Void) {
        if !bits.isEmpty {
            bits.withUnsafeBufferPointer { words in
                for (w, word) in words.enumerated() where word != 0 {
                    var rest = word
                    while rest != 0 {
                        body(UInt32(w << 6 | rest.trailingZeroBitCount))
                        rest &= rest &- 1
                    }
                }
            }
        } else if !more.isEmpty {
            for block in more.blocks { for document in block { body(document) } }
        } else {
            if first != TagStore.none { body(first) }
            if second != TagStore.none { body(second) }
        }
    }

    /// Appends the documents, ascending, to `result`.
    func append(to result: inout [UInt32]) {
        if !more.isEmpty {
            for block in more.blocks { result.append(contentsOf: block) }
            return
        }
        forEach { result.append($0) }
    }

    /// The documents, ascending.
    var documents: [UInt32] {
        var result: [UInt32] = []
        result.reserveCapacity(count)
        append(to: &result)
        return result
    }

    /// The posting's invariants: one representation in use, counts that match, ascending documents.
    var isConsistent: Bool {
        if !bits.isEmpty {
            return more.isEmpty && first == TagStore.none && bitCount == bits.reduce(0) { $0 + $1.nonzeroBitCount }
                && bitCount > 0
        }
        if !more.isEmpty { return first == TagStore.none && second == TagStore.none }
        return second == TagStore.none || (first != TagStore.none && first < second)
    }
}

/// A TEXT field: accepted in schemas; values are kept only when SORTABLE (lowercased, for SORTBY).
final class TextStore {
    var sortValues: [[UInt8]?] = []
    let sortable: Bool

    init(sortable: Bool) {
        self.sortable = sortable
    }

    func set(_ document: UInt32, _ raw: UnsafeRawBufferPointer?) {
        guard sortable else { return }
        let i = Int(document)
        if i >= sortValues.count { sortValues.append(contentsOf: repeatElement(nil, count: i + 1 - sortValues.count)) }
        sortValues[i] = raw.map { FieldValues.lowercase(Array($0)) }
    }

    func value(_ document: UInt32) -> [UInt8]? {
        let i = Int(document)
        return i < sortValues.count ? sortValues[i] : nil
    }
}

enum FieldStore {
    case numeric(NumericStore)
    case tag(TagStore)
    case text(TextStore)
}
