internal import CLZ4
public import NeptuneCache
import Synchronization

/// How far a load has come, for the log and `INFO persistence` (`loading_loaded_bytes`, `loading_loaded_perc` ...).
public final class LoadingProgress: Sendable {
    private let total = Atomic<Int>(0)
    private let loaded = Atomic<Int>(0)
    private let keys = Atomic<Int>(0)
    private let started = Atomic<Int64>(0)

    public init() {}

    /// Bytes of files to load (snapshot plus journal).
    public var totalBytes: Int {
        get { total.load(ordering: .relaxed) }
        set { total.store(newValue, ordering: .relaxed) }
    }

    /// Bytes loaded so far.
    public var loadedBytes: Int {
        get { loaded.load(ordering: .relaxed) }
        set { loaded.store(newValue, ordering: .relaxed) }
    }

    /// Keys loaded so far.
    public var keysLoaded: Int {
        get { keys.load(ordering: .relaxed) }
        set { keys.store(newValue, ordering: .relaxed) }
    }

    /// Unix seconds when loading began.
    public var startTime: Int64 {
        get { started.load(ordering: .relaxed) }
        set { started.store(newValue, ordering: .relaxed) }
    }
}

/// Reads snapshot files: checks the metadata, decompresses the LZ4 frame block by block (every block checksum and
/// the content checksum verified) and loads the records into an engine.
///
/// Any damage (bad magic or version, a metadata or LZ4 checksum mismatch, a file cut short, a missing end marker,
/// counts that disagree, bytes after the end) throws a ``SnapshotError`` naming the file and the byte offset. The
/// engine may then hold part of the snapshot: the caller must not serve it (the server refuses to start).
public enum SnapshotReader {
    /// What a load found.
    public struct Report: Sendable {
        public var metadata: SnapshotMetadata
        /// Key records loaded.
        public var keysLoaded: Int
        /// Size of the file.
        public var fileBytes: Int
    }

    /// Reads the metadata frame at the start of a snapshot file's bytes.
    /// - Returns: The metadata and the offset where the LZ4 frame starts.
    public static func readMetadata(_ bytes: [UInt8], path: String) throws(SnapshotError) -> (SnapshotMetadata, Int) {
        guard bytes.count >= 8 else {
            throw SnapshotError(path: path, offset: 0, reason: "file too short for a snapshot (\(bytes.count) bytes)")
        }
        let magic = SnapshotMetadata.read(UInt32.self, bytes, 0)
        guard magic == LZ4Frame.skippableMagic else {
            throw SnapshotError(path: path, offset: 0, reason: "not a Neptune snapshot (bad magic)")
        }
        let length = Int(SnapshotMetadata.read(UInt32.self, bytes, 4))
        guard bytes.count - 8 >= length else {
            throw SnapshotError(path: path, offset: bytes.count, reason: "file ends inside the metadata frame (truncated)")
        }
        let metadata = try SnapshotMetadata.decode(Array(bytes[8..<(8 + length)]), path: path, fileOffset: 8)
        return (metadata, 8 + length)
    }

    /// Loads the snapshot at `path` into `engine`.
    /// - Throws: ``SnapshotError`` for an unreadable or damaged file.
    @discardableResult
    public static func load(
        path: String,
        fileSystem: any DurableFileSystem,
        engine: Engine,
        progress: LoadingProgress? = nil
    ) throws(SnapshotError) -> Report {
        let bytes: [UInt8]
        do {
            bytes = try fileSystem.readFile(path)
        } catch {
            throw SnapshotError(path: path, offset: 0, reason: "cannot read the file: \(error.reason)")
        }
        return try load(bytes, path: path, engine: engine, progress: progress)
    }

    /// Loads a snapshot file's bytes into `engine`.
    @discardableResult
    public static func load(
        _ bytes: [UInt8],
        path: String,
        engine: Engine,
        progress: LoadingProgress? = nil
    ) throws(SnapshotError) -> Report {
        let (metadata, dataStart) = try readMetadata(bytes, path: path)
        for (db, keys) in metadata.databaseKeys where keys < UInt64(Int32.max) {
            engine.reserve(keys: Int(keys), db: db)
        }
        var keysLoaded = 0
        var endCount: UInt64? = nil
        let end = try decompress(bytes, from: dataStart, path: path, progress: progress) {
            (data: UnsafeRawBufferPointer) throws(SnapshotRecord.DecodeError) -> Int in
            let consumed = try engine.loadSnapshotRecords(data, keysLoaded: &keysLoaded, endCount: &endCount)
            progress?.keysLoaded = keysLoaded
            return consumed
        }
        guard let endCount else {
            throw SnapshotError(path: path, offset: end, reason: "missing end marker (the snapshot was cut short)")
        }
        guard endCount == UInt64(keysLoaded) else {
            throw SnapshotError(
                path: path,
                offset: end,
                reason: "end marker counts \(endCount) records but \(keysLoaded) were read"
            )
        }
        guard metadata.keyCount == UInt64(keysLoaded) else {
            throw SnapshotError(
                path: path,
                offset: 8,
                reason: "metadata counts \(metadata.keyCount) keys but \(keysLoaded) were read"
            )
        }
        return Report(metadata: metadata, keysLoaded: keysLoaded, fileBytes: bytes.count)
    }

    /// Decompresses the LZ4 frame that starts at `start`, feeding the decompressed bytes to `consume` (which returns
    /// how many it used; the rest is offered again with more data). Every LZ4 checksum is verified.
    /// - Returns: The offset just past the frame (the end of the file).
    static func decompress(
        _ bytes: [UInt8],
        from start: Int,
        path: String,
        progress: LoadingProgress?,
        consume: (UnsafeRawBufferPointer) throws(SnapshotRecord.DecodeError) -> Int
    ) throws(SnapshotError) -> Int {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        if LZ4F_isError(created) != 0 {
            throw SnapshotError(path: path, offset: start, reason: "liblz4: \(LZ4Error(code: created))")
        }
        defer { LZ4F_freeDecompressionContext(context) }
        guard bytes.count > start else {
            throw SnapshotError(path: path, offset: start, reason: "file ends before the data frame (truncated)")
        }
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
        var filled = 0
        var dataOffset = 0
        var offset = start
        var hint = 7  // the smallest frame header
        var blockStart = start
        while true {
            if offset >= bytes.count {
                throw SnapshotError(path: path, offset: bytes.count, reason: "file ends inside the data frame (truncated)")
            }
            if filled == buffer.count {
                // A record larger than the buffer: make room for it.
                buffer += [UInt8](repeating: 0, count: buffer.count)
            }
            var sourceSize = min(hint, bytes.count - offset)
            var destinationSize = buffer.count - filled
            blockStart = offset
            let result = bytes.withUnsafeBytes { src in
                buffer.withUnsafeMutableBytes { dst in
                    LZ4F_decompress(context, dst.baseAddress! + filled, &destinationSize, src.baseAddress! + offset, &sourceSize, nil)
                }
            }
            if LZ4F_isError(result) != 0 {
                throw SnapshotError(path: path, offset: blockStart, reason: "LZ4 data frame: \(LZ4Error(code: result))")
            }
            offset += sourceSize
            filled += destinationSize
            progress?.loadedBytes = offset
            if destinationSize > 0 {
                let outcome: Result<Int, SnapshotRecord.DecodeError> = buffer.withUnsafeBytes { b in
                    do throws(SnapshotRecord.DecodeError) {
                        return .success(try consume(UnsafeRawBufferPointer(rebasing: b[0..<filled])))
                    } catch {
                        return .failure(error)
                    }
                }
                let used: Int
                switch outcome {
                case .success(let count):
                    used = count
                case .failure(let error):
                    throw SnapshotError(
                        path: path,
                        offset: blockStart,
                        reason: "\(error.reason) (record at data offset \(dataOffset + error.offset))"
                    )
                }
                if used > 0 {
                    buffer.withUnsafeMutableBytes { b in
                        if filled > used { b.baseAddress!.copyMemory(from: b.baseAddress! + used, byteCount: filled - used) }
                    }
                    filled -= used
                    dataOffset += used
                }
            }
            if result == 0 { break }
            hint = result
        }
        if filled > 0 {
            throw SnapshotError(
                path: path,
                offset: offset,
                reason: "the data ends inside a record (data offset \(dataOffset))"
            )
        }
        if offset != bytes.count {
            throw SnapshotError(path: path, offset: offset, reason: "unexpected bytes after the data frame")
        }
        return offset
    }
}
