/// Changes to one index's documents that writes captured and the index has not applied yet, in the order the writes
/// ran: for each, the document's key and either its schema fields' values as the write left them (with the ID hint
/// the stored hash carried) or a removal.
///
/// One byte buffer, reused: an entry is three 32-bit words (the key's length, the hint, the kind: a removal, or an
/// indexing entry, hinted or not), then for an indexing one the length of each field's value (-1: the hash lacks the
/// field), then the key's bytes and the values' bytes, padded to a multiple of 4. With no fields, the entries are
/// pairs of a key and an ID (what ``SearchIndexes`` writes back into hashes as their hints). Appending copies a few dozen bytes and allocates nothing once the buffer is large
/// enough.
final class PendingIndexWrites {
    private static let headerWords = 3
    private static let removal: UInt32 = 1
    private static let hinted: UInt32 = 2

    /// Schema fields per indexing entry.
    let fieldCount: Int
    private var storage: UnsafeMutableRawPointer
    private var capacity: Int
    /// Bytes used.
    private(set) var byteCount = 0
    /// Entries held.
    private(set) var count = 0

    init(fieldCount: Int) {
        self.fieldCount = fieldCount
        capacity = 16 << 10
        storage = .allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        storage.deallocate()
    }

    /// Forgets every entry; keeps the buffer, unless it grew past 1 MiB for a burst (then a small one replaces it).
    func removeAll() {
        byteCount = 0
        count = 0
        if capacity > 1 << 20 {
            storage.deallocate()
            capacity = 16 << 10
            storage = .allocate(byteCount: capacity, alignment: 8)
        }
    }

    /// Records that the document under `key` is gone (deleted, expired, no longer a hash).
    func appendRemoval(key: UnsafeRawBufferPointer) {
        let size = Self.padded(4 * Self.headerWords + key.count)
        let p = reserve(size)
        p.storeBytes(of: UInt32(truncatingIfNeeded: key.count), toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: UInt32.max, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: Self.removal, toByteOffset: 8, as: UInt32.self)
        if key.count > 0 { (p + 4 * Self.headerWords).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        commit(size)
    }

    /// Records the values the document under `key` now has (`values[i]`: schema field `i`, nil when missing).
    /// - Parameters:
    ///   - hint: The document ID the hash carries as its hint (`UInt32.max`: none).
    ///   - hinted: Whether the hash's hint belongs to this index (the first covering the key), so that the ID the
    ///     document ends up with may be written back into the hash.
    func append(key: UnsafeRawBufferPointer, hint: UInt32, hinted: Bool = false,
                values: UnsafeBufferPointer<UnsafeRawBufferPointer?>) {
        precondition(values.count == fieldCount, "one value per schema field")
        var valueBytes = 0
        for value in values { valueBytes &+= value?.count ?? 0 }
        let head = 4 * (Self.headerWords + fieldCount)
        let size = Self.padded(head + key.count + valueBytes)
        let p = reserve(size)
        p.storeBytes(of: UInt32(truncatingIfNeeded: key.count), toByteOffset: 0, as: UInt32.self)
        p.storeBytes(of: hint, toByteOffset: 4, as: UInt32.self)
        p.storeBytes(of: hinted ? Self.hinted : 0, toByteOffset: 8, as: UInt32.self)
        var offset = head
        if key.count > 0 { (p + offset).copyMemory(from: key.baseAddress!, byteCount: key.count) }
        offset &+= key.count
        for i in 0..<fieldCount {
            guard let value = values[i] else {
                p.storeBytes(of: -1, toByteOffset: 4 * (Self.headerWords + i), as: Int32.self)
                continue
            }
            p.storeBytes(of: Int32(truncatingIfNeeded: value.count), toByteOffset: 4 * (Self.headerWords + i), as: Int32.self)
            if value.count > 0 { (p + offset).copyMemory(from: value.baseAddress!, byteCount: value.count) }
            offset &+= value.count
        }
        commit(size)
    }

    /// Calls `body` for each entry in order: the key, then the hint and the values (lent in `values`, which must
    /// hold ``fieldCount`` slots) for an indexing entry, or nil for a removal, and whether the entry was appended
    /// as hinted. The bytes stay valid until the buffer next changes.
    func forEach(values: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>,
                 _ body: (_ key: UnsafeRawBufferPointer, _ hint: UInt32?, _ hinted: Bool) -> Void) {
        var offset = 0
        while offset < byteCount {
            let p = UnsafeRawPointer(storage + offset)
            let keyCount = Int(p.load(fromByteOffset: 0, as: UInt32.self))
            let kind = p.load(fromByteOffset: 8, as: UInt32.self)
            if kind == Self.removal {
                let head = 4 * Self.headerWords
                body(UnsafeRawBufferPointer(start: p + head, count: keyCount), nil, false)
                offset &+= Self.padded(head + keyCount)
                continue
            }
            let head = 4 * (Self.headerWords + fieldCount)
            var valueOffset = head + keyCount
            for i in 0..<fieldCount {
                let length = Int(p.load(fromByteOffset: 4 * (Self.headerWords + i), as: Int32.self))
                if length < 0 {
                    values[i] = nil
                } else {
                    values[i] = UnsafeRawBufferPointer(start: p + valueOffset, count: length)
                    valueOffset &+= length
                }
            }
            body(UnsafeRawBufferPointer(start: p + head, count: keyCount), p.load(fromByteOffset: 4, as: UInt32.self),
                 kind == Self.hinted)
            offset &+= Self.padded(valueOffset)
        }
    }

    @inline(__always)
    private static func padded(_ size: Int) -> Int { (size &+ 3) & ~3 }

    /// Room for `size` more bytes, growing the buffer (doubling) if needed.
    @inline(__always)
    private func reserve(_ size: Int) -> UnsafeMutableRawPointer {
        if byteCount &+ size > capacity { grow(to: byteCount &+ size) }
        return storage + byteCount
    }

    private func grow(to needed: Int) {
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 8)
        bigger.copyMemory(from: storage, byteCount: byteCount)
        storage.deallocate()
        storage = bigger
        capacity = newCapacity
    }

    @inline(__always)
    private func commit(_ size: Int) {
        byteCount &+= size
        count &+= 1
    }
}
