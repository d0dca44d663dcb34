#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Entries copied for a snapshot under a shard's lock, serialized into snapshot records later, outside it.
///
/// One contiguous buffer of records, each a 10-byte header (database as a `UInt16`, the index + 1 of the entry's
/// collection in ``objects`` or 0 for a string, the entry's size as a `UInt32`) followed by the entry's bytes as
/// they were in its slab cell, read back through ``Entry``. Copying an entry is one `memcpy` of its cell, no
/// per-field work; a collection is not copied but referenced (the snapshot pins it, see ``KeyspaceCapture``).
///
/// A buffer is reused from shard to shard: its memory stays allocated and mapped, and it is grown (and its new
/// pages touched) before the lock is taken (``reserve(_:)``), so a copy under the lock rarely allocates or faults.
/// Owned by one thread at a time.
final class CaptureRecords: @unchecked Sendable {
    static let headerBytes = 10

    private var buffer: UnsafeMutableRawPointer?
    /// Bytes used.
    private(set) var count = 0
    /// Bytes allocated (and touched).
    private(set) var capacity = 0
    /// The collections the records refer to.
    private(set) var objects: [CollectionObject] = []

    init() {}

    deinit {
        buffer?.deallocate()
    }

    /// Makes room for `extra` more bytes, touching new memory so that later appends do not fault.
    func reserve(_ extra: Int) {
        guard count + extra > capacity else { return }
        grow(to: max(count + extra, capacity * 2))
    }

    private func grow(to size: Int) {
        let memory = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        if let buffer {
            memory.copyMemory(from: buffer, byteCount: count)
            buffer.deallocate()
        }
        memset(memory + count, 0, size - count)
        buffer = memory
        capacity = size
    }

    /// Appends a copy of `entry` of database `db`, with the collection `object` it holds (nil for a string).
    /// Returns the entry's size.
    @inline(__always)
    @discardableResult
    func append(db: Int, entry: Entry, object: CollectionObject?) -> Int {
        let size = entry.size
        let needed = Self.headerBytes + size
        if count + needed > capacity { grow(to: max(count + needed, capacity * 2, 1 << 16)) }
        let p = buffer.unsafelyUnwrapped + count
        p.storeBytes(of: UInt16(truncatingIfNeeded: db), as: UInt16.self)
        var objectIndex: UInt32 = 0
        if let object {
            objects.append(object)
            objectIndex = UInt32(truncatingIfNeeded: objects.count)
        }
        p.storeBytes(of: objectIndex, toByteOffset: 2, as: UInt32.self)
        p.storeBytes(of: UInt32(truncatingIfNeeded: size), toByteOffset: 6, as: UInt32.self)
        (p + Self.headerBytes).copyMemory(from: entry.base, byteCount: size)
        count += needed
        return size
    }

    /// Calls `body` with each record: database, the copied entry, and its collection (nil for a string).
    func forEach(_ body: (Int, Entry, CollectionObject?) throws -> Void) rethrows {
        guard let buffer else { return }
        var offset = 0
        while offset < count {
            let p = buffer + offset
            let db = Int(p.loadUnaligned(as: UInt16.self))
            let objectIndex = Int(p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let size = Int(p.loadUnaligned(fromByteOffset: 6, as: UInt32.self))
            try body(db, Entry(p + Self.headerBytes), objectIndex == 0 ? nil : objects[objectIndex - 1])
            offset += Self.headerBytes + size
        }
    }

    /// Calls `body` with each record from byte `offset` on (a record boundary: 0, or an offset this returned) until
    /// `body` refuses one (returns false) or the records end; returns the offset of the first record not taken (the
    /// refused one, ``count`` at the end).
    func forEach(from offset: Int, _ body: (Int, Entry, CollectionObject?) -> Bool) -> Int {
        guard let buffer else { return count }
        var offset = offset
        while offset < count {
            let p = buffer + offset
            let db = Int(p.loadUnaligned(as: UInt16.self))
            let objectIndex = Int(p.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
            let size = Int(p.loadUnaligned(fromByteOffset: 6, as: UInt32.self))
            let object = objectIndex == 0 ? nil : objects[objectIndex - 1]
            guard body(db, Entry(p + Self.headerBytes), object) else { break }
            offset += Self.headerBytes + size
        }
        return offset
    }

    /// Empties the buffer (keeping its memory) and drops the references to collections.
    func removeAll() {
        count = 0
        objects.removeAll()
    }
}
