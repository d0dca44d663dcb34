internal import CLZ4

/// An error from the LZ4 frame layer, with liblz4's own description.
public struct LZ4Error: Error, Equatable, Sendable, CustomStringConvertible {
    public let description: String

    init(_ description: String) {
        self.description = description
    }

    init(code: Int) {
        self.description = String(cString: LZ4F_getErrorName(code))
    }
}

/// Whole-buffer LZ4 frame compression (the format `lz4 -t` verifies), with block and content checksums on.
public enum LZ4Frame {
    /// The 4-byte magic number of an LZ4 frame.
    public static let magic: UInt32 = 0x184D_2204
    /// Skippable frames carry a magic in 0x184D2A50...0x184D2A5F; Neptune uses the first for its metadata.
    public static let skippableMagic: UInt32 = 0x184D_2A50

    /// Compresses `input` into one LZ4 frame.
    /// - Parameter level: liblz4's compression level (0 = fast default).
    public static func compress(_ input: [UInt8], level: Int32 = 0) throws -> [UInt8] {
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled
        preferences.frameInfo.contentSize = UInt64(input.count)
        preferences.compressionLevel = level
        let bound = LZ4F_compressFrameBound(input.count, &preferences)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { src in
                LZ4F_compressFrame(out.baseAddress, out.count, src.baseAddress, src.count, &preferences)
            }
        }
        if LZ4F_isError(written) != 0 { throw LZ4Error(code: written) }
        output.removeLast(output.count - written)
        return output
    }

    /// Decompresses one or more concatenated LZ4 frames, skipping skippable frames, and verifies checksums.
    /// - Throws: ``LZ4Error`` for corrupt or truncated input.
    public static func decompress(_ input: [UInt8]) throws -> [UInt8] {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        if LZ4F_isError(created) != 0 { throw LZ4Error(code: created) }
        defer { LZ4F_freeDecompressionContext(context) }
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        var offset = 0
        var expectMore = 1
        try input.withUnsafeBytes { src in
            while offset < src.count {
                var sourceSize = src.count - offset
                var destinationSize = chunk.count
                let hint = chunk.withUnsafeMutableBytes { dst in
                    LZ4F_decompress(context, dst.baseAddress, &destinationSize, src.baseAddress! + offset, &sourceSize, nil)
                }
                if LZ4F_isError(hint) != 0 { throw LZ4Error(code: hint) }
                output.append(contentsOf: chunk[0..<destinationSize])
                offset += sourceSize
                expectMore = hint
                if sourceSize == 0 && destinationSize == 0 { break }
            }
        }
        if expectMore != 0 { throw LZ4Error("truncated LZ4 frame: input ended inside a frame") }
        return output
    }

    /// A skippable frame holding `payload` (ignored by LZ4 decoders, so the file stays a valid LZ4 stream).
    public static func skippableFrame(_ payload: [UInt8]) -> [UInt8] {
        var frame: [UInt8] = []
        frame.reserveCapacity(8 + payload.count)
        appendLittleEndian(skippableMagic, to: &frame)
        appendLittleEndian(UInt32(payload.count), to: &frame)
        frame += payload
        return frame
    }

    /// Reads the payload of a skippable frame at the start of `input`, or nil if `input` does not start with one.
    public static func readSkippableFrame(_ input: [UInt8]) -> (payload: [UInt8], frameLength: Int)? {
        guard input.count >= 8 else { return nil }
        let magic = readLittleEndian(input, 0)
        guard magic & 0xFFFF_FFF0 == skippableMagic else { return nil }
        let length = Int(readLittleEndian(input, 4))
        guard input.count >= 8 + length else { return nil }
        return (Array(input[8..<(8 + length)]), 8 + length)
    }

    static func appendLittleEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        for shift in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }

    static func readLittleEndian(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << UInt32(8 * $1) }
    }
}
