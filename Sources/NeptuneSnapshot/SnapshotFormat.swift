/// The snapshot file format (`dump.nsnap`).
///
/// A snapshot is a valid LZ4 stream, so `lz4 -t dump.nsnap` verifies the whole file:
/// ```
/// skippable frame   u32 0x184D2A50 | u32 payload length | metadata payload
/// LZ4 frame         block checksums and content checksum on; its content is the keyspace's records
///                   (``SnapshotRecord``): key records, then the end marker with the record count
/// ```
/// The metadata payload:
/// ```
/// "NEPTSNAP" | u32 format version | u32 field count | fields | u32 CRC-32C of everything before it
/// field      := u16 tag | u32 length | bytes
/// ```
/// Integers are little-endian. Known tags are listed in ``SnapshotMetadata/Tag``; readers keep fields with
/// unknown tags (new optional information such as index definitions can be added without a version change),
/// while an incompatible change raises the format version, which older readers refuse.
public enum SnapshotFormat {
    /// The first 8 bytes of the metadata payload.
    public static let magic: [UInt8] = Array("NEPTSNAP".utf8)
    /// The format version this build writes and reads.
    public static let version: UInt32 = 1
    /// The file name Neptune uses by default (Redis's `dbfilename` parameter; not Redis's `dump.rdb`).
    public static let defaultFileName = "dump.nsnap"
}

/// The metadata at the head of a snapshot file.
public struct SnapshotMetadata: Equatable, Sendable {
    /// Field tags of the metadata payload.
    public enum Tag: UInt16, Sendable {
        /// u64: the journal sequence number the snapshot covers (records ≤ it are in the snapshot).
        case sequence = 1
        /// u64: the number of key records.
        case keyCount = 2
        /// i64: creation time, Unix milliseconds.
        case createdAt = 3
        /// u32: the number of databases of the engine that wrote it.
        case databases = 4
        /// UTF-8: the program that wrote it.
        case producer = 5
        /// (u32 database, u64 keys) pairs for the databases holding keys: lets a reader size its tables first.
        case databaseKeys = 7
    }

    public var formatVersion: UInt32
    public var sequence: UInt64
    public var keyCount: UInt64
    public var createdAt: Int64
    public var databases: UInt32
    public var producer: String
    /// Keys per database (databases without keys omitted).
    public var databaseKeys: [Int: UInt64] = [:]
    /// Fields with tags this version does not know, kept as read.
    public var otherFields: [UInt16: [UInt8]]

    public init(
        sequence: UInt64,
        keyCount: UInt64,
        createdAt: Int64,
        databases: UInt32,
        producer: String = "neptune 0.1.0",
        otherFields: [UInt16: [UInt8]] = [:]
    ) {
        self.formatVersion = SnapshotFormat.version
        self.sequence = sequence
        self.keyCount = keyCount
        self.createdAt = createdAt
        self.databases = databases
        self.producer = producer
        self.otherFields = otherFields
    }

    /// The metadata payload (what goes inside the skippable frame).
    public func encoded() -> [UInt8] {
        var out = SnapshotFormat.magic
        append(formatVersion, to: &out)
        var fields: [(UInt16, [UInt8])] = [
            (Tag.sequence.rawValue, bytes(of: sequence)),
            (Tag.keyCount.rawValue, bytes(of: keyCount)),
            (Tag.createdAt.rawValue, bytes(of: createdAt)),
            (Tag.databases.rawValue, bytes(of: databases)),
            (Tag.producer.rawValue, Array(producer.utf8)),
        ]
        if !databaseKeys.isEmpty {
            var pairs: [UInt8] = []
            for db in databaseKeys.keys.sorted() {
                append(UInt32(db), to: &pairs)
                append(databaseKeys[db]!, to: &pairs)
            }
            fields.append((Tag.databaseKeys.rawValue, pairs))
        }
        for tag in otherFields.keys.sorted() { fields.append((tag, otherFields[tag]!)) }
        append(UInt32(fields.count), to: &out)
        for (tag, value) in fields {
            append(tag, to: &out)
            append(UInt32(value.count), to: &out)
            out += value
        }
        let crc = out.withUnsafeBytes { CRC32C.update(0, $0) }
        append(crc, to: &out)
        return out
    }

    /// Decodes a metadata payload that starts at `fileOffset` in `path`.
    public static func decode(_ payload: [UInt8], path: String, fileOffset: Int) throws(SnapshotError) -> SnapshotMetadata {
        func fail(_ at: Int, _ reason: String) -> SnapshotError {
            SnapshotError(path: path, offset: fileOffset + at, reason: reason)
        }
        guard payload.count >= 16, Array(payload[0..<8]) == SnapshotFormat.magic else {
            throw fail(0, "not a Neptune snapshot (bad metadata magic)")
        }
        let version = read(UInt32.self, payload, 8)
        guard version == SnapshotFormat.version else {
            throw fail(8, "unsupported snapshot format version \(version) (this build reads version \(SnapshotFormat.version))")
        }
        let body = payload.count - 4
        let stored = read(UInt32.self, payload, body)
        let computed = payload.withUnsafeBytes { CRC32C.update(0, UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
        guard stored == computed else {
            throw fail(body, "metadata checksum mismatch")
        }
        var metadata = SnapshotMetadata(sequence: 0, keyCount: 0, createdAt: 0, databases: 0, producer: "")
        let fieldCount = Int(read(UInt32.self, payload, 12))
        var offset = 16
        var seen: Set<UInt16> = []
        for _ in 0..<fieldCount {
            guard body - offset >= 6 else { throw fail(offset, "metadata field cut short") }
            let tag = read(UInt16.self, payload, offset)
            let length = Int(read(UInt32.self, payload, offset + 2))
            guard body - offset - 6 >= length else { throw fail(offset, "metadata field cut short") }
            let value = Array(payload[(offset + 6)..<(offset + 6 + length)])
            func integer<T: FixedWidthInteger>(_ type: T.Type) throws(SnapshotError) -> T {
                guard value.count == MemoryLayout<T>.size else {
                    throw fail(offset, "metadata field \(tag) has length \(value.count)")
                }
                return read(T.self, value, 0)
            }
            switch Tag(rawValue: tag) {
            case .sequence: metadata.sequence = try integer(UInt64.self)
            case .keyCount: metadata.keyCount = try integer(UInt64.self)
            case .createdAt: metadata.createdAt = try integer(Int64.self)
            case .databases: metadata.databases = try integer(UInt32.self)
            case .producer: metadata.producer = String(decoding: value, as: UTF8.self)
            case .databaseKeys:
                guard value.count % 12 == 0 else { throw fail(offset, "metadata field \(tag) has length \(value.count)") }
                for pair in stride(from: 0, to: value.count, by: 12) {
                    metadata.databaseKeys[Int(read(UInt32.self, value, pair))] = read(UInt64.self, value, pair + 4)
                }
            case nil: metadata.otherFields[tag] = value
            }
            seen.insert(tag)
            offset += 6 + length
        }
        guard offset == body else { throw fail(offset, "unexpected bytes after the metadata fields") }
        for required in [Tag.sequence, .keyCount, .createdAt, .databases] where !seen.contains(required.rawValue) {
            throw fail(16, "metadata lacks field \(required)")
        }
        return metadata
    }

    private func bytes<T: FixedWidthInteger>(of value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    private func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func read<T: FixedWidthInteger>(_ type: T.Type, _ bytes: [UInt8], _ offset: Int) -> T {
        bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
    }
}

/// Why a snapshot cannot be read or written: the file, the byte offset in it, and what is wrong there.
public struct SnapshotError: Error, Equatable, Sendable, CustomStringConvertible {
    public let path: String
    public let offset: Int
    public let reason: String

    public init(path: String, offset: Int, reason: String) {
        self.path = path
        self.offset = offset
        self.reason = reason
    }

    public var description: String {
        "snapshot file \(path) at offset \(offset): \(reason)"
    }
}

extension SnapshotMetadata {
    /// Tag of the optional field holding the secondary-index definitions (absent when there are none):
    /// `u32 count | count × (u32 argument count | arguments × (u32 length | bytes))`, each definition being the
    /// FT.CREATE arguments after the command name. Older readers keep it as an unknown field.
    public static let indexDefinitionsTag: UInt16 = 6

    /// The secondary-index definitions recorded in the snapshot (see ``indexDefinitionsTag``).
    public var indexDefinitions: [[[UInt8]]] {
        get {
            guard let bytes = otherFields[Self.indexDefinitionsTag] else { return [] }
            var offset = 0
            func u32() -> Int? {
                guard offset + 4 <= bytes.count else { return nil }
                var value: UInt32 = 0
                for i in 0..<4 { value |= UInt32(bytes[offset + i]) << (8 * UInt32(i)) }
                offset += 4
                return Int(value)
            }
            var result: [[[UInt8]]] = []
            guard let count = u32() else { return [] }
            for _ in 0..<count {
                guard let argc = u32() else { return result }
                var arguments: [[UInt8]] = []
                for _ in 0..<argc {
                    guard let length = u32(), offset + length <= bytes.count else { return result }
                    arguments.append(Array(bytes[offset..<(offset + length)]))
                    offset += length
                }
                result.append(arguments)
            }
            return result
        }
        set {
            guard !newValue.isEmpty else {
                otherFields[Self.indexDefinitionsTag] = nil
                return
            }
            var out: [UInt8] = []
            func u32(_ v: Int) { for i in 0..<4 { out.append(UInt8(truncatingIfNeeded: UInt32(v) >> (8 * UInt32(i)))) } }
            u32(newValue.count)
            for arguments in newValue {
                u32(arguments.count)
                for argument in arguments {
                    u32(argument.count)
                    out += argument
                }
            }
            otherFields[Self.indexDefinitionsTag] = out
        }
    }
}
