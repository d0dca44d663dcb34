public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A hash: while small, fields and values packed back to back (each a LEB128 length then the bytes) in one malloc'd
/// block sized exactly, as Redis's listpack is; a dictionary past `hash-max-listpack-entries` fields or when a field
/// or value is longer than `hash-max-listpack-value`. Conversion is one way, as in Redis.
///
/// The packed form costs the object (40 bytes) plus one block of about the payload's size, so a 5-field hash of short
/// values takes no more memory than in Redis.
public final class HashObject: CollectionObject, @unchecked Sendable {
    /// Bytes used in `block`.
    private var length: Int32 = 0
    /// The document ID the first search index covering this hash gave it: a hint (checked by the index against
    /// the ID's key) that saves the index a key-table lookup on every write. Not copied or serialized; it fills
    /// what was padding after `length`.
    var searchHint = UInt32.max
    /// The packed fields and values (nil when empty or converted).
    private var block: UnsafeMutableRawPointer?
    /// The hashtable encoding, or nil while packed.
    private(set) var table: Table?

    /// The hashtable encoding's storage, allocated only for hashes past the compact limits.
    final class Table {
        var dictionary: [[UInt8]: [UInt8]] = [:]
        /// Field and value bytes held.
        var payload = 0
    }

    override init() {}

    deinit {
        free(block)
    }

    public override var valueType: ValueType { .hash }
    public override var encodingName: String { table == nil ? "listpack" : "hashtable" }
    var isPacked: Bool { table == nil }

    public override var count: Int {
        if let table { return table.dictionary.count }
        var n = 0
        var o = 0
        while o < Int(length) {
            o = next(o)
            n += 1
        }
        return n / 2
    }

    override var isEmpty: Bool {
        if let table { return table.dictionary.isEmpty }
        return length == 0
    }

    public override var memoryBytes: Int {
        if let table {
            // Native dictionary storage: a key and a value array per element plus bucket metadata.
            return 96 + table.dictionary.capacity * 17 + table.dictionary.count * 64 + table.payload
        }
        // The block is sized exactly; malloc adds its 8-byte header and rounds to 16.
        return 48 + (block == nil ? 0 : (Int(length) + 8 + 15) & ~15)
    }

    public override func copy() -> CollectionObject {
        let other = HashObject()
        if let table {
            let t = Table()
            t.dictionary = table.dictionary
            t.payload = table.payload
            other.table = t
        } else if let block, length > 0 {
            other.block = malloc(Int(length))
            other.block!.copyMemory(from: block, byteCount: Int(length))
            other.length = length
        }
        return other
    }

    // MARK: The packed block

    /// The element at `offset`: where its bytes start and its length.
    @inline(__always)
    private func element(_ offset: Int) -> (start: Int, count: Int) {
        let p = block.unsafelyUnwrapped
        var o = offset
        var n = 0
        var shift = 0
        while true {
            let b = p.load(fromByteOffset: o, as: UInt8.self)
            o += 1
            n |= Int(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        return (o, n)
    }

    @inline(__always)
    private func next(_ offset: Int) -> Int {
        let e = element(offset)
        return e.start + e.count
    }

    @inline(__always)
    private func bytes(_ offset: Int) -> UnsafeRawBufferPointer {
        let e = element(offset)
        return UnsafeRawBufferPointer(start: block.unsafelyUnwrapped + e.start, count: e.count)
    }

    /// Offset of `field`'s element, or nil.
    private func offset(of field: UnsafeRawBufferPointer) -> Int? {
        var o = 0
        while o < Int(length) {
            let f = element(o)
            let valueOffset = f.start + f.count
            if f.count == field.count
                && (f.count == 0 || memcmp(block.unsafelyUnwrapped + f.start, field.baseAddress!, f.count) == 0)
            {
                return o
            }
            o = next(valueOffset)
        }
        return nil
    }

    /// Replaces the bytes `[start, end)` of the block with the encodings of `elements`, resizing it exactly.
    private func splice(_ start: Int, _ end: Int, _ elements: [UnsafeRawBufferPointer]) {
        var added = 0
        for e in elements { added += Entry.varintSize(e.count) + e.count }
        let old = Int(length)
        let newLength = old - (end - start) + added
        if newLength == 0 {
            free(block)
            block = nil
            length = 0
            return
        }
        if newLength > old || block == nil {
            block = realloc(block, newLength)
        }
        let p = block.unsafelyUnwrapped
        if end < old && start + added != end {
            (p + start + added).copyMemory(from: p + end, byteCount: old - end)
        }
        var o = start
        for e in elements {
            Entry.writeVarint(p, &o, e.count)
            if e.count > 0 { (p + o).copyMemory(from: e.baseAddress!, byteCount: e.count) }
            o += e.count
        }
        if newLength < old { block = realloc(block, newLength) }
        length = Int32(newLength)
    }

    // MARK: Access

    /// Runs `body` with the value of `field`, or returns nil when the field is absent.
    func withValue<R>(_ field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        if let table {
            guard let value = table.dictionary[Array(field)] else { return nil }
            return try value.withUnsafeBytes(body)
        }
        guard let o = offset(of: field) else { return nil }
        return try body(bytes(next(o)))
    }

    /// Sets `values[i]` to the bytes of field `fields[i]`'s value (nil when absent) for each `i`, in one walk of the
    /// packed block, and returns true; returns false (writing nothing) when the hash is not packed.
    ///
    /// The pointers are into the hash's own storage: they stay valid until the hash next changes or is freed (a
    /// caller holding the key's shard lock has that guarantee for as long as it holds the lock), so a reader such
    /// as a search index can use them without copying. With the same field named twice, both get its value.
    func lendValues(_ fields: UnsafeBufferPointer<UnsafeRawBufferPointer>,
                    into values: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>) -> Bool {
        guard table == nil else { return false }
        precondition(values.count >= fields.count, "one value slot per field")
        let count = fields.count
        for i in 0..<count { values[i] = nil }
        guard let p = block else { return true }
        // Wrapping arithmetic and a byte loop instead of `memcmp` (a library call for a few bytes): this walk runs
        // on every indexed write, and the offsets stay inside the block.
        let end = Int(length)
        var missing = count
        var o = 0
        while o < end {
            let f = element(o)
            let v = element(f.start &+ f.count)
            let field = UnsafeRawPointer(p + f.start)
            for i in 0..<count where fields[i].count == f.count && values[i] == nil
                && Self.sameBytes(field, fields[i].baseAddress, f.count)
            {
                values[i] = UnsafeRawBufferPointer(start: p + v.start, count: v.count)
                missing &-= 1
            }
            if missing == 0 { break }
            o = v.start &+ v.count
        }
        return true
    }

    /// Whether the `count` bytes at `a` and `b` are equal (`b` may be nil when `count` is 0).
    @inline(__always)
    private static func sameBytes(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?, _ count: Int) -> Bool {
        guard count > 0, let b else { return true }
        if count > 16 { return memcmp(a, b, count) == 0 }
        var k = 0
        while k < count {
            if a.load(fromByteOffset: k, as: UInt8.self) != b.load(fromByteOffset: k, as: UInt8.self) { return false }
            k &+= 1
        }
        return true
    }

    func value(_ field: UnsafeRawBufferPointer) -> [UInt8]? {
        withValue(field) { Array($0) }
    }

    func contains(_ field: UnsafeRawBufferPointer) -> Bool {
        if let table { return table.dictionary[Array(field)] != nil }
        return offset(of: field) != nil
    }

    /// Calls `body` with each field and value, in the encoding's order.
    func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        if let table {
            for (field, value) in table.dictionary {
                try field.withUnsafeBytes { f in try value.withUnsafeBytes { v in try body(f, v) } }
            }
            return
        }
        var o = 0
        while o < Int(length) {
            let v = next(o)
            try body(bytes(o), bytes(v))
            o = next(v)
        }
    }

    /// Every field and value, in iteration order.
    var pairs: [(field: [UInt8], value: [UInt8])] {
        var result: [(field: [UInt8], value: [UInt8])] = []
        forEach { f, v in result.append((Array(f), Array(v))) }
        return result
    }

    // MARK: Changes

    /// Sets `field` to `value`; returns true if the field is new. Converts to a hashtable past the limits.
    @discardableResult
    func set(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer, limits: CollectionLimits) -> Bool {
        if table == nil && (field.count > limits.hashMaxListpackValue || value.count > limits.hashMaxListpackValue) {
            convertToTable()
        }
        if let table {
            let key = Array(field)
            let old = table.dictionary.updateValue(Array(value), forKey: key)
            if let old {
                table.payload += value.count - old.count
                return false
            }
            table.payload += field.count + value.count
            return true
        }
        if let o = offset(of: field) {
            let v = next(o)
            splice(v, next(v), [value])
            return false
        }
        splice(Int(length), Int(length), [field, value])
        if count > limits.hashMaxListpackEntries { convertToTable() }
        return true
    }

    /// Removes `field`; returns whether it was there.
    @discardableResult
    func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        if let table {
            guard let old = table.dictionary.removeValue(forKey: Array(field)) else { return false }
            table.payload -= field.count + old.count
            return true
        }
        guard let o = offset(of: field) else { return false }
        splice(o, next(next(o)), [])
        return true
    }

    private func convertToTable() {
        let t = Table()
        t.dictionary.reserveCapacity(count)
        forEach { f, v in
            t.dictionary[Array(f)] = Array(v)
            t.payload += f.count + v.count
        }
        free(block)
        block = nil
        length = 0
        table = t
    }

    // MARK: Snapshot payload

    public override func serialize(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(isPacked ? 0 : 1))
        buffer.writeVarint(count)
        forEach { f, v in
            buffer.writeLengthPrefixed(f)
            buffer.writeLengthPrefixed(v)
        }
    }

    static func decode(_ reader: inout PayloadReader) throws -> HashObject {
        let packed = try reader.encoding()
        let n = try reader.count(minimumSize: 2)
        let hash = HashObject()
        if !packed { hash.convertToTable() }
        var unlimited = CollectionLimits()
        unlimited.hashMaxListpackEntries = .max
        unlimited.hashMaxListpackValue = .max
        for _ in 0..<n {
            let field = try reader.bytes()
            let value = try reader.bytes()
            let isNew = field.withUnsafeBytes { f in
                value.withUnsafeBytes { v in hash.set(f, v, limits: unlimited) }
            }
            guard isNew else { throw CollectionDecodingError("duplicate hash field") }
        }
        return hash
    }
}
