/// A sorted multiset-free collection stored as a list of sorted blocks (a two-level B+tree).
///
/// Each block holds at most ``maxBlock`` elements and `maxes[i]` is the largest element of `blocks[i]`, so finding an
/// element is a binary search over `maxes` then over one block: O(log n). Inserting or removing moves at most one
/// block's elements (bounded) plus, on a split or an emptied block, one pointer per block. Iteration from any
/// position streams elements in order, which is what range queries and sorted output need.
///
/// Elements must be unique (inserting an element already present is a no-op).
@usableFromInline
struct SortedBlockList<Element: Comparable> {
    @usableFromInline var blocks: [[Element]] = []
    @usableFromInline var maxes: [Element] = []
    @usableFromInline private(set) var count = 0
    /// Written with what ``touch(_:)`` read, so that its loads are kept.
    @usableFromInline var touched: UInt8 = 0

    /// Largest block before it is split in two: about 2 KiB of elements (128 numeric entries, 512 document IDs), so
    /// that an insertion or removal moves at most a few hundred bytes, while `maxes` stays small enough to search
    /// in cache.
    @usableFromInline static var maxBlock: Int { Swift.max(64, 2048 / MemoryLayout<Element>.stride) }

    @usableFromInline init() {}

    @inlinable var isEmpty: Bool { count == 0 }

    /// A position: block index and index inside the block. The end position is `(blocks.count, 0)`.
    @usableFromInline
    struct Position: Equatable {
        @usableFromInline var block: Int
        @usableFromInline var offset: Int
        @inlinable init(block: Int, offset: Int) {
            self.block = block
            self.offset = offset
        }
    }

    @inlinable var endPosition: Position { Position(block: blocks.count, offset: 0) }
    @inlinable var startPosition: Position { Position(block: 0, offset: 0) }

    /// Index of the first block whose max is >= element, or `blocks.count`.
    @inlinable
    func blockIndex(atLeast element: Element) -> Int {
        var low = 0
        var high = maxes.count
        while low < high {
            let mid = (low + high) >> 1
            if maxes[mid] < element { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Index of the first block whose max is > element, or `blocks.count`.
    @inlinable
    func blockIndex(above element: Element) -> Int {
        var low = 0
        var high = maxes.count
        while low < high {
            let mid = (low + high) >> 1
            if maxes[mid] <= element { low = mid + 1 } else { high = mid }
        }
        return low
    }

    @inlinable
    static func lowerBound(_ block: [Element], _ element: Element) -> Int {
        var low = 0
        var high = block.count
        while low < high {
            let mid = (low + high) >> 1
            if block[mid] < element { low = mid + 1 } else { high = mid }
        }
        return low
    }

    @inlinable
    static func upperBound(_ block: [Element], _ element: Element) -> Int {
        var low = 0
        var high = block.count
        while low < high {
            let mid = (low + high) >> 1
            if block[mid] <= element { low = mid + 1 } else { high = mid }
        }
        return low
    }

    /// Position of the first element >= `element`.
    @inlinable
    func position(atLeast element: Element) -> Position {
        let b = blockIndex(atLeast: element)
        guard b < blocks.count else { return endPosition }
        return Position(block: b, offset: Self.lowerBound(blocks[b], element))
    }

    /// Position of the first element > `element`.
    @inlinable
    func position(above element: Element) -> Position {
        let b = blockIndex(above: element)
        guard b < blocks.count else { return endPosition }
        return Position(block: b, offset: Self.upperBound(blocks[b], element))
    }

    /// Number of elements between two positions (`from` <= `to`). O(blocks between them).
    @inlinable
    func distance(from: Position, to: Position) -> Int {
        if from.block == to.block { return Swift.max(0, to.offset - from.offset) }
        if from.block > to.block { return 0 }
        var total = blocks[from.block].count - from.offset
        var b = from.block + 1
        while b < to.block {
            total += blocks[b].count
            b += 1
        }
        return total + to.offset
    }

    @inlinable
    func contains(_ element: Element) -> Bool {
        let b = blockIndex(atLeast: element)
        guard b < blocks.count else { return false }
        let block = blocks[b]
        let i = Self.lowerBound(block, element)
        return i < block.count && block[i] == element
    }

    /// Inserts `element`; returns false if it was already present.
    @inlinable
    @discardableResult
    mutating func insert(_ element: Element) -> Bool {
        if blocks.isEmpty {
            blocks.append([element])
            maxes.append(element)
            count = 1
            return true
        }
        var b = blockIndex(atLeast: element)
        if b == blocks.count {
            // Larger than everything: append to the last block.
            b -= 1
            blocks[b].append(element)
            maxes[b] = element
        } else {
            touch(b)
            let i = Self.lowerBound(blocks[b], element)
            if i < blocks[b].count && blocks[b][i] == element { return false }
            Self.insert(element, at: i, into: &blocks[b])
        }
        count += 1
        if blocks[b].count > Self.maxBlock { split(b) }
        return true
    }

    /// Loads one byte of every cache line of block `b` before it is searched. The loads are independent, so the
    /// processor fetches the lines in parallel; a binary search of a block not in cache would otherwise wait for
    /// about six lines one after the other (each step depends on the last), which on a large index is most of an
    /// update's time.
    @inlinable
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

    /// `block.insert(element, at: i)`, moving the tail with one `memmove` (`copyMemory` allows overlap) (the elements are plain values).
    @inlinable
    static func insert(_ element: Element, at i: Int, into block: inout [Element]) {
        guard _isPOD(Element.self) else {
            block.insert(element, at: i)
            return
        }
        let tail = block.count - i
        block.append(element)
        guard tail > 0 else { return }
        block.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            UnsafeMutableRawPointer(base + i + 1).copyMemory(from: base + i, byteCount: tail * MemoryLayout<Element>.stride)
            (base + i).pointee = element
        }
    }

    @usableFromInline
    mutating func split(_ b: Int) {
        let half = blocks[b].count / 2
        let upper = Array(blocks[b][half...])
        blocks[b].removeSubrange(half...)
        maxes[b] = blocks[b][blocks[b].count - 1]
        blocks.insert(upper, at: b + 1)
        maxes.insert(upper[upper.count - 1], at: b + 1)
    }

    /// Removes `element`; returns false if it was absent.
    @inlinable
    @discardableResult
    mutating func remove(_ element: Element) -> Bool {
        let b = blockIndex(atLeast: element)
        guard b < blocks.count else { return false }
        touch(b)
        let i = Self.lowerBound(blocks[b], element)
        guard i < blocks[b].count && blocks[b][i] == element else { return false }
        blocks[b].remove(at: i)
        count -= 1
        if blocks[b].isEmpty {
            blocks.remove(at: b)
            maxes.remove(at: b)
        } else {
            maxes[b] = blocks[b][blocks[b].count - 1]
            // Merge small neighbours so that the block count stays about n / (maxBlock / 2).
            if b + 1 < blocks.count && blocks[b].count + blocks[b + 1].count <= Self.maxBlock / 2 {
                blocks[b].append(contentsOf: blocks[b + 1])
                maxes[b] = maxes[b + 1]
                blocks.remove(at: b + 1)
                maxes.remove(at: b + 1)
            }
        }
        return true
    }

    /// Calls `body` for each element from `from` (inclusive) up to `to` (exclusive) in order; stops when `body`
    /// returns false.
    @inlinable
    func forEach(from: Position, to: Position, _ body: (Element) -> Bool) {
        var b = from.block
        var i = from.offset
        while b < blocks.count && (b < to.block || (b == to.block && i < to.offset)) {
            let block = blocks[b]
            let end = b == to.block ? to.offset : block.count
            while i < end {
                if !body(block[i]) { return }
                i += 1
            }
            b += 1
            i = 0
        }
    }

    /// Calls `body` for each element from `from` down to the first element, in descending order; stops when `body`
    /// returns false. `from` is exclusive.
    @inlinable
    func forEachReversed(before: Position, _ body: (Element) -> Bool) {
        var b = min(before.block, blocks.count - 1)
        if b < 0 { return }
        var i = before.block >= blocks.count ? blocks[b].count - 1 : before.offset - 1
        while b >= 0 {
            let block = blocks[b]
            while i >= 0 {
                if !body(block[i]) { return }
                i -= 1
            }
            b -= 1
            if b >= 0 { i = blocks[b].count - 1 }
        }
    }

    /// All elements in order.
    @inlinable
    var elements: [Element] {
        var result: [Element] = []
        result.reserveCapacity(count)
        for block in blocks { result.append(contentsOf: block) }
        return result
    }

    @inlinable
    func checkInvariants() {
        #if NEPTUNE_INTERNAL_CHECKS
        precondition(blocks.count == maxes.count)
        var total = 0
        var previous: Element? = nil
        for (b, block) in blocks.enumerated() {
            precondition(!block.isEmpty && block.count <= Self.maxBlock)
            precondition(maxes[b] == block[block.count - 1])
            for element in block {
                if let previous { precondition(previous < element) }
                previous = element
            }
            total += block.count
        }
        precondition(total == count)
        #endif
    }
}
