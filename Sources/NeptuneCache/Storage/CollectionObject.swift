public import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A non-string value: a hash, list, set or sorted set held as a Swift object.
///
/// An entry of a collection type stores one retained `Unmanaged<CollectionObject>` reference (8 bytes) as its value
/// bytes; the shard releases it when the entry is removed, replaced or flushed (see ``Shard``). Objects are only read
/// or changed under their shard's lock, hence `@unchecked Sendable`.
///
/// Subclasses: ``HashObject``, ``SetObject``, ``SortedSetObject``, ``ListObject``. Each picks a compact encoding
/// for small contents (Redis's `listpack` and `intset`) and converts to a general one past the limits in
/// ``CollectionLimits``, so `OBJECT ENCODING` answers as Redis 7.0 does.
public class CollectionObject: @unchecked Sendable {
    /// The bytes the owning shard has been charged for this object (kept by ``Shard`` so its total never drifts);
    /// 32 bits keep a small hash's object at 40 bytes.
    var chargedBytes: Int32 = 0
    /// The id of the snapshot that holds this very object to serialize it outside the shard lock (0: none): a
    /// command about to change it swaps a copy into its entry first (``Shard/prepareToChange(key:hash:)``). Beside
    /// ``chargedBytes``, so the object does not grow.
    var snapshotPin: UInt32 = 0

    init() {}

    /// The Redis type of the value.
    public var valueType: ValueType { fatalError("CollectionObject is abstract") }

    /// The encoding `OBJECT ENCODING` reports (`listpack`, `hashtable`, `intset`, `skiplist`, `quicklist`).
    public var encodingName: String { fatalError("CollectionObject is abstract") }

    /// Number of elements (fields for a hash, members for sets and sorted sets, items for a list).
    public var count: Int { fatalError("CollectionObject is abstract") }

    /// Whether the collection has no elements (its key is then deleted).
    var isEmpty: Bool { count == 0 }

    /// Approximate heap bytes the object holds (payload, per-element overhead, the object itself); counted in
    /// used memory and by eviction.
    public var memoryBytes: Int { fatalError("CollectionObject is abstract") }

    /// A deep copy with the same contents and encoding (`COPY`).
    public func copy() -> CollectionObject { fatalError("CollectionObject is abstract") }

    /// Appends the snapshot payload: one encoding byte, then the type's contents (see ``deserialize(type:from:)``).
    public func serialize(into buffer: inout ByteBuffer) { fatalError("CollectionObject is abstract") }

    /// Reads an object written by ``serialize(into:)``.
    ///
    /// Payload layout, all lengths and counts as LEB128 varints:
    /// - hash: encoding byte, field count, then field and value as length-prefixed bytes;
    /// - set: encoding byte, member count, members as length-prefixed bytes;
    /// - sorted set: encoding byte, member count, then member bytes and the score as an 8-byte little-endian
    ///   IEEE 754 double, in score order;
    /// - list: encoding byte, item count, items as length-prefixed bytes, head first.
    ///
    /// The encoding byte restores the object's encoding (0 = compact, 1 = general), as Redis keeps a listpack a
    /// listpack when loading an RDB file.
    /// - Parameters:
    ///   - type: The entry's type; must not be ``ValueType/string``.
    ///   - buffer: The payload; its reader index moves past the object.
    /// - Returns: The object.
    /// - Throws: ``CollectionDecodingError`` if the payload is truncated or malformed.
    public static func deserialize(type: ValueType, from buffer: inout ByteBuffer) throws -> CollectionObject {
        var reader = PayloadReader(buffer: buffer)
        let object: CollectionObject
        switch type {
        case .string: throw CollectionDecodingError("a string is not a collection")
        case .hash: object = try HashObject.decode(&reader)
        case .set: object = try SetObject.decode(&reader)
        case .zset: object = try SortedSetObject.decode(&reader)
        case .list: object = try ListObject.decode(&reader)
        }
        buffer = reader.buffer
        return object
    }

    /// An empty object of `type` (used by commands creating a key).
    static func make(_ type: ValueType) -> CollectionObject {
        switch type {
        case .string: preconditionFailure("a string is not a collection")
        case .hash: HashObject()
        case .set: SetObject()
        case .zset: SortedSetObject()
        case .list: ListObject()
        }
    }
}

/// A snapshot payload could not be read as a collection.
public struct CollectionDecodingError: Error, Equatable, Sendable, CustomStringConvertible {
    /// What was wrong.
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { "invalid collection payload: \(message)" }
}

/// The thresholds at which compact encodings convert to general ones (Redis 7.0's defaults and config names).
public struct CollectionLimits: Sendable, Equatable {
    /// `hash-max-listpack-entries` (alias `hash-max-ziplist-entries`; 512 in Redis 7.0).
    public var hashMaxListpackEntries = 512
    /// `hash-max-listpack-value` (alias `hash-max-ziplist-value`).
    public var hashMaxListpackValue = 64
    /// `set-max-intset-entries`.
    public var setMaxIntsetEntries = 512
    /// `zset-max-listpack-entries` (alias `zset-max-ziplist-entries`).
    public var zsetMaxListpackEntries = 128
    /// `zset-max-listpack-value` (alias `zset-max-ziplist-value`).
    public var zsetMaxListpackValue = 64

    public init() {}
}

// MARK: Payload encoding helpers

extension ByteBuffer {
    /// Appends a LEB128 varint.
    mutating func writeVarint(_ value: Int) {
        var v = UInt64(value)
        while v >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        writeInteger(UInt8(truncatingIfNeeded: v))
    }

    /// Appends a varint length and the bytes.
    mutating func writeLengthPrefixed(_ bytes: UnsafeRawBufferPointer) {
        writeVarint(bytes.count)
        writeBytes(bytes)
    }

    mutating func writeLengthPrefixed(_ bytes: [UInt8]) {
        writeVarint(bytes.count)
        writeBytes(bytes)
    }
}

/// Reads a collection payload with bounds checks (a snapshot may be damaged).
struct PayloadReader {
    var buffer: ByteBuffer

    mutating func byte() throws -> UInt8 {
        guard let b = buffer.readInteger(as: UInt8.self) else { throw CollectionDecodingError("truncated") }
        return b
    }

    mutating func varint() throws -> Int {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try byte()
            guard shift < 64 else { throw CollectionDecodingError("varint too long") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { break }
            shift += 7
        }
        guard result <= UInt64(Int.max) else { throw CollectionDecodingError("length out of range") }
        return Int(result)
    }

    /// A count that cannot exceed the bytes left (each element takes at least `minimumSize` bytes).
    mutating func count(minimumSize: Int) throws -> Int {
        let n = try varint()
        guard n <= buffer.readableBytes / max(1, minimumSize) else { throw CollectionDecodingError("count too large") }
        return n
    }

    mutating func bytes() throws -> [UInt8] {
        let n = try varint()
        guard let b = buffer.readBytes(length: n) else { throw CollectionDecodingError("truncated") }
        return b
    }

    mutating func double() throws -> Double {
        guard let bits = buffer.readInteger(endianness: .little, as: UInt64.self) else {
            throw CollectionDecodingError("truncated")
        }
        return Double(bitPattern: bits)
    }

    mutating func encoding() throws -> Bool {
        switch try byte() {
        case 0: return true
        case 1: return false
        case let other: throw CollectionDecodingError("unknown encoding \(other)")
        }
    }
}

// MARK: Byte helpers

extension Array where Element == UInt8 {
    /// Bytewise comparison (memcmp order, shorter prefix first), as Redis orders members.
    @inline(__always)
    static func compareBytes(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = Swift.min(a.count, b.count)
        if n > 0 {
            let r = memcmp(a.baseAddress!, b.baseAddress!, n)
            if r != 0 { return Int(r) }
        }
        return a.count - b.count
    }
}

/// Heap cost estimates used by ``CollectionObject/memoryBytes``: malloc rounds small blocks to 16 bytes.
@inline(__always)
func mallocSize(_ bytes: Int) -> Int {
    (bytes + 15) & ~15
}

/// A heap array of bytes costs its header plus the bytes.
@inline(__always)
func arrayCost(_ count: Int) -> Int {
    count == 0 ? 0 : mallocSize(32 + count)
}
