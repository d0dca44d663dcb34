#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw copy of one shard's key tables and slab memory, taken under the shard's lock for a snapshot so that the
/// records can be serialized after the lock is released.
///
/// Taking it is a few sequential `memcpy`s into one contiguous buffer (no per-key work, no allocation when the
/// buffer is big enough): each database's slot array, then for every size class the cells handed out so far (the
/// pages laid end to end, so cell `i` of a class is at `base + i * cellSize`), then each large cell. Entries are
/// read back through ``entry(_:)`` with the same layout as in the slab. Collection values are not in the copy (an
/// entry holds only a reference to its mutable object): the capture serializes those under the lock.
///
/// An image is reused from shard to shard (``KeyspaceCapture`` keeps a few): its buffer stays allocated and its
/// pages stay mapped, so a copy under the lock does not stall on page faults. It is handed from the thread that
/// took it to the snapshot's threads, never used by two threads at once.
final class ShardImage: @unchecked Sendable {
    /// One database's slot array (at ``offset`` in the buffer).
    struct Table {
        let db: Int
        let offset: Int
        let capacity: Int
    }

    private(set) var tables: [Table] = []
    /// Per size class: the buffer offset of its cell 0 (-1 when the class had no cells).
    private var classBase: [Int] = Array(repeating: -1, count: SlabAllocator.classSizes.count)
    private let cellSizes = SlabAllocator.classSizes
    /// Per large cell: its buffer offset (-1 for a free one).
    private var hugeOffset: [Int] = []
    private var buffer: UnsafeMutableRawPointer?
    /// Bytes allocated (and touched) at ``buffer``.
    private(set) var capacity = 0
    /// Bytes copied by the last ``capture(_:)``.
    private(set) var bytes = 0

    init() {}

    deinit {
        buffer?.deallocate()
    }

    /// The bytes a copy of `shard` takes now. The caller holds the shard's lock.
    static func bytesNeeded(for shard: Shard) -> Int {
        var total = 0
        var hasKeys = false
        for table in shard.tables where table.count > 0 {
            total += table.slotBytes
            hasKeys = true
        }
        guard hasKeys else { return 0 }
        let slab = shard.slab
        for index in 0..<SlabAllocator.classSizes.count {
            let c = slab.classes[index]
            total += align(Int(c.used) * c.cellSize)
        }
        for (index, cell) in slab.huge.enumerated() where cell != nil { total += align(slab.hugeSizes[index]) }
        return total
    }

    @inline(__always)
    private static func align(_ bytes: Int) -> Int { (bytes + 15) & ~15 }

    /// Makes the buffer at least `bytes` long. With `touch`, every page is written once so that a later copy does
    /// not stall on page faults: meant to run before the lock is taken (``capture(_:)`` grows the buffer itself,
    /// without touching, if the shard grew meanwhile).
    func reserve(_ bytes: Int, touch: Bool = true) {
        guard bytes > capacity else { return }
        buffer?.deallocate()
        // Some slack, so that a shard that grows a little between two snapshots still fits.
        let size = bytes + bytes / 8 + 4096
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        if touch { memset(memory, 0, size) }
        buffer = memory
        capacity = size
    }

    /// Copies the tables of every database with keys and the slab memory of `shard`. The caller holds its lock.
    func capture(_ shard: Shard) {
        tables.removeAll(keepingCapacity: true)
        hugeOffset.removeAll(keepingCapacity: true)
        for index in classBase.indices { classBase[index] = -1 }
        bytes = 0
        let needed = Self.bytesNeeded(for: shard)
        guard needed > 0 else { return }
        reserve(needed, touch: false)
        let base = buffer.unsafelyUnwrapped
        var offset = 0
        for (db, table) in shard.tables.enumerated() where table.count > 0 {
            (base + offset).copyMemory(from: table.slots, byteCount: table.slotBytes)
            tables.append(Table(db: db, offset: offset, capacity: table.capacity))
            offset += table.slotBytes
        }
        let slab = shard.slab
        for index in 0..<SlabAllocator.classSizes.count {
            let c = slab.classes[index]
            let used = Int(c.used)
            guard used > 0, let pages = c.pages else { continue }
            classBase[index] = offset
            let cellsPerPage = 1 << c.pageShift
            let pageBytes = c.cellSize << c.pageShift
            var remaining = used
            var target = base + offset
            var page = 0
            while remaining > 0 {
                let cells = min(remaining, cellsPerPage)
                target.copyMemory(from: pages[page], byteCount: cells * c.cellSize)
                target += pageBytes
                remaining -= cells
                page += 1
            }
            offset += Self.align(used * c.cellSize)
        }
        hugeOffset.reserveCapacity(slab.huge.count)
        for (index, cell) in slab.huge.enumerated() {
            guard let cell else {
                hugeOffset.append(-1)
                continue
            }
            let size = slab.hugeSizes[index]
            (base + offset).copyMemory(from: cell, byteCount: size)
            hugeOffset.append(offset)
            offset += Self.align(size)
        }
        bytes = offset
    }

    /// The slot array of a copied table.
    @inline(__always)
    func slots(_ table: Table) -> UnsafePointer<UInt64> {
        UnsafePointer((buffer.unsafelyUnwrapped + table.offset).assumingMemoryBound(to: UInt64.self))
    }

    /// The copied entry a slot value refers to.
    @inline(__always)
    func entry(_ slotValue: UInt64) -> Entry {
        let ref = slotValue & KeyTable.refMask
        let sizeClass = ref >> 32
        let index = Int(truncatingIfNeeded: ref & 0xFFFF_FFFF)
        let base = buffer.unsafelyUnwrapped
        if sizeClass == SlabAllocator.hugeClass { return Entry(base + hugeOffset[index]) }
        let c = Int(sizeClass &- 1)
        return Entry(base + classBase[c] + index * cellSizes[c])
    }
}
