#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Byte strings packed back to back in one array, each prefixed by its LEB128 length: the compact encoding of small
/// collections (the role of Redis's listpack). One heap block holds every element, so a 5-field hash costs one
/// allocation instead of ten. Operations scan linearly; the limits in ``CollectionLimits`` keep them short.
///
/// Positions are byte offsets of an element's length prefix; `endOffset` is one past the last element.
struct PackedList {
    private(set) var bytes: [UInt8] = []
    private(set) var count = 0

    init() {}

    var endOffset: Int { bytes.count }
    var isEmpty: Bool { count == 0 }

    /// Heap bytes held by the element array.
    var heapBytes: Int { bytes.isEmpty ? 0 : arrayCost(bytes.capacity) }

    /// The element at `offset`: where its bytes start, their length, and the offset of the next element.
    @inline(__always)
    func element(at offset: Int) -> (start: Int, length: Int, next: Int) {
        bytes.withUnsafeBufferPointer { p in
            var o = offset
            var length = 0
            var shift = 0
            while true {
                let b = p[o]
                o += 1
                length |= Int(b & 0x7F) << shift
                if b < 0x80 { break }
                shift += 7
            }
            return (o, length, o + length)
        }
    }

    /// Offset of the element after the one at `offset`.
    @inline(__always)
    func next(_ offset: Int) -> Int {
        element(at: offset).next
    }

    /// Runs `body` with the bytes of the element at `offset`.
    @inline(__always)
    func withElement<R>(at offset: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let e = element(at: offset)
        return try bytes.withUnsafeBytes { p in
            try body(UnsafeRawBufferPointer(rebasing: p[e.start..<e.start + e.length]))
        }
    }

    /// The element at `offset` as an array.
    func array(at offset: Int) -> [UInt8] {
        let e = element(at: offset)
        return Array(bytes[e.start..<e.start + e.length])
    }

    /// Whether the element at `offset` equals `other`.
    @inline(__always)
    func equals(at offset: Int, _ other: UnsafeRawBufferPointer) -> Bool {
        let e = element(at: offset)
        guard e.length == other.count else { return false }
        if e.length == 0 { return true }
        return bytes.withUnsafeBytes { p in memcmp(p.baseAddress! + e.start, other.baseAddress!, e.length) == 0 }
    }

    /// Compares the element at `offset` with `other` in memcmp order.
    @inline(__always)
    func compare(at offset: Int, _ other: UnsafeRawBufferPointer) -> Int {
        withElement(at: offset) { [UInt8].compareBytes($0, other) }
    }

    /// Encoded size of an element of `length` bytes.
    @inline(__always)
    static func encodedSize(_ length: Int) -> Int {
        Entry.varintSize(length) + length
    }

    /// Inserts `elements` before the element at `offset` (`endOffset` appends). Grows the array to the exact size
    /// needed, as a listpack reallocates, instead of doubling.
    mutating func insert(_ elements: [UnsafeRawBufferPointer], at offset: Int) {
        var added = 0
        for e in elements { added += Self.encodedSize(e.count) }
        var encoded: [UInt8] = []
        encoded.reserveCapacity(added)
        for e in elements {
            var v = UInt64(e.count)
            while v >= 0x80 {
                encoded.append(UInt8(truncatingIfNeeded: v) | 0x80)
                v >>= 7
            }
            encoded.append(UInt8(truncatingIfNeeded: v))
            encoded.append(contentsOf: e)
        }
        reserveExactly(bytes.count + added)
        if offset == bytes.count {
            bytes.append(contentsOf: encoded)
        } else {
            bytes.insert(contentsOf: encoded, at: offset)
        }
        count += elements.count
    }

    mutating func append(_ element: UnsafeRawBufferPointer) {
        insert([element], at: bytes.count)
    }

    mutating func append(_ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer) {
        insert([first, second], at: bytes.count)
    }

    /// Removes `n` elements starting at `offset`.
    mutating func remove(at offset: Int, elements n: Int) {
        var end = offset
        for _ in 0..<n { end = next(end) }
        bytes.removeSubrange(offset..<end)
        count -= n
        shrinkIfSparse()
    }

    /// Replaces the element at `offset` with `element`.
    mutating func replace(at offset: Int, with element: UnsafeRawBufferPointer) {
        let end = next(offset)
        var encoded: [UInt8] = []
        encoded.reserveCapacity(Self.encodedSize(element.count))
        var v = UInt64(element.count)
        while v >= 0x80 {
            encoded.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        encoded.append(UInt8(truncatingIfNeeded: v))
        encoded.append(contentsOf: element)
        if encoded.count > end - offset { reserveExactly(bytes.count + encoded.count - (end - offset)) }
        bytes.replaceSubrange(offset..<end, with: encoded)
        shrinkIfSparse()
    }

    mutating func removeAll() {
        bytes = []
        count = 0
    }

    /// Makes room for `capacity` bytes in total (exactly, not doubled).
    mutating func reserveCapacity(_ capacity: Int) {
        reserveExactly(capacity)
    }

    private mutating func reserveExactly(_ capacity: Int) {
        if bytes.capacity < capacity {
            var grown: [UInt8] = []
            grown.reserveCapacity(capacity)
            grown.append(contentsOf: bytes)
            bytes = grown
        }
    }

    private mutating func shrinkIfSparse() {
        if bytes.isEmpty {
            bytes = []
        } else if bytes.capacity - bytes.count > Swift.max(64, bytes.count / 2) {
            var shrunk: [UInt8] = []
            shrunk.reserveCapacity(bytes.count)
            shrunk.append(contentsOf: bytes)
            bytes = shrunk
        }
    }

    /// Offsets of every element, in order.
    var offsets: [Int] {
        var result: [Int] = []
        result.reserveCapacity(count)
        var o = 0
        while o < bytes.count {
            result.append(o)
            o = next(o)
        }
        return result
    }
}

extension Array where Element == UInt8 {
    /// Runs `body` with the array's bytes (a shorthand for `withUnsafeBytes`).
    @inline(__always)
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(body)
    }
}
