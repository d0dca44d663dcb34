#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The type of the value an entry holds (Redis's object types).
public enum ValueType: UInt8, Sendable {
    case string = 0
    case list = 1
    case set = 2
    case zset = 3
    case hash = 4

    /// The name `TYPE` replies with.
    public var name: StaticString {
        switch self {
        case .string: "string"
        case .list: "list"
        case .set: "set"
        case .zset: "zset"
        case .hash: "hash"
        }
    }
}

/// A view of one key-value entry packed in a slab cell.
///
/// Layout (little-endian):
/// ```
/// 0       flags: bits 0-2 value type, bit 3 capture mark (see ``capturedFlag``), bit 4 has-expiry, bit 5 raw
///         string encoding, bit 6 not int-encodable, bit 7 unshared copy
/// 1...3   access metadata: 24-bit LRU clock or LFU counter (eviction, OBJECT IDLETIME/FREQ)
/// 4...11  absolute expiry in Unix milliseconds (present only when bit 4 is set)
/// then    key length and value length as LEB128 varints, the key bytes, the value bytes
/// ```
/// A 12-byte key with a 10-byte value takes 28 bytes, a 32-byte cell: the key table slot (8 bytes at ≤ 75% load)
/// is the only other per-key cost.
struct Entry {
    let base: UnsafeMutableRawPointer

    static let expiryFlag: UInt8 = 0x10
    static let rawFlag: UInt8 = 0x20
    static let notIntegerFlag: UInt8 = 0x40
    /// The value is a private copy (COPY duplicates objects; Redis's copies of shared integers have refcount 1).
    static let unsharedFlag: UInt8 = 0x80
    /// The capture mark: a snapshot in progress has taken this entry (or it did not exist at the capture point)
    /// when the bit equals its shard's ``Shard/captureMark``. Every capture flips the shard's mark, and leaves every
    /// entry with the new one (see ``KeyspaceCapture``).
    static let capturedFlag: UInt8 = 0x08

    @inline(__always)
    init(_ base: UnsafeMutableRawPointer) {
        self.base = base
    }

    @inline(__always)
    var flags: UInt8 {
        get { base.load(as: UInt8.self) }
        nonmutating set { base.storeBytes(of: newValue, as: UInt8.self) }
    }

    @inline(__always)
    var type: ValueType {
        ValueType(rawValue: flags & 0x07).unsafelyUnwrapped
    }

    @inline(__always)
    var hasExpiry: Bool {
        flags & Self.expiryFlag != 0
    }

    /// Whether the string was last written by APPEND or SETRANGE (Redis then reports the "raw" encoding).
    var isRaw: Bool {
        get { flags & Self.rawFlag != 0 }
        nonmutating set { flags = newValue ? flags | Self.rawFlag : flags & ~Self.rawFlag }
    }

    /// Whether the string must not be reported as int-encoded (INCRBYFLOAT results are plain strings in Redis).
    var isNotIntegerEncoded: Bool {
        get { flags & Self.notIntegerFlag != 0 }
        nonmutating set { flags = newValue ? flags | Self.notIntegerFlag : flags & ~Self.notIntegerFlag }
    }

    /// String encoding flags (raw, not-integer) to carry over when an entry is copied or moved.
    var encodingFlags: UInt8 {
        flags & (Self.rawFlag | Self.notIntegerFlag | Self.unsharedFlag)
    }

    /// The expiry time in Unix milliseconds; only meaningful when ``hasExpiry``.
    @inline(__always)
    var expiry: Int64 {
        get { base.loadUnaligned(fromByteOffset: 4, as: Int64.self) }
        nonmutating set { base.storeBytes(of: newValue, toByteOffset: 4, as: Int64.self) }
    }

    var access: UInt32 {
        get {
            UInt32(base.load(fromByteOffset: 1, as: UInt8.self))
                | UInt32(base.load(fromByteOffset: 2, as: UInt8.self)) << 8
                | UInt32(base.load(fromByteOffset: 3, as: UInt8.self)) << 16
        }
        nonmutating set {
            base.storeBytes(of: UInt8(truncatingIfNeeded: newValue), toByteOffset: 1, as: UInt8.self)
            base.storeBytes(of: UInt8(truncatingIfNeeded: newValue >> 8), toByteOffset: 2, as: UInt8.self)
            base.storeBytes(of: UInt8(truncatingIfNeeded: newValue >> 16), toByteOffset: 3, as: UInt8.self)
        }
    }

    @inline(__always)
    var lengthsOffset: Int {
        hasExpiry ? 12 : 4
    }

    /// Key length, value length, and the offset of the key bytes.
    @inline(__always)
    var layout: (keyLength: Int, valueLength: Int, keyOffset: Int) {
        let offset = lengthsOffset
        // Keys and values shorter than 128 bytes (most of a cache) have one-byte lengths: two loads, no loop. If
        // the key's length takes more bytes, the second byte read is part of it, and has its high bit set too.
        let keyByte = base.load(fromByteOffset: offset, as: UInt8.self)
        let valueByte = base.load(fromByteOffset: offset &+ 1, as: UInt8.self)
        if _fastPath((keyByte | valueByte) < 0x80) {
            return (Int(keyByte), Int(valueByte), offset &+ 2)
        }
        return Self.longLayout(base, offset)
    }

    /// ``layout`` when a length takes more than one byte.
    @inline(never)
    static func longLayout(_ base: UnsafeMutableRawPointer, _ start: Int) -> (
        keyLength: Int, valueLength: Int, keyOffset: Int
    ) {
        var offset = start
        let keyLength = readVarint(base, &offset)
        let valueLength = readVarint(base, &offset)
        return (keyLength, valueLength, offset)
    }

    @inline(__always)
    var key: UnsafeRawBufferPointer {
        let l = layout
        return UnsafeRawBufferPointer(start: base + l.keyOffset, count: l.keyLength)
    }

    @inline(__always)
    var value: UnsafeMutableRawBufferPointer {
        let l = layout
        return UnsafeMutableRawBufferPointer(start: base + l.keyOffset + l.keyLength, count: l.valueLength)
    }

    @inline(__always)
    var valueLength: Int {
        layout.valueLength
    }

    /// The collection an entry of a non-string type holds (the value bytes are one retained reference).
    @inline(__always)
    var object: CollectionObject {
        Unmanaged<CollectionObject>.fromOpaque(objectPointer).takeUnretainedValue()
    }

    /// The raw reference stored in a collection entry's value bytes.
    @inline(__always)
    var objectPointer: UnsafeRawPointer {
        let l = layout
        let bits = base.loadUnaligned(fromByteOffset: l.keyOffset + l.keyLength, as: UInt.self)
        return UnsafeRawPointer(bitPattern: bits).unsafelyUnwrapped
    }

    /// Bytes a collection entry's value takes: one object reference.
    static let objectValueLength = MemoryLayout<UInt>.size

    @inline(__always)
    func keyEquals(_ other: UnsafeRawBufferPointer) -> Bool {
        let l = layout
        guard l.keyLength == other.count else { return false }
        return Self.bytesEqual(base + l.keyOffset, other.baseAddress, l.keyLength)
    }

    /// Whether `count` bytes at `a` and `b` are equal. Keys of 4 to 16 bytes (most keys) compare as two
    /// overlapping words each, inline; longer ones call `memcmp`.
    @inline(__always)
    static func bytesEqual(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer?, _ count: Int) -> Bool {
        guard count > 0, let b else { return true }
        if count >= 8 {
            guard count <= 16 else { return memcmp(a, b, count) == 0 }
            let tail = count &- 8
            let head = a.loadUnaligned(as: UInt64.self) ^ b.loadUnaligned(as: UInt64.self)
            let last =
                a.loadUnaligned(fromByteOffset: tail, as: UInt64.self)
                ^ b.loadUnaligned(fromByteOffset: tail, as: UInt64.self)
            return head | last == 0
        }
        if count >= 4 {
            let tail = count &- 4
            let head = a.loadUnaligned(as: UInt32.self) ^ b.loadUnaligned(as: UInt32.self)
            let last =
                a.loadUnaligned(fromByteOffset: tail, as: UInt32.self)
                ^ b.loadUnaligned(fromByteOffset: tail, as: UInt32.self)
            return head | last == 0
        }
        var index = 0
        while index < count {
            if a.load(fromByteOffset: index, as: UInt8.self) != b.load(fromByteOffset: index, as: UInt8.self) {
                return false
            }
            index &+= 1
        }
        return true
    }

    /// Bytes an entry with these lengths needs.
    @inline(__always)
    static func size(keyLength: Int, valueLength: Int, hasExpiry: Bool) -> Int {
        (hasExpiry ? 12 : 4) + varintSize(keyLength) + varintSize(valueLength) + keyLength + valueLength
    }

    /// Bytes this entry takes in its cell.
    @inline(__always)
    var size: Int {
        let l = layout
        return l.keyOffset + l.keyLength + l.valueLength
    }

    /// Writes the header and key into `cell`; the caller fills the value region. `mark` is the shard's
    /// ``Shard/captureMark``.
    @inline(__always)
    static func initialize(
        _ cell: UnsafeMutableRawPointer,
        type: ValueType,
        key: UnsafeRawBufferPointer,
        valueLength: Int,
        expiry: Int64?,
        access: UInt32,
        mark: UInt8 = 0
    ) -> Entry {
        let entry = Entry(cell)
        var flags = type.rawValue | mark
        if expiry != nil { flags |= expiryFlag }
        entry.flags = flags
        entry.access = access
        var offset = 4
        if let expiry {
            cell.storeBytes(of: expiry, toByteOffset: 4, as: Int64.self)
            offset = 12
        }
        writeVarint(cell, &offset, key.count)
        writeVarint(cell, &offset, valueLength)
        if key.count > 0 {
            (cell + offset).copyMemory(from: key.baseAddress!, byteCount: key.count)
        }
        return entry
    }

    @inline(__always)
    static func varintSize(_ value: Int) -> Int {
        var v = UInt64(value)
        var n = 1
        while v >= 0x80 {
            v >>= 7
            n += 1
        }
        return n
    }

    @inline(__always)
    static func readVarint(_ p: UnsafeMutableRawPointer, _ offset: inout Int) -> Int {
        var byte = p.load(fromByteOffset: offset, as: UInt8.self)
        offset += 1
        if byte < 0x80 { return Int(byte) }
        var result = Int(byte & 0x7F)
        var shift = 7
        repeat {
            byte = p.load(fromByteOffset: offset, as: UInt8.self)
            offset += 1
            result |= Int(byte & 0x7F) << shift
            shift += 7
        } while byte >= 0x80
        return result
    }

    @inline(__always)
    static func writeVarint(_ p: UnsafeMutableRawPointer, _ offset: inout Int, _ value: Int) {
        var v = UInt64(value)
        while v >= 0x80 {
            p.storeBytes(of: UInt8(truncatingIfNeeded: v) | 0x80, toByteOffset: offset, as: UInt8.self)
            offset += 1
            v >>= 7
        }
        p.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: offset, as: UInt8.self)
        offset += 1
    }
}
