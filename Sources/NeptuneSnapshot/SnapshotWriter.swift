internal import CLZ4
import NeptuneCache

/// Streams a snapshot into a file: the metadata frame, then the records compressed block by block into one LZ4
/// frame (block and content checksums on), then the end marker. Memory use is one compression buffer, whatever
/// the snapshot's size.
///
/// ```swift
/// let writer = try SnapshotWriter(file: file, path: path, metadata: metadata)
/// try writer.write(records)                 // as many times as needed
/// try writer.finish(recordCount: n)         // end marker, frame end, fsync
/// ```
public final class SnapshotWriter {
    /// Input bytes compressed per LZ4F call.
    static let chunkSize = 1 << 20

    private let file: any DurableFile
    private let path: String
    private var context: OpaquePointer?
    private var preferences = LZ4F_preferences_t()
    private var output: [UInt8]
    /// Bytes written to the file so far.
    public private(set) var bytesWritten = 0

    /// Writes the metadata frame and the LZ4 frame header.
    /// - Throws: ``FileSystemError`` when writing fails, ``LZ4Error`` if liblz4 refuses.
    public init(file: any DurableFile, path: String, metadata: SnapshotMetadata) throws {
        self.file = file
        self.path = path
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled
        preferences.frameInfo.blockSizeID = LZ4F_max1MB
        preferences.compressionLevel = 0
        let created = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
        if LZ4F_isError(created) != 0 { throw LZ4Error(code: created) }
        output = [UInt8](repeating: 0, count: max(LZ4F_compressBound(Self.chunkSize, &preferences), 1 << 16) + 64)
        try emit(LZ4Frame.skippableFrame(metadata.encoded()))
        let header = output.withUnsafeMutableBytes { out in
            LZ4F_compressBegin(context, out.baseAddress, out.count, &preferences)
        }
        if LZ4F_isError(header) != 0 { throw LZ4Error(code: header) }
        try emitOutput(header)
    }

    deinit {
        LZ4F_freeCompressionContext(context)
    }

    /// Compresses and writes `records`.
    public func write(_ records: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < records.count {
            let length = min(Self.chunkSize, records.count - offset)
            let produced = output.withUnsafeMutableBytes { out in
                LZ4F_compressUpdate(context, out.baseAddress, out.count, records.baseAddress! + offset, length, nil)
            }
            if LZ4F_isError(produced) != 0 { throw LZ4Error(code: produced) }
            try emitOutput(produced)
            offset += length
        }
    }

    /// Compresses and writes `records`.
    public func write(_ records: [UInt8]) throws {
        try records.withUnsafeBytes { try write($0) }
    }

    /// Compresses `records` into blocks of their own (what LZ4 buffered is flushed), appending the compressed bytes
    /// to `out` instead of writing them; ``writeCompressed(_:)`` writes them later, in the same order, possibly on
    /// another thread (one thread at a time uses the writer). A background save compresses small pieces this way on
    /// the event loops, in their idle time: compressing a few kilobytes takes some microseconds. The blocks stay
    /// linked (each may refer to the 64 KiB before it), so small pieces compress almost as well as large ones.
    func compress(_ records: UnsafeRawBufferPointer, appendingTo out: inout [UInt8]) throws {
        var offset = 0
        while offset < records.count {
            let length = min(Self.chunkSize, records.count - offset)
            let source = records.baseAddress! + offset
            let produced = output.withUnsafeMutableBytes { buffer in
                LZ4F_compressUpdate(context, buffer.baseAddress, buffer.count, source, length, nil)
            }
            if LZ4F_isError(produced) != 0 { throw LZ4Error(code: produced) }
            output.withUnsafeBytes { out.append(contentsOf: $0[0..<produced]) }
            offset += length
        }
        let flushed = output.withUnsafeMutableBytes { buffer in
            LZ4F_flush(context, buffer.baseAddress, buffer.count, nil)
        }
        if LZ4F_isError(flushed) != 0 { throw LZ4Error(code: flushed) }
        output.withUnsafeBytes { out.append(contentsOf: $0[0..<flushed]) }
    }

    /// Writes bytes ``compress(_:appendingTo:)`` produced.
    func writeCompressed(_ bytes: [UInt8]) throws {
        try emit(bytes)
    }

    /// Writes the end marker, ends the LZ4 frame (content checksum) and fsyncs the file.
    public func finish(recordCount: UInt64) throws {
        try write(SnapshotRecord.endMarker(count: recordCount))
        let produced = output.withUnsafeMutableBytes { out in
            LZ4F_compressEnd(context, out.baseAddress, out.count, nil)
        }
        if LZ4F_isError(produced) != 0 { throw LZ4Error(code: produced) }
        try emitOutput(produced)
        try file.sync()
    }

    private func emitOutput(_ count: Int) throws(FileSystemError) {
        guard count > 0 else { return }
        let failure: FileSystemError? = output.withUnsafeBytes { out in
            do throws(FileSystemError) {
                try file.append(UnsafeRawBufferPointer(rebasing: out[0..<count]))
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        bytesWritten += count
    }

    private func emit(_ bytes: [UInt8]) throws(FileSystemError) {
        try file.append(bytes)
        bytesWritten += bytes.count
    }
}
