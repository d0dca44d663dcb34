/// The ordered structure of a NUMERIC field: its (value, document) entries in blocks that partition the entry
/// order (every entry of block `b` is above `bounds[b - 1]` and at most `bounds[b]`), while the entries inside a
/// block are kept in no particular order.
///
/// A write moves one document: it removes the old entry and inserts the new one, each in a block found by a binary
/// search over `bounds` (small enough to stay in cache). Inserting appends to the block (one or two cache lines,
/// not a sorted insertion that moves half a block); removing scans the block for the entry and moves the block's
/// last entry into its place. On a large index the blocks are not in cache, so this is what a write costs: the
/// lines of a block loaded once, in parallel (``touch(_:)``), for the removal, and the block's end for the
/// insertion. A full block is sorted and split in two (amortized over the appends that filled it).
///
/// Readers pay instead: a range reads the blocks whose bounds overlap it and filters the one or two at its ends;
/// sorted streaming sorts each block it reaches (a block at a time, so a page near the start costs a few blocks).
/// Entries must be unique (the store removes a document's entry before inserting its new one).
struct NumericBlocks {
    private(set) var blocks: [[NumericEntry]] = []
    /// `bounds[b]` is at least every entry of `blocks[b]` and below every entry of `blocks[b + 1]`; ascending.
    private(set) var bounds: [NumericEntry] = []
    private(set) var count = 0
    /// Written with what ``touch(_:)`` read, so that its loads are kept.
    private var touched: UInt8 = 0

    /// Largest block before it is split: 2 KiB of entries.
    static let maxBlock = 128

    var isEmpty: Bool { count == 0 }

    /// Index of the first block whose bound is >= `entry`, or `blocks.count`.
    @inline(__always)
    func blockIndex(atLeast entry: NumericEntry) -> Int {
        var low = 0
        var high = bounds.count
        while low < high {
            let mid = (low + high) >> 1
            if bounds[mid] < entry { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Adds `entry`, which must not be present.
    mutating func insert(_ entry: NumericEntry) {
        if blocks.isEmpty {
            blocks.append(Self.newBlock([entry]))
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
        touch(b)
        let found: Int? = blocks[b].withUnsafeBufferPointer { block in
            for i in block.indices where block[i].document == entry.document && block[i].value == entry.value { return i }
            return nil
        }
        guard let i = found else { return false }
        blocks[b].withUnsafeMutableBufferPointer { block in block[i] = block[block.count - 1] }
        blocks[b].removeLast()
        count -= 1
        if blocks[b].isEmpty {
            blocks.remove(at: b)
            bounds.remove(at: b)
        } else if b + 1 < blocks.count && blocks[b].count + blocks[b + 1].count <= Self.maxBlock / 2 {
            // Merge small neighbours so that the block count stays about n / (maxBlock / 2).
            blocks[b].append(contentsOf: blocks[b + 1])
            bounds[b] = bounds[b + 1]
            blocks.remove(at: b + 1)
            bounds.remove(at: b + 1)
        }
        return true
    }

    /// Starts loading the end of the block where `entry` would be inserted, ahead of the insertion.
    @inline(__always)
    mutating func prefetch(_ entry: NumericEntry) {
        guard !blocks.isEmpty else { return }
        let b = Swift.min(blockIndex(atLeast: entry), blocks.count - 1)
        touched = blocks[b].withUnsafeBytes { raw in raw.isEmpty ? 0 : raw[raw.count - 1] }
    }

    /// Loads one byte of every cache line of block `b` before it is scanned. The loads are independent, so the
    /// processor fetches the lines in parallel instead of one after the other as the scan reaches them.
    @inline(__always)
    mutating func touch(_ b: Int) {
        touched = blocks[b].withUnsafeBytes { raw in
            var sum: UInt8 = 0
            var offset = 0
            while offset < raw.count {
                sum &+= raw[offset]
                offset &+= 64
            }
            return sum
        }
    }

    private static func newBlock(_ entries: [NumericEntry]) -> [NumericEntry] {
        var block: [NumericEntry] = []
        block.reserveCapacity(maxBlock + 1)
        block.append(contentsOf: entries)
        return block
    }

    /// Sorts block `b` and splits it in two halves.
    private mutating func split(_ b: Int) {
        blocks[b].sort()
        let half = blocks[b].count / 2
        let upper = Self.newBlock(Array(blocks[b][half...]))
        blocks[b].removeSubrange(half...)
        blocks.insert(upper, at: b + 1)
        bounds.insert(bounds[b], at: b + 1)
        bounds[b] = blocks[b][half - 1]
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
                for entry in blocks[b] where range.contains(entry.value) { total += 1 }
            }
        }
        return total
    }

    /// Calls `body` with every entry whose value lies in `range`, in no particular order.
    func forEach(in range: NumericRange, _ body: (NumericEntry) -> Void) {
        for b in blockRange(range) {
            if holdsOnly(b, range) {
                for entry in blocks[b] { body(entry) }
            } else {
                for entry in blocks[b] where range.contains(entry.value) { body(entry) }
            }
        }
    }

    /// Calls `body` with the entries in ascending order until it returns false.
    func forEachAscending(_ body: (NumericEntry) -> Bool) {
        for block in blocks {
            for entry in block.sorted() where !body(entry) { return }
        }
    }

    /// Calls `body` with the entries in descending order until it returns false.
    func forEachDescending(_ body: (NumericEntry) -> Bool) {
        for block in blocks.reversed() {
            for entry in block.sorted(by: >) where !body(entry) { return }
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

    /// The partition invariants: non-empty bounded blocks, ascending bounds, entries inside their block's bounds,
    /// unique entries, and the count.
    var isConsistent: Bool {
        guard blocks.count == bounds.count else { return false }
        var total = 0
        var seen = Set<[UInt64]>()
        for (b, block) in blocks.enumerated() {
            guard !block.isEmpty, block.count <= Self.maxBlock else { return false }
            if b > 0 && !(bounds[b - 1] < bounds[b]) { return false }
            for entry in block {
                if entry > bounds[b] || (b > 0 && !(bounds[b - 1] < entry)) { return false }
                if !seen.insert([entry.value.bitPattern, UInt64(entry.document)]).inserted { return false }
            }
            total += block.count
        }
        return total == count
    }
}
