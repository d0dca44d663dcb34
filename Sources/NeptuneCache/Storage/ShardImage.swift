#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A raw copy of one shard's key tables and slab memory, taken under the shard's lock for a snapshot so that the
/// records can be serialized after the lock is released.
///
/// Taking it is a handful of `memcpy`s of the slot arrays and the slab pages (sequential copies, no per-key work), so
/// a lock holder waits for a copy of the shard's memory instead of its serialization. Entries are read back through
/// ``entry(_:)`` with the same layout as in the slab. Collection values are not in the copy (an entry holds only a
/// reference to its mutable object): the capture serializes those under the lock. The memory is owned by the image
/// until ``release()``; it is handed from the thread that took it to the snapshot thread, never shared.
struct ShardImage: @unchecked Sendable {
    /// One database's slot array.
    struct Table {
        let db: Int
        let slots: UnsafeMutablePointer<UInt64>
        let capacity: Int
    }

    /// One size class's copied pages (indexed like the allocator's).
    struct SizeClassPages {
        let pages: UnsafeMutablePointer<UnsafeMutableRawPointer>?
        let pageCount: Int
        let pageShift: Int
        let cellSize: Int
    }

    private(set) var tables: [Table] = []
    private var classes: [SizeClassPages] = []
    private var huge: [UnsafeMutableRawPointer?] = []
    /// Bytes copied.
    private(set) var bytes = 0

    /// Copies the tables of every database with keys and the slab memory of `shard`. The caller holds its lock.
    init(shard: Shard) {
        for (db, table) in shard.tables.enumerated() where table.count > 0 {
            let slots = UnsafeMutablePointer<UInt64>.allocate(capacity: table.capacity)
            slots.initialize(from: table.slots, count: table.capacity)
            tables.append(Table(db: db, slots: slots, capacity: table.capacity))
            bytes += table.slotBytes
        }
        guard !tables.isEmpty else { return }
        let slab = shard.slab
        classes.reserveCapacity(SlabAllocator.classSizes.count)
        for index in 0..<SlabAllocator.classSizes.count {
            let c = slab.classes[index]
            guard c.pageCount > 0, let source = c.pages else {
                classes.append(SizeClassPages(pages: nil, pageCount: 0, pageShift: c.pageShift, cellSize: c.cellSize))
                continue
            }
            let pageBytes = c.cellSize << c.pageShift
            let pages = UnsafeMutablePointer<UnsafeMutableRawPointer>.allocate(capacity: c.pageCount)
            for p in 0..<c.pageCount {
                let page = UnsafeMutableRawPointer.allocate(byteCount: pageBytes, alignment: 16)
                page.copyMemory(from: source[p], byteCount: pageBytes)
                (pages + p).initialize(to: page)
            }
            bytes += pageBytes * c.pageCount
            classes.append(SizeClassPages(pages: pages, pageCount: c.pageCount, pageShift: c.pageShift, cellSize: c.cellSize))
        }
        huge.reserveCapacity(slab.huge.count)
        for (index, cell) in slab.huge.enumerated() {
            guard let cell else {
                huge.append(nil)
                continue
            }
            let size = slab.hugeSizes[index]
            let copy = UnsafeMutableRawPointer.allocate(byteCount: max(size, 1), alignment: 16)
            copy.copyMemory(from: cell, byteCount: size)
            huge.append(copy)
            bytes += size
        }
    }

    /// The copied entry a slot value refers to.
    @inline(__always)
    func entry(_ slotValue: UInt64) -> Entry {
        let ref = slotValue & KeyTable.refMask
        let sizeClass = ref >> 32
        let index = Int(truncatingIfNeeded: ref & 0xFFFF_FFFF)
        if sizeClass == SlabAllocator.hugeClass { return Entry(huge[index].unsafelyUnwrapped) }
        let c = classes[Int(sizeClass &- 1)]
        let page = c.pages.unsafelyUnwrapped[index >> c.pageShift]
        return Entry(page + (index & ((1 << c.pageShift) - 1)) * c.cellSize)
    }

    /// Frees the copied memory.
    func release() {
        for table in tables { table.slots.deallocate() }
        for c in classes {
            guard let pages = c.pages else { continue }
            for p in 0..<c.pageCount { pages[p].deallocate() }
            pages.deallocate()
        }
        for case let cell? in huge { cell.deallocate() }
    }
}
