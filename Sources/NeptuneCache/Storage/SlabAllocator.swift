#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A reference to a cell handed out by ``SlabAllocator``: the size class in bits 32...39 (offset by one, so a
/// reference is never 0 or 1, which the key table reserves for empty and deleted slots) and the cell's index in
/// bits 0...31. Forty bits, so it fits beside a 16-bit hash tag in a key-table slot.

typealias CellRef = UInt64

/// Packs entries into fixed-size cells grouped by size class, so that a small entry costs its bytes rounded up to
/// the next class (8-byte steps for small sizes) and no per-allocation header, unlike `malloc`'s 16-byte minimum
/// overhead. Each class hands out cells from pages of 64 cells and keeps a free list threaded through freed cells.
/// Entries larger than the biggest class are allocated on their own (`huge` cells).
///
/// Not thread-safe: a shard owns one allocator and uses it under the shard's lock.

final class SlabAllocator {
    static let classSizes: [Int] = [
        16, 24, 32, 40, 48, 56, 64, 72, 80, 96, 112, 128, 144, 160, 192, 224, 256, 320, 384, 448, 512,
        640, 768, 896, 1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096,
    ]
    static let hugeClass: UInt64 = 255
    static let maxClassSize = 4096

    /// Class index for each size in 8-byte steps up to `maxClassSize`.
    static let classForSize: [UInt8] = {
        var table = [UInt8](repeating: 0, count: maxClassSize / 8 + 1)
        var c = 0
        for step in 0...(maxClassSize / 8) {
            let size = step * 8
            while classSizes[c] < size { c += 1 }
            table[step] = UInt8(c)
        }
        return table
    }()

    struct SizeClass {
        var cellSize: Int
        var pageShift: Int
        var pages: UnsafeMutablePointer<UnsafeMutableRawPointer>?
        var pageCount: Int
        var pageCapacity: Int
        /// Head of the free list: index + 1 of a free cell, or 0.
        var freeHead: UInt32
        /// Cells ever handed out from the pages (the next fresh cell's index).
        var used: UInt32
        var live: Int
    }

    var classes: UnsafeMutablePointer<SizeClass>
    var huge: [UnsafeMutableRawPointer?] = []
    var hugeSizes: [Int] = []
    var hugeFree: [UInt32] = []
    /// Bytes held in pages and huge cells (what this allocator asked the system for).
    private(set) var reservedBytes: Int = 0
    /// Bytes in cells currently handed out, rounded to their class.
    private(set) var liveBytes: Int = 0

    init() {
        let count = Self.classSizes.count
        classes = .allocate(capacity: count)
        for (index, size) in Self.classSizes.enumerated() {
            // 64 cells a page for small classes; at most 32 KiB a page (and at least 4 cells) for the large ones.
            var cellsPerPage = 64
            while cellsPerPage > 4 && cellsPerPage * size > 32 * 1024 { cellsPerPage >>= 1 }
            (classes + index).initialize(
                to: SizeClass(
                    cellSize: size,
                    pageShift: cellsPerPage.trailingZeroBitCount,
                    pages: nil,
                    pageCount: 0,
                    pageCapacity: 0,
                    freeHead: 0,
                    used: 0,
                    live: 0
                )
            )
        }
    }

    deinit {
        releaseAll()
        classes.deinitialize(count: Self.classSizes.count)
        classes.deallocate()
    }

    /// Frees every cell and page.

    func releaseAll() {
        for index in 0..<Self.classSizes.count {
            let sizeClass = classes + index
            if let pages = sizeClass.pointee.pages {
                for p in 0..<sizeClass.pointee.pageCount { pages[p].deallocate() }
                pages.deallocate()
            }
            sizeClass.pointee.pages = nil
            sizeClass.pointee.pageCount = 0
            sizeClass.pointee.pageCapacity = 0
            sizeClass.pointee.freeHead = 0
            sizeClass.pointee.used = 0
            sizeClass.pointee.live = 0
        }
        for case let p? in huge { systemFree(p) }
        hugeSizes.removeAll()
        huge.removeAll()
        hugeFree.removeAll()
        reservedBytes = 0
        liveBytes = 0
    }

    /// The usable size of the cell `ref` points at.
    
    func capacity(of ref: CellRef) -> Int {
        let sizeClass = ref >> 32
        if sizeClass == Self.hugeClass {
            return hugeSizes[Int(truncatingIfNeeded: ref & 0xFFFF_FFFF)]
        }
        return classes[Int(sizeClass - 1)].cellSize
    }

    /// Whether the cell `ref` is of the size class a new allocation of `size` bytes would get (so an entry of that
    /// size can be rewritten in it).
    @inline(__always)
    func isCell(_ ref: CellRef, ofClassFor size: Int) -> Bool {
        guard size <= Self.maxClassSize else { return false }
        return ref >> 32 == UInt64(Self.classForSize[(size + 7) >> 3]) + 1
    }

    /// The address of the cell `ref` points at; valid until the cell is freed.
    @inline(__always)
    func pointer(_ ref: CellRef) -> UnsafeMutableRawPointer {
        let sizeClass = ref >> 32
        let index = Int(truncatingIfNeeded: ref & 0xFFFF_FFFF)
        if _fastPath(sizeClass != Self.hugeClass) {
            // Wrapping shifts and arithmetic: a page shift is below 64 and the offsets stay inside a page, so the
            // checked forms (a smart shift handles negative and oversized counts; overflow traps) only cost
            // branches on every lookup.
            let c = classes + Int(truncatingIfNeeded: sizeClass &- 1)
            let shift = c.pointee.pageShift
            return c.pointee.pages.unsafelyUnwrapped[index &>> shift]
                + (index & ((1 &<< shift) &- 1)) &* c.pointee.cellSize
        }
        return huge[index].unsafelyUnwrapped
    }

    /// Allocates a cell of at least `size` bytes.
    
    func allocate(_ size: Int) -> CellRef {
        if size > Self.maxClassSize {
            return allocateHuge(size)
        }
        let classIndex = Int(Self.classForSize[(size + 7) >> 3])
        let c = classes + classIndex
        liveBytes += c.pointee.cellSize
        c.pointee.live += 1
        let free = c.pointee.freeHead
        if free != 0 {
            let index = Int(free - 1)
            let ref = (UInt64(classIndex + 1) << 32) | UInt64(index)
            c.pointee.freeHead = pointer(ref).load(as: UInt32.self)
            return ref
        }
        let index = Int(c.pointee.used)
        let shift = c.pointee.pageShift
        if index >> shift == c.pointee.pageCount {
            addPage(c)
        }
        c.pointee.used += 1
        return (UInt64(classIndex + 1) << 32) | UInt64(index)
    }

    func addPage(_ c: UnsafeMutablePointer<SizeClass>) {
        if c.pointee.pageCount == c.pointee.pageCapacity {
            let newCapacity = max(4, c.pointee.pageCapacity * 2)
            let pages = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: newCapacity)
            if let old = c.pointee.pages {
                pages.moveInitialize(from: old, count: c.pointee.pageCount)
                old.deallocate()
            }
            c.pointee.pages = pages
            c.pointee.pageCapacity = newCapacity
        }
        let bytes = c.pointee.cellSize << c.pointee.pageShift
        let page = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 16)
        c.pointee.pages.unsafelyUnwrapped[c.pointee.pageCount] = page
        c.pointee.pageCount += 1
        reservedBytes += bytes
    }

    func allocateHuge(_ size: Int) -> CellRef {
        guard let p = malloc(size) else { fatalError("out of memory allocating \(size) bytes") }
        let usable = size
        reservedBytes += usable
        liveBytes += usable
        let index: Int
        if let reused = hugeFree.popLast() {
            index = Int(reused)
            huge[index] = p
            hugeSizes[index] = size
        } else {
            index = huge.count
            huge.append(p)
            hugeSizes.append(size)
        }
        return (Self.hugeClass << 32) | UInt64(index)
    }

    /// Returns the cell `ref` to its class.
    
    func free(_ ref: CellRef) {
        let sizeClass = ref >> 32
        let index = UInt32(truncatingIfNeeded: ref & 0xFFFF_FFFF)
        if sizeClass == Self.hugeClass {
            let p = huge[Int(index)]
            let usable = hugeSizes[Int(index)]
            reservedBytes -= usable
            liveBytes -= usable
            systemFree(p)
            huge[Int(index)] = nil
            hugeFree.append(index)
            return
        }
        let c = classes + Int(sizeClass - 1)
        pointer(ref).storeBytes(of: c.pointee.freeHead, as: UInt32.self)
        c.pointee.freeHead = index + 1
        c.pointee.live -= 1
        liveBytes -= c.pointee.cellSize
        if c.pointee.live == 0 {
            trim(c)
        }
    }

    /// Gives a class's pages back once its last cell is freed.

    func trim(_ c: UnsafeMutablePointer<SizeClass>) {
        guard let pages = c.pointee.pages else { return }
        for p in 0..<c.pointee.pageCount { pages[p].deallocate() }
        reservedBytes -= c.pointee.pageCount * (c.pointee.cellSize << c.pointee.pageShift)
        pages.deallocate()
        c.pointee.pages = nil
        c.pointee.pageCount = 0
        c.pointee.pageCapacity = 0
        c.pointee.freeHead = 0
        c.pointee.used = 0
    }
}

private func systemFree(_ pointer: UnsafeMutableRawPointer?) {
    free(pointer)
}
