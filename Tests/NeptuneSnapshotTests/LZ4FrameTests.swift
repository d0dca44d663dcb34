import Foundation
import NeptuneSnapshot
import Testing

@Suite struct LZ4FrameTests {
    func sample(_ count: Int) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: ($0 * 7) ^ ($0 >> 5)) }
    }

    @Test(arguments: [0, 1, 100, 70_000, 1_000_000])
    func roundTrip(size: Int) throws {
        let input = sample(size)
        let frame = try LZ4Frame.compress(input)
        #expect(try LZ4Frame.decompress(frame) == input)
    }

    @Test func skippableMetadataKeepsStreamValid() throws {
        let meta = Array("format=1 seq=42".utf8)
        let data = sample(10_000)
        let file = LZ4Frame.skippableFrame(meta) + (try LZ4Frame.compress(data))
        let read = try #require(LZ4Frame.readSkippableFrame(file))
        #expect(read.payload == meta)
        #expect(try LZ4Frame.decompress(file) == data)
        // The lz4 command-line tool accepts the whole file (its `-t` verifies the content checksum).
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("neptune-lz4-\(UUID()).lz4")
        try Data(file).write(to: path)
        defer { try? FileManager.default.removeItem(at: path) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/lz4")
        process.arguments = ["-t", "-q", path.path]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    @Test func corruptionIsDetected() throws {
        var frame = try LZ4Frame.compress(sample(50_000))
        frame[frame.count / 2] ^= 0xFF
        #expect(throws: LZ4Error.self) { try LZ4Frame.decompress(frame) }
    }

    @Test func truncationIsDetected() throws {
        let frame = try LZ4Frame.compress(sample(50_000))
        #expect(throws: LZ4Error.self) { try LZ4Frame.decompress(Array(frame.prefix(frame.count - 3))) }
        #expect(throws: LZ4Error.self) { try LZ4Frame.decompress(Array(frame.prefix(10))) }
    }
}
