import CNeptuneIndex

/// The ordered structure of a NUMERIC field: its (value, document) entries in blocks that partition the entry
/// order (every entry of block `b` is above `bounds[b - 1]` and at most `bounds[b]`), while the entries inside a
/// block are kept in no particular order, as two parallel arrays (document IDs, values).
///
/// A write moves one document: it removes the old entry and inserts the new one, each in a block found by a binary
/// search over `bounds`. Inserting appends to the block (one or two cache lines, not a sorted insertion that moves
/// half a block); removing scans the block's document IDs (512 bytes) for the document and moves the block's last
/// entry into its place. On a large index neither the blocks nor all of `bounds` are in cache, so a write
/// requests its blocks' lines at its start (``prefetch(_:)``), so that they arrive in parallel. A full block is
/// sorted and split in two (amortized over the appends that filled it).
///
/// Readers pay instead: a range reads the blocks whose bounds overlap it and filters the one or two at its ends;
/// sorted streaming sorts each block it reaches (a block at a time, so a page near the start costs a few blocks).
/// A document has at most one entry (the store removes a document's entry before inserting its new one).
struct NumericBlocks {
    /// One block's entries, as two parallel arrays: a removal scans only the document IDs (a quarter of the
    /// bytes), then swaps the last entry into the hole in both.
    struct Block {
        var documents: [UInt32] = []
        var values: [Double] = []

        init(_ entries: some Sequence<NumericEntry>) {
            documents.reserveCapacity(NumericBlocks.maxBlock + 1)
            values.reserveCapacity(NumericBlocks.maxBlock + 1)
            for entry in entries { append(entry) }
        }

        var count: Int { documents.count }

        @inline(__always)
        mutating func append(_ entry: NumericEntry) {
            documents.append(entry.document)
            values.append(entry.value)
        }

        subscript(_ i: Int) -> NumericEntry { NumericEntry(value: values[i], document: documents[i]) }

        var entries: [NumericEntry] { documents.indices.map { self[$0] } }
    }

    private(set) var blocks: [Block] = []
    /// `bounds[b]` is at least every entry of `blocks[b]` and below every entry of `blocks[b + 1]`; ascending.
    private(set) var bounds: [NumericEntry] = []
    private(set) var count = 0

    /// Largest block before it is split: 2 KiB of entries.
    static let maxBlock = 128

    var isEmpty: Bool { count == 0 }

    /// Index of the first block whose bound is >= `entry`, or `blocks.count`.
    @inline(__always)
    func blockIndex(atLeast entry: NumericEntry) -> Int {
        SortedBlockList.lowerBound(bounds, entry)
    }

    /// Adds `entry`. A document has at most one entry (the store removes a document's entry before inserting its
    /// new one).
    mutating func insert(_ entry: NumericEntry) {
        if blocks.isEmpty {
            blocks.append(Block([entry]))
            bounds.append(entry)
            count = 1
            return
        }
        var b = blockIndex(atLeast: entry)
        if b == blocks.count {
            // Above every bound: the last block takes it and its bound rises.
            b -= 1
            bounds[b] = entry
        }
        blocks[b].append(entry)
        count += 1
        if blocks[b].count > Self.maxBlock { split(b) }
    }

    /// Removes `entry`; returns false if it was absent.
    @discardableResult
    mutating func remove(_ entry: NumericEntry) -> Bool {
        let b = blockIndex(atLeast: entry)
        guard b < blocks.count else { return false }
        let found: Int? = blocks[b].documents.withUnsafeBufferPointer { documents in
            for i in documents.indices where documents[i] == entry.document { return i }
            return nil
        }
        guard let i = found, blocks[b].values[i] == entry.value else { return false }
        let last = blocks[b].count - 1
        blocks[b].documents.withUnsafeMutableBufferPointer { $0[i] = $0[last] }
        blocks[b].values.withUnsafeMutableBufferPointer { $0[i] = $0[last] }
        blocks[b].documents.removeLast()
        blocks[b].values.removeLast()
        count -= 1
        if blocks[b].count == 0 {
            blocks.remove(at: b)
            bounds.remove(at: b)
        } else if blocks[b].count < Self.maxBlock / 2 && b + 1 < blocks.count
            && blocks[b].count + blocks[b + 1].count <= Self.maxBlock / 2
        {
            // (The block's own count first: most blocks are fuller, and the neighbour's count is a cache miss.)
            // Merge small neighbours so that the block count stays about n / (maxBlock / 2).
            blocks[b].documents.append(contentsOf: blocks[b + 1].documents)
            blocks[b].values.append(contentsOf: blocks[b + 1].values)
            bounds[b] = bounds[b + 1]
            blocks.remove(at: b + 1)
            bounds.remove(at: b + 1)
        }
        return true
    }

    /// Starts fetching the block where `entry` would be inserted or removed (every line of both arrays), so that
    /// its misses overlap the write's others.
    ///
    /// The arrays' storage addresses are read as plain words out of `blocks`: copying an array out would retain
    /// it, an atomic change of its header, which waits for the very line being prefetched. A prefetch never
    /// faults, so the addresses need no more care than that.
    ///
    /// `mutating` although it changes nothing: the blocks live in a `var` of a class, and a non-mutating call
    /// would copy the struct (retaining its arrays) first.
    @inline(__always)
    mutating func prefetch(_ entry: NumericEntry) {
        guard !blocks.isEmpty else { return }
        let b = Swift.min(blockIndex(atLeast: entry), blocks.count - 1)
        blocks.withUnsafeBytes { raw in
            let row = b * MemoryLayout<Block>.stride
            let documents = raw.load(fromByteOffset: row + Self.documentsOffset, as: UnsafeRawPointer.self)
            let values = raw.load(fromByteOffset: row + Self.valuesOffset, as: UnsafeRawPointer.self)
            Self.prefetchLines(documents, bytes: Self.arrayHeader + (Self.maxBlock + 1) * 4)
            Self.prefetchLines(values, bytes: Self.arrayHeader + (Self.maxBlock + 1) * 8)
        }
    }

    private static var documentsOffset: Int { MemoryLayout<Block>.offset(of: \.documents)! }
    private static var valuesOffset: Int { MemoryLayout<Block>.offset(of: \.values)! }
    /// Bytes before an array's first element in its storage (object header, count and capacity).
    static let arrayHeader = 32

    @inline(__always)
    private static func prefetchLines(_ start: UnsafeRawPointer, bytes: Int) {
        var offset = 0
        while offset < bytes {
            neptune_prefetch(start + offset)
            offset &+= 64
        }
    }

    /// Sorts block `b` and splits it in two halves.
    private mutating func split(_ b: Int) {
        let sorted = blocks[b].entries.sorted()
        let half = sorted.count / 2
        blocks[b] = Block(sorted[..<half])
        blocks.insert(Block(sorted[half...]), at: b + 1)
        bounds.insert(bounds[b], at: b + 1)
        bounds[b] = sorted[half - 1]
    }

    /// The range of blocks that may hold entries whose value lies in `range`.
    private func blockRange(_ range: NumericRange) -> Range<Int> {
        guard range.min <= range.max, !blocks.isEmpty else { return 0..<0 }
        let first = blockIndex(atLeast: NumericEntry(value: range.min, document: 0))
        let last = Swift.min(blockIndex(atLeast: NumericEntry(value: range.max, document: .max)), blocks.count - 1)
        return first <= last ? first..<(last + 1) : 0..<0
    }

    /// Whether every entry of block `b` has a value in `range` (judged from the bounds alone).
    private func holdsOnly(_ b: Int, _ range: NumericRange) -> Bool {
        let upper = bounds[b].value
        guard range.maxInclusive ? upper <= range.max : upper < range.max else { return false }
        guard b > 0 else { return range.min == -.infinity && range.minInclusive }
        // Entries of block b are above bounds[b - 1], so their values are at least its value.
        let lower = bounds[b - 1].value
        return range.minInclusive ? lower >= range.min : lower > range.min
    }

    /// Number of entries whose value lies in `range`.
    func count(in range: NumericRange) -> Int {
        var total = 0
        for b in blockRange(range) {
            if holdsOnly(b, range) {
                total += blocks[b].count
            } else {
                for value in blocks[b].values where range.contains(value) { total += 1 }
            }
        }
        return total
    }

    /// Calls `body` with every entry whose value lies in `range`, in no particular order.
    func forEach(in range: NumericRange, _ body: (NumericEntry) -> Void) {
        for b in blockRange(range) {
            let block = blocks[b]
            let all = holdsOnly(b, range)
            for i in 0..<block.count where all || range.contains(block.values[i]) { body(block[i]) }
        }
    }

    /// Calls `body` with the entries in ascending order until it returns false.
    func forEachAscending(_ body: (NumericEntry) -> Bool) {
        for block in blocks {
            for entry in block.entries.sorted() where !body(entry) { return }
        }
    }

    /// Calls `body` with the entries in descending order until it returns false.
    func forEachDescending(_ body: (NumericEntry) -> Bool) {
        for block in blocks.reversed() {
            for entry in block.entries.sorted(by: >) where !body(entry) { return }
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

    /// The partition invariants: non-empty bounded blocks with parallel arrays, ascending bounds, entries inside
    /// their block's bounds, one entry per document, and the count.
    var isConsistent: Bool {
        guard blocks.count == bounds.count else { return false }
        var total = 0
        var seen = Set<UInt32>()
        for (b, block) in blocks.enumerated() {
            guard block.count > 0, block.count <= Self.maxBlock, block.values.count == block.documents.count else { return false }
            if b > 0 && !(bounds[b - 1] < bounds[b]) { return false }
            for entry in block.entries {
                if entry > bounds[b] || (b > 0 && !(bounds[b - 1] < entry)) { return false }
                if !seen.insert(entry.document).inserted { return false }
            }
            total += block.count
        }
        return total == count
    }
}
