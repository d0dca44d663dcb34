public import NIOCore

/// A hash: a listpack-like ``PackedList`` of alternating fields and values while small, a dictionary past
/// `hash-max-listpack-entries` fields or when a field or value is longer than `hash-max-listpack-value`.
/// Conversion is one way, as in Redis.
public final class HashObject: CollectionObject, @unchecked Sendable {
    /// Field, value, field, value ... (listpack encoding); empty once converted.
    private(set) var packed = PackedList()
    /// The hashtable encoding, or nil while packed.
    private(set) var table: [[UInt8]: [UInt8]]?
    /// Field and value bytes held by `table`.
    private var tablePayload = 0

    override init() {}

    public override var valueType: ValueType { .hash }
    public override var encodingName: String { table == nil ? "listpack" : "hashtable" }
    public override var count: Int { table?.count ?? packed.count / 2 }
    var isPacked: Bool { table == nil }

    public override var memoryBytes: Int {
        if let table {
            // Native dictionary storage: a key and a value array per element plus bucket metadata.
            return 64 + table.capacity * 17 + table.count * 64 + tablePayload
        }
        return 48 + packed.heapBytes
    }

    public override func copy() -> CollectionObject {
        let other = HashObject()
        other.packed = packed
        other.table = table
        other.tablePayload = tablePayload
        return other
    }

    // MARK: Access

    /// Offset of `field`'s element in the packed list, or nil.
    private func packedOffset(_ field: UnsafeRawBufferPointer) -> Int? {
        var o = 0
        let end = packed.endOffset
        while o < end {
            let value = packed.next(o)
            if packed.equals(at: o, field) { return o }
            o = packed.next(value)
        }
        return nil
    }

    /// Runs `body` with the value of `field`, or returns nil when the field is absent.
    func withValue<R>(_ field: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R? {
        if let table {
            guard let value = table[Array(field)] else { return nil }
            return try value.withUnsafeBytes(body)
        }
        guard let o = packedOffset(field) else { return nil }
        return try packed.withElement(at: packed.next(o), body)
    }

    func value(_ field: UnsafeRawBufferPointer) -> [UInt8]? {
        withValue(field) { Array($0) }
    }

    func contains(_ field: UnsafeRawBufferPointer) -> Bool {
        if let table { return table[Array(field)] != nil }
        return packedOffset(field) != nil
    }

    /// Calls `body` with each field and value, in the encoding's order.
    func forEach(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) throws -> Void) rethrows {
        if let table {
            for (field, value) in table {
                try field.withUnsafeBytes { f in try value.withUnsafeBytes { v in try body(f, v) } }
            }
            return
        }
        var o = 0
        let end = packed.endOffset
        while o < end {
            let v = packed.next(o)
            try packed.withElement(at: o) { f in try packed.withElement(at: v) { value in try body(f, value) } }
            o = packed.next(v)
        }
    }

    /// Every field and value, in iteration order.
    var pairs: [(field: [UInt8], value: [UInt8])] {
        var result: [(field: [UInt8], value: [UInt8])] = []
        result.reserveCapacity(count)
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
        if table != nil {
            let key = Array(field)
            let old = table![key]
            table![key] = Array(value)
            if let old {
                tablePayload += value.count - old.count
                return false
            }
            tablePayload += field.count + value.count
            return true
        }
        if let o = packedOffset(field) {
            packed.replace(at: packed.next(o), with: value)
            return false
        }
        packed.append(field, value)
        if packed.count / 2 > limits.hashMaxListpackEntries { convertToTable() }
        return true
    }

    /// Removes `field`; returns whether it was there.
    @discardableResult
    func remove(_ field: UnsafeRawBufferPointer) -> Bool {
        if table != nil {
            guard let old = table!.removeValue(forKey: Array(field)) else { return false }
            tablePayload -= field.count + old.count
            return true
        }
        guard let o = packedOffset(field) else { return false }
        packed.remove(at: o, elements: 2)
        return true
    }

    private func convertToTable() {
        var dict: [[UInt8]: [UInt8]] = [:]
        dict.reserveCapacity(packed.count / 2)
        var payload = 0
        forEach { f, v in
            dict[Array(f)] = Array(v)
            payload += f.count + v.count
        }
        table = dict
        tablePayload = payload
        packed.removeAll()
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
        for _ in 0..<n {
            let field = try reader.bytes()
            let value = try reader.bytes()
            let isNew = field.withUnsafeBytes { f in
                value.withUnsafeBytes { v in hash.setWithoutConversion(f, v) }
            }
            guard isNew else { throw CollectionDecodingError("duplicate hash field") }
        }
        return hash
    }

    /// Inserts keeping the current encoding (loading restores the saved encoding).
    private func setWithoutConversion(_ field: UnsafeRawBufferPointer, _ value: UnsafeRawBufferPointer) -> Bool {
        var unlimited = CollectionLimits()
        unlimited.hashMaxListpackEntries = .max
        unlimited.hashMaxListpackValue = .max
        return set(field, value, limits: unlimited)
    }
}
