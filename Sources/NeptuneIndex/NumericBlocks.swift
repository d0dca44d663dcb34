import CNeptuneIndex

/// The ordered structure of a NUMERIC field: its (value, document) entries in blocks that partition the entry
/// order (every entry of block `b` is above `bounds[b - 1]` and at most `bounds[b]`), while the entries inside a
/// block are kept in no particular order, each entry its document ID and value side by side (12 bytes).
///
/// A write moves one document: it removes the old entry and inserts the new one, each in a block found by a search
/// over the bounds. Inserting appends to the block (one line, not a sorted insertion that moves half a block);
/// removing scans the block's document IDs for the document and moves the block's last entry into its
/// place. A full block is split in two around its median (a selection, amortized over the appends that filled it);
/// a block that falls under half full is merged with its successor when both fit in half a block.
///
/// The layout is chosen so that finding and changing a block costs two rounds of cache misses that a write can
/// request early (``prefetchBound(_:)``, then ``prefetchBlock(_:forRemoval:run:)``):
/// - ``Bound``s are 16 bytes each: the bound entry, plus the block's storage slot and its entry count. A search
///   goes through a small summary first (every 32nd bound, a few kilobytes: in L1), which names one run of 32
///   bounds (512 bytes) to search; so a lookup is one run of lines, not a chain of dependent misses down a binary
///   search over a large array.
/// - Every block has a fixed slot of ``slotBytes`` in one buffer (``WordBuffer``: huge pages once large), whose
///   address is the slot number times the slot size: no array of array references to read (or retain) first.
///   Knowing the count from the bound, an append touches the line it writes, and a removal the lines it scans.
///
/// - With ``positions`` (a byte per document in a dense array, ``DocumentBytes``, which stays in cache and which a
///   write requests with the document's row), each entry's index inside its block is kept up to date, so a removal
///   goes straight to the entry instead of scanning the block's document IDs: it touches the entry's line and the
///   last entry's line (which moves into the hole; the moved document's position is then rewritten, a store to
///   the small array rather than to that document's row). A split or merge rewrites the positions of the entries
///   it moves (amortized over the appends that filled the block).
///
/// Readers pay instead: a range reads the blocks whose bounds overlap it and filters the one or two at its ends;
/// sorted streaming sorts each block it reaches (a block at a time, so a page near the start costs a few blocks).
/// A document has at most one entry (the store removes a document's entry before inserting its new one).
///
/// The slots are shared by copies of the structure, so a copy must not be changed (the index keeps one in a
/// `var` of a class, and its readers only read).
struct NumericBlocks {
    /// One block: its bound (the largest entry it may hold), where its entries are stored, and how many there are.
    struct Bound {
        var value: Double
        var document: UInt32
        /// The slot number (high 24 bits) and the entry count (low 8 bits).
        var packed: UInt32

        init(_ entry: NumericEntry, slot: Int, count: Int) {
            value = entry.value
            document = entry.document
            packed = UInt32(slot) << 8 | UInt32(count)
        }

        @inline(__always)
        var entry: NumericEntry {
            get { NumericEntry(value: value, document: document) }
            set {
                value = newValue.value
                document = newValue.document
            }
        }

        @inline(__always)
        var slot: Int { Int(packed >> 8) }

        @inline(__always)
        var count: Int {
            get { Int(packed & 0xFF) }
            set { packed = packed & ~0xFF | UInt32(newValue) }
        }
    }

    /// The blocks in entry order; `bounds[b].entry` is at least every entry of block `b` and below every entry of
    /// block `b + 1`.
    var bounds: [Bound] = []
    /// `summary[c]` is the entry of the last bound of run `c` (bounds `c * run ..< (c + 1) * run`).
    private var summary: [NumericEntry] = []
    /// The blocks' storage slots.
    private let slots = WordBuffer()
    /// Slots allocated so far (in use or free).
    private var slotCount = 0
    private var freeSlots: [Int] = []
    private(set) var count = 0
    /// Each document's index inside its block, kept while it has an entry (nil: removals scan instead).
    let positions: DocumentBytes?

    /// Largest block: 128 entries (1.5 KiB). At most 256, so that a position fits a byte of ``positions``.
    static let maxBlock = 128
    /// Bounds per summary entry.
    static let run = 32
    /// Bytes of an entry in a slot: the document ID, then the value (8 bytes at offset 4, loaded unaligned), packed
    /// together so that a write reads or changes one line per entry (an entry crosses a line boundary 2 times in
    /// 16), where parallel arrays of IDs and values cost two.
    static let entryBytes = 12
    private static let valueOffset = 4
    /// Bytes of a block's slot.
    static let slotBytes = maxBlock * entryBytes

    /// An empty structure; with `positions` (a byte holds every index below ``maxBlock``), removals find entries
    /// through them instead of scanning their block.
    init(positions: DocumentBytes? = nil) {
        self.positions = positions
    }

    var isEmpty: Bool { count == 0 }

    /// Number of blocks.
    var blockCount: Int { bounds.count }

    // MARK: Slots

    @inline(__always)
    private func slotAddress(_ slot: Int) -> UnsafeMutableRawPointer {
        UnsafeMutableRawPointer(slots.base) + (slot &* Self.slotBytes)
    }

    @inline(__always)
    private func document(_ slot: Int, _ i: Int) -> UInt32 {
        slotAddress(slot).load(fromByteOffset: i &* Self.entryBytes, as: UInt32.self)
    }

    @inline(__always)
    private func value(_ slot: Int, _ i: Int) -> Double {
        slotAddress(slot).loadUnaligned(fromByteOffset: i &* Self.entryBytes &+ Self.valueOffset, as: Double.self)
    }

    /// Stores `entry` at index `i` of `slot` and records that position.
    @inline(__always)
    private func store(_ entry: NumericEntry, _ slot: Int, _ i: Int) {
        let base = slotAddress(slot) + (i &* Self.entryBytes)
        base.storeBytes(of: entry.document, as: UInt32.self)
        base.storeBytes(of: entry.value, toByteOffset: Self.valueOffset, as: Double.self)
        positions?[entry.document] = i
    }

    private mutating func allocateSlot() -> Int {
        if let slot = freeSlots.popLast() { return slot }
        precondition(slotCount < 1 << 24, "at most 2^24 numeric blocks")
        slotCount += 1
        slots.reserve(slotCount * Self.slotBytes / 8)
        return slotCount - 1
    }

    /// The entries of block `b`, in storage order.
    func entries(ofBlock b: Int) -> [NumericEntry] {
        let bound = bounds[b]
        return (0..<bound.count).map { NumericEntry(value: value(bound.slot, $0), document: document(bound.slot, $0)) }
    }

    // MARK: Search

    /// `a < b` computed without branches: a search's comparisons go either way at random, so as branches about
    /// half of them would be mispredicted (a write searches a few times per field).
    @inline(__always)
    static func isLess(_ a: NumericEntry, _ b: NumericEntry) -> Bool {
        let below = a.value < b.value ? 1 : 0
        let tie = (a.value == b.value ? 1 : 0) & (a.document < b.document ? 1 : 0)
        return below | tie != 0
    }

    /// Index of the first of the `count` elements at `start` (ascending, `entry(at:)` reading one) that is >=
    /// `entry`, or `start + count`: a search whose steps select instead of branching.
    @inline(__always)
    private static func lowerBound(_ start: Int, _ count: Int, _ entry: NumericEntry,
                                   _ element: (Int) -> NumericEntry) -> Int {
        guard count > 0 else { return start }
        var base = start
        var n = count
        while n > 1 {
            let half = n >> 1
            base = isLess(element(base &+ half), entry) ? base &+ half : base
            n &-= half
        }
        return base &+ (isLess(element(base), entry) ? 1 : 0)
    }

    /// Index of the first block whose bound is >= `entry`, or `blockCount`.
    @inline(__always)
    func blockIndex(atLeast entry: NumericEntry) -> Int {
        blockIndex(atLeast: entry, inRun: run(atLeast: entry))
    }

    /// ``blockIndex(atLeast:)`` given the run ``run(atLeast:)`` returned for `entry` (the bounds not changed since).
    @inline(__always)
    private func blockIndex(atLeast entry: NumericEntry, inRun run: Int) -> Int {
        guard run < summary.count else { return bounds.count }
        return bounds.withUnsafeBufferPointer { bounds in
            // The answer is in this run, whose last bound is >= entry.
            let first = run &* Self.run
            return Self.lowerBound(first, Swift.min(Self.run, bounds.count &- first), entry) { bounds[$0].entry }
        }
    }

    /// ``blockIndex(atLeast:)``, trying `hint` first: a block index found earlier for `entry` (by the write's
    /// prefetch), taken if the bounds around it still enclose `entry` (two comparisons of lines in cache), else
    /// searched for again. Any hint gives the right answer.
    @inline(__always)
    func blockIndex(atLeast entry: NumericEntry, hint: Int) -> Int {
        let fits: Bool = bounds.withUnsafeBufferPointer { bounds in
            guard hint >= 0, hint <= bounds.count else { return false }
            if hint > 0 && !Self.isLess(bounds[hint &- 1].entry, entry) { return false }
            return hint == bounds.count || !Self.isLess(bounds[hint].entry, entry)
        }
        return fits ? hint : blockIndex(atLeast: entry)
    }

    /// ``run(atLeast:)``, trying `hint` first (a run found for an entry near `entry`: taken if the summary around
    /// it encloses `entry`, else searched for again).
    @inline(__always)
    private func run(atLeast entry: NumericEntry, hint: Int) -> Int {
        let fits: Bool = summary.withUnsafeBufferPointer { summary in
            guard hint >= 0, hint <= summary.count else { return false }
            if hint > 0 && !Self.isLess(summary[hint &- 1], entry) { return false }
            return hint == summary.count || !Self.isLess(summary[hint], entry)
        }
        return fits ? hint : run(atLeast: entry)
    }

    /// Index of the first run whose last bound is >= `entry` (a search of the summary alone), or the number of
    /// runs.
    @inline(__always)
    private func run(atLeast entry: NumericEntry) -> Int {
        summary.withUnsafeBufferPointer { summary in Self.lowerBound(0, summary.count, entry) { summary[$0] } }
    }

    /// Sets the summary entries of runs `run...` from the bounds.
    private mutating func resummarize(fromRun run: Int) {
        let runs = (bounds.count + Self.run - 1) / Self.run
        if summary.count > runs { summary.removeLast(summary.count - runs) }
        while summary.count < runs { summary.append(NumericEntry(value: 0, document: 0)) }
        for c in run..<runs { summary[c] = bounds[Swift.min(c * Self.run + Self.run - 1, bounds.count - 1)].entry }
    }

    /// Keeps the summary right after `bounds[b]`'s entry changed (blocks neither added nor removed).
    @inline(__always)
    private mutating func boundChanged(_ b: Int) {
        if b % Self.run == Self.run - 1 || b == bounds.count - 1 { summary[b / Self.run] = bounds[b].entry }
    }

    // MARK: Prefetch

    /// Starts fetching the run of bounds a search for `entry` reads (the summary is assumed in cache), so that
    /// ``prefetchBlock(_:forRemoval:run:)`` finds it there a little later.
    ///
    /// `mutating` although it changes nothing, as ``prefetchBlock(_:forRemoval:run:)``: the structure lives in a `var`
    /// of a class, and a non-mutating call would copy it (retaining each of its references) first.
    ///
    /// - Returns: The run searched (``run(atLeast:)``), for ``prefetchBlock(_:forRemoval:run:)`` to reuse.
    @inline(__always)
    @discardableResult
    mutating func prefetchBound(_ entry: NumericEntry) -> Int {
        let run = self.run(atLeast: entry)
        // Above every bound, the last run (the last block takes the entry).
        let first = Swift.min(run, Swift.max(summary.count - 1, 0)) &* Self.run
        bounds.withUnsafeBytes { raw in
            guard let base = raw.baseAddress, first < bounds.count else { return }
            let start = base + (first &* MemoryLayout<Bound>.stride)
            let end = base + (Swift.min(first &+ Self.run, bounds.count) &* MemoryLayout<Bound>.stride)
            Self.prefetchLines(start, end)
        }
        return run
    }

    /// Starts fetching the lines of the block where `entry` would be inserted (the line the next entry goes to)
    /// or, `forRemoval`, removed from (the entry's line, or the lines it scans, and the last entry's, which moves).
    ///
    /// - Parameter run: What ``prefetchBound(_:)`` returned for `entry` or an entry of the same value (any value:
    ///   it is checked; -1: not known).
    /// - Returns: The block index found (``blockIndex(atLeast:)``), for the change to pass as its hint.
    @inline(__always)
    @discardableResult
    mutating func prefetchBlock(_ entry: NumericEntry, forRemoval: Bool, run: Int = -1) -> Int {
        guard !bounds.isEmpty else { return -1 }
        let found = blockIndex(atLeast: entry, inRun: self.run(atLeast: entry, hint: run))
        let b = Swift.min(found, bounds.count - 1)
        let bound = bounds.withUnsafeBufferPointer { $0[b] }
        let base = slotAddress(bound.slot)
        let n = bound.count
        if forRemoval {
            guard n > 0 else { return found }
            if let positions {
                Self.prefetchEntry(base, Swift.min(positions[entry.document], n &- 1))
            } else {
                Self.prefetchLines(base, base + (n &* Self.entryBytes))
            }
            // The last entry, which moves into the removed one's place.
            Self.prefetchEntry(base, n &- 1)
        } else if n < Self.maxBlock {
            Self.prefetchEntry(base, n)
        }
        return found
    }

    /// Starts fetching (for writing) the line or two that entry `i` of the slot at `base` spans.
    @inline(__always)
    private static func prefetchEntry(_ base: UnsafeMutableRawPointer, _ i: Int) {
        let start = base + (i &* entryBytes)
        neptune_prefetch_write(start)
        neptune_prefetch_write(start + (entryBytes &- 1))
    }

    /// Prefetches every line that `start ..< end` touches.
    @inline(__always)
    private static func prefetchLines(_ start: UnsafeRawPointer, _ end: UnsafeRawPointer) {
        var line = UInt(bitPattern: start) & ~63
        let stop = UInt(bitPattern: end)
        while line < stop {
            neptune_prefetch(UnsafeRawPointer(bitPattern: line))
            line &+= 64
        }
    }

    // MARK: Changes

    /// Adds `entry`. A document has at most one entry (the store removes a document's entry before inserting its
    /// new one).
    ///
    /// - Parameter hint: A block index found earlier for `entry` (``blockIndex(atLeast:hint:)``; -1: none).
    mutating func insert(_ entry: NumericEntry, hint: Int = -1) {
        count += 1
        if bounds.isEmpty {
            let slot = allocateSlot()
            store(entry, slot, 0)
            bounds.append(Bound(entry, slot: slot, count: 1))
            resummarize(fromRun: 0)
            return
        }
        var b = blockIndex(atLeast: entry, hint: hint)
        if b == bounds.count {
            // Above every bound: the last block takes it and its bound rises.
            b -= 1
            bounds[b].entry = entry
            boundChanged(b)
        }
        if bounds[b].count == Self.maxBlock {
            split(b)
            if bounds[b].entry < entry { b += 1 }
        }
        let n = bounds[b].count
        store(entry, bounds[b].slot, n)
        bounds[b].count = n + 1
    }

    /// Index of `entry` inside block `b`, or nil if the block does not hold it.
    @inline(__always)
    private func position(of entry: NumericEntry, inBlock b: Int) -> Int? {
        let slot = bounds[b].slot
        let n = bounds[b].count
        var i: Int
        if let positions {
            i = positions[entry.document]
            guard i < n, document(slot, i) == entry.document else { return nil }
        } else {
            i = 0
            while i < n && document(slot, i) != entry.document { i += 1 }
            guard i < n else { return nil }
        }
        guard value(slot, i) == entry.value else { return nil }
        return i
    }

    /// Changes a document's entry from `old` to `new` (the same document) in place when `new` belongs in the block
    /// that holds `old` (the bounds around it enclose `new`): one value stored, where a removal and an insertion
    /// would move the block's last entry and append. Returns false, changing nothing, otherwise (or if `old` is
    /// absent); the caller then removes and inserts.
    ///
    /// - Parameter hint: A block index found earlier for `old` (-1: none).
    mutating func replaceInPlace(_ old: NumericEntry, with new: NumericEntry, hint: Int = -1) -> Bool {
        precondition(old.document == new.document, "an in-place change keeps the document")
        let b = blockIndex(atLeast: old, hint: hint)
        guard b < bounds.count else { return false }
        // `new` must lie in (bounds[b - 1], bounds[b]]: the block's bound stays a bound of its entries.
        let fits: Bool = bounds.withUnsafeBufferPointer { bounds in
            (b == 0 || Self.isLess(bounds[b &- 1].entry, new)) && !Self.isLess(bounds[b].entry, new)
        }
        guard fits, let i = position(of: old, inBlock: b) else { return false }
        slotAddress(bounds[b].slot).storeBytes(of: new.value, toByteOffset: i &* Self.entryBytes &+ Self.valueOffset,
                                               as: Double.self)
        return true
    }

    /// Removes `entry`; returns false if it was absent.
    ///
    /// - Parameter hint: A block index found earlier for `entry` (``blockIndex(atLeast:hint:)``; -1: none).
    @discardableResult
    mutating func remove(_ entry: NumericEntry, hint: Int = -1) -> Bool {
        let b = blockIndex(atLeast: entry, hint: hint)
        guard b < bounds.count, let i = position(of: entry, inBlock: b) else { return false }
        let slot = bounds[b].slot
        let n = bounds[b].count
        let last = n - 1
        if i != last { store(NumericEntry(value: value(slot, last), document: document(slot, last)), slot, i) }
        bounds[b].count = last
        count -= 1
        if last == 0 {
            freeSlots.append(slot)
            bounds.remove(at: b)
            resummarize(fromRun: b / Self.run)
        } else if last < Self.maxBlock / 2 && b + 1 < bounds.count && last + bounds[b + 1].count <= Self.maxBlock / 2 {
            // Merge small neighbours so that the block count stays about n / (maxBlock / 2).
            merge(b)
        }
        return true
    }

    /// Splits block `b` (which is full) in two halves: a selection of the median (the entries inside a block are
    /// unordered, so a split needs only the lower half's largest entry in place, not a sort).
    ///
    /// The entries are selected in a buffer on the stack: an array of a block's entries (2 KiB) is a large-bin
    /// allocation, for which malloc first consolidates its fast bins (a cost the profile showed on every split).
    private mutating func split(_ b: Int) {
        let bound = bounds[b]
        let n = bound.count
        let half = n / 2
        let upper = allocateSlot()
        withUnsafeTemporaryAllocation(of: NumericEntry.self, capacity: Self.maxBlock) { buffer in
            for i in 0..<n { buffer[i] = NumericEntry(value: value(bound.slot, i), document: document(bound.slot, i)) }
            let entries = UnsafeMutableBufferPointer(rebasing: buffer[0..<n])
            Self.select(entries, half - 1)
            for i in 0..<half { store(entries[i], bound.slot, i) }
            for i in half..<n { store(entries[i], upper, i - half) }
            bounds.insert(Bound(bound.entry, slot: upper, count: n - half), at: b + 1)
            bounds[b] = Bound(entries[half - 1], slot: bound.slot, count: half)
        }
        resummarize(fromRun: b / Self.run)
    }

    /// Rearranges `entries` (distinct) so that `entries[k]` is the entry a sort would put there, every entry before
    /// it below it and every entry after it above it: a quickselect with a median-of-three pivot, linear on
    /// average (a block's 128 entries: a few hundred comparisons, against about 900 for a sort).
    static func select(_ entries: inout [NumericEntry], _ k: Int) {
        entries.withUnsafeMutableBufferPointer { select($0, k) }
    }

    /// ``select(_:_:)-(inout [NumericEntry],_)`` on a buffer.
    static func select(_ a: UnsafeMutableBufferPointer<NumericEntry>, _ k: Int) {
        precondition(a.indices.contains(k), "select: k out of range")
        do {
            var lo = 0
            var hi = a.count - 1
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                if a[mid] < a[lo] { a.swapAt(mid, lo) }
                if a[hi] < a[lo] { a.swapAt(hi, lo) }
                if a[hi] < a[mid] { a.swapAt(hi, mid) }
                let pivot = a[mid]
                var i = lo
                var j = hi
                while i <= j {
                    while a[i] < pivot { i += 1 }
                    while pivot < a[j] { j -= 1 }
                    if i <= j {
                        a.swapAt(i, j)
                        i += 1
                        j -= 1
                    }
                }
                // Now a[lo...j] <= pivot <= a[i...hi], and the entries between j and i equal the pivot.
                if k <= j {
                    hi = j
                } else if k >= i {
                    lo = i
                } else {
                    return
                }
            }
        }
    }

    /// Moves block `b + 1`'s entries into block `b` (they fit) and drops block `b + 1`.
    private mutating func merge(_ b: Int) {
        let slot = bounds[b].slot
        let n = bounds[b].count
        let next = bounds[b + 1]
        for i in 0..<next.count {
            store(NumericEntry(value: value(next.slot, i), document: document(next.slot, i)), slot, n + i)
        }
        bounds[b] = Bound(next.entry, slot: slot, count: n + next.count)
        freeSlots.append(next.slot)
        bounds.remove(at: b + 1)
        resummarize(fromRun: b / Self.run)
    }

    // MARK: Reading

    /// The range of blocks that may hold entries whose value lies in `range`.
    func blockRange(_ range: NumericRange) -> Range<Int> {
        guard range.min <= range.max, !bounds.isEmpty else { return 0..<0 }
        let first = blockIndex(atLeast: NumericEntry(value: range.min, document: 0))
        let last = Swift.min(blockIndex(atLeast: NumericEntry(value: range.max, document: .max)), bounds.count - 1)
        return first <= last ? first..<(last + 1) : 0..<0
    }

    /// Whether every entry of block `b` has a value in `range` (judged from the bounds alone).
    func holdsOnly(_ b: Int, _ range: NumericRange) -> Bool {
        let upper = bounds[b].value
        guard range.maxInclusive ? upper <= range.max : upper < range.max else { return false }
        guard b > 0 else { return range.min == -.infinity && range.minInclusive }
        // Entries of block b are above bounds[b - 1], so their values are at least its value.
        let lower = bounds[b - 1].value
        return range.minInclusive ? lower >= range.min : lower > range.min
    }

    /// Number of entries in block `b`.
    func count(ofBlock b: Int) -> Int { bounds[b].count }

    /// Calls `body` with each entry of block `b`, in storage order.
    @inline(__always)
    func forEach(inBlock b: Int, _ body: (NumericEntry) -> Void) {
        let bound = bounds[b]
        for i in 0..<bound.count { body(NumericEntry(value: value(bound.slot, i), document: document(bound.slot, i))) }
    }

    /// Number of entries whose value lies in `range`.
    func count(in range: NumericRange) -> Int {
        var total = 0
        for b in blockRange(range) {
            if holdsOnly(b, range) {
                total += bounds[b].count
            } else {
                let bound = bounds[b]
                for i in 0..<bound.count where range.contains(value(bound.slot, i)) { total += 1 }
            }
        }
        return total
    }

    /// Calls `body` with every entry whose value lies in `range`, in no particular order.
    func forEach(in range: NumericRange, _ body: (NumericEntry) -> Void) {
        for b in blockRange(range) {
            let all = holdsOnly(b, range)
            forEach(inBlock: b) { entry in
                if all || range.contains(entry.value) { body(entry) }
            }
        }
    }

    /// Calls `body` with the entries in ascending order until it returns false.
    func forEachAscending(_ body: (NumericEntry) -> Bool) {
        for b in bounds.indices {
            for entry in entries(ofBlock: b).sorted() where !body(entry) { return }
        }
    }

    /// Calls `body` with the entries in descending order until it returns false.
    func forEachDescending(_ body: (NumericEntry) -> Bool) {
        for b in bounds.indices.reversed() {
            for entry in entries(ofBlock: b).sorted(by: >) where !body(entry) { return }
        }
    }

    /// All entries in ascending order.
    var elements: [NumericEntry] {
        var result: [NumericEntry] = []
        result.reserveCapacity(count)
        forEachAscending {
            result.append($0)
            return true
        }
        return result
    }

    /// The structure's invariants: non-empty blocks of at most ``maxBlock`` entries in distinct slots, ascending
    /// bounds, entries inside their block's bounds, one entry per document (at its recorded position, with
    /// ``positions``), the count, the summary (the last
    /// bound of each run) and the free slots (exactly the slots no block uses).
    var isConsistent: Bool {
        var total = 0
        var seen = Set<UInt32>()
        var used = Set<Int>()
        for (b, bound) in bounds.enumerated() {
            guard bound.count > 0, bound.count <= Self.maxBlock, bound.slot < slotCount, used.insert(bound.slot).inserted
            else { return false }
            if b > 0 && !(bounds[b - 1].entry < bound.entry) { return false }
            for (i, entry) in entries(ofBlock: b).enumerated() {
                if entry > bound.entry || (b > 0 && !(bounds[b - 1].entry < entry)) { return false }
                if !seen.insert(entry.document).inserted { return false }
                if let positions, positions[entry.document] != i { return false }
            }
            total += bound.count
        }
        let runs = (bounds.count + Self.run - 1) / Self.run
        guard summary.count == runs else { return false }
        for c in 0..<runs where summary[c] != bounds[Swift.min(c * Self.run + Self.run - 1, bounds.count - 1)].entry {
            return false
        }
        guard Set(freeSlots).count == freeSlots.count, used.isDisjoint(with: freeSlots),
            used.count + freeSlots.count == slotCount
        else { return false }
        return total == count
    }
}
