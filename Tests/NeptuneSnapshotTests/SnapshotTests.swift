import Foundation
import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// Helpers shared by the snapshot tests.
enum SnapshotFixture {
    static let directory = "/data"
    static let journalDirectory = "/data/appendonlydir"

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    static func snapshotter(
        _ engine: Engine,
        _ fileSystem: any DurableFileSystem,
        directory: String = directory
    ) -> Snapshotter {
        Snapshotter(
            configuration: .init(directory: directory, journalDirectory: "\(directory)/appendonlydir"),
            engine: engine,
            fileSystem: fileSystem,
            logger: logger
        )
    }

    /// Every key of every database with its value and absolute expiry, as commands report them.
    static func dump(_ engine: Engine) -> [String: String] {
        var session = EngineSession(engine: engine)
        var result: [String: String] = [:]
        for db in 0..<engine.databases {
            session.run("SELECT", "\(db)")
            guard case .array(let keys) = session.run("KEYS", "*") else { continue }
            for case .bulkString(let key) in keys {
                let type = session.run([Array("TYPE".utf8), key]).stringValue ?? "?"
                let value: String
                switch type {
                case "hash":
                    value = Self.sorted(session.run([Array("HGETALL".utf8), key]))
                case "set":
                    value = Self.sorted(session.run([Array("SMEMBERS".utf8), key]))
                case "zset":
                    value = "\(session.run([Array("ZRANGE".utf8), key, Array("0".utf8), Array("-1".utf8), Array("WITHSCORES".utf8)]))"
                case "list":
                    value = "\(session.run([Array("LRANGE".utf8), key, Array("0".utf8), Array("-1".utf8)]))"
                default:
                    value = "\(session.run([Array("GET".utf8), key]))"
                }
                let expiry = session.run([Array("PEXPIRETIME".utf8), key])
                result["\(db)/\(key)"] = "\(type) \(value) \(expiry)"
            }
        }
        return result
    }

    static func sorted(_ reply: RESPValue) -> String {
        guard case .array(let items) = reply else { return "\(reply)" }
        return items.map { "\($0)" }.sorted().joined(separator: ",")
    }

    /// An engine with keys in several databases: binary keys, empty values, expiries, a value larger than the
    /// writer's compression chunk, APPEND-made (raw) strings.
    static func populatedEngine(clock: ManualClock = ManualClock()) -> Engine {
        let engine = Engine(clock: clock)
        var session = EngineSession(engine: engine)
        for i in 0..<2000 {
            session.run("SET", "key:\(i)", "value-\(i)")
        }
        session.run("SET", "ttl", "x", "PX", "500000")
        session.run("SET", "empty", "")
        session.run([Array("SET".utf8), [0, 13, 10, 255], [1, 2, 3]])
        session.run("SET", "big", String(repeating: "abcdefghij", count: 300_000))
        session.run("SET", "raw", "text")
        session.run("APPEND", "raw", "more")
        session.run("HSET", "small-hash", "f1", "v1", "f2", "v2")
        for i in 0..<600 { session.run("HSET", "big-hash", "field\(i)", "value\(i)") }  // past Redis 7.0's 512
        session.run("SADD", "ints", "1", "2", "3")
        session.run("SADD", "words", "a", "b", "c")
        session.run("PEXPIRE", "words", "900000")
        session.run("SELECT", "5")
        session.run("SET", "in-db-5", "five", "EX", "1000")
        session.run("SELECT", "15")
        session.run("SET", "in-db-15", "fifteen")
        return engine
    }
}

@Suite struct SnapshotFormatTests {
    @Test func metadataRoundTripsAndKeepsUnknownFields() throws {
        let metadata = SnapshotMetadata(
            sequence: 42,
            keyCount: 7,
            createdAt: 1_700_000_000_000,
            databases: 16,
            otherFields: [900: [1, 2, 3]]
        )
        let decoded = try SnapshotMetadata.decode(metadata.encoded(), path: "p", fileOffset: 8)
        #expect(decoded == metadata)
    }

    @Test func saveAndLoadRoundTrip() throws {
        let fileSystem = FaultyFileSystem()
        let engine = SnapshotFixture.populatedEngine()
        let snapshotter = SnapshotFixture.snapshotter(engine, fileSystem)
        try snapshotter.save()
        #expect(snapshotter.status.lastSaveSucceeded)
        #expect(fileSystem.contents("/data/dump.nsnap") != nil)
        #expect(fileSystem.contents("/data/dump.nsnap.tmp") == nil)

        let loaded = Engine(clock: ManualClock())
        let report = try SnapshotReader.load(path: "/data/dump.nsnap", fileSystem: fileSystem, engine: loaded)
        #expect(report.keysLoaded == 2011)
        #expect(report.metadata.keyCount == 2011)
        #expect(SnapshotFixture.dump(loaded) == SnapshotFixture.dump(engine))
        var session = EngineSession(engine: loaded)
        #expect(session.run("OBJECT", "ENCODING", "raw") == .bulkString(Array("raw".utf8)))
        #expect(session.run("STRLEN", "big") == .integer(3_000_000))
        #expect(session.run("OBJECT", "ENCODING", "big-hash") == .bulkString(Array("hashtable".utf8)))
        #expect(session.run("OBJECT", "ENCODING", "small-hash") == .bulkString(Array("listpack".utf8)))
        #expect(session.run("OBJECT", "ENCODING", "ints") == .bulkString(Array("intset".utf8)))
        #expect(session.run("HGET", "big-hash", "field299") == .bulkString(Array("value299".utf8)))
    }

    /// Closing a file twice (the snapshot writer closes its temp file before the rename, and again on the way out)
    /// must not close the descriptor number the process has meanwhile given to another file: that used to close
    /// client sockets under a BGSAVE loop, crashing the server in SwiftNIO with EBADF.
    @Test func closingAFileTwiceLeavesTheNextFileOpen() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("neptune-close-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fileSystem = PosixFileSystem()
        let first = try fileSystem.openForAppend("\(directory)/a")
        first.close()
        let second = try fileSystem.openForAppend("\(directory)/b")  // typically reuses the descriptor number
        first.close()
        try [UInt8]("still open".utf8).withUnsafeBytes { try second.append($0) }
        try second.sync()
        second.close()
        #expect(try fileSystem.readFile("\(directory)/b") == Array("still open".utf8))
        #expect(throws: FileSystemError.self) { try [UInt8]([1]).withUnsafeBytes { try first.append($0) } }
    }

    /// The file is a valid LZ4 stream: the `lz4` tool verifies it, checksums included.
    @Test func lz4ToolVerifiesTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("neptune-snap-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = SnapshotFixture.populatedEngine()
        try SnapshotFixture.snapshotter(engine, PosixFileSystem(), directory: directory).save()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/lz4")
        process.arguments = ["-t", "-q", "\(directory)/dump.nsnap"]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        // And the decompressed content is the records, ending with the end marker.
        let bytes = try PosixFileSystem().readFile("\(directory)/dump.nsnap")
        let content = try LZ4Frame.decompress(bytes)
        #expect(content.suffix(9) == SnapshotRecord.endMarker(count: 2011)[...])
    }

    @Test func emptyKeyspaceSnapshotLoads() throws {
        let fileSystem = FaultyFileSystem()
        try SnapshotFixture.snapshotter(Engine(clock: ManualClock()), fileSystem).save()
        let report = try SnapshotReader.load(
            path: "/data/dump.nsnap",
            fileSystem: fileSystem,
            engine: Engine(clock: ManualClock())
        )
        #expect(report.keysLoaded == 0)
    }
}

/// Damaged snapshot files of every kind give an error naming the file and the offset.
@Suite struct SnapshotCorruptionTests {
    static let path = "/data/dump.nsnap"

    static func goodFile() throws -> [UInt8] {
        let fileSystem = FaultyFileSystem()
        try SnapshotFixture.snapshotter(SnapshotFixture.populatedEngine(), fileSystem).save()
        return try #require(fileSystem.contents(path))
    }

    static func loadError(_ bytes: [UInt8]) -> SnapshotError? {
        do {
            try SnapshotReader.load(bytes, path: path, engine: Engine(clock: ManualClock()))
            return nil
        } catch {
            return error
        }
    }

    static var metadataLength: Int {
        get throws {
            let bytes = try goodFile()
            return 8 + (4..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 4)) }
        }
    }

    @Test func goodFileLoads() throws {
        #expect(Self.loadError(try Self.goodFile()) == nil)
    }

    @Test func badMagic() throws {
        var bytes = try Self.goodFile()
        bytes[0] ^= 0xFF
        let error = try #require(Self.loadError(bytes))
        #expect(error.offset == 0)
        #expect(error.reason.contains("bad magic"))
        #expect(error.description.hasPrefix("snapshot file /data/dump.nsnap at offset 0:"))
        var badPayloadMagic = try Self.goodFile()
        badPayloadMagic[8] ^= 0xFF
        #expect(Self.loadError(badPayloadMagic)?.reason.contains("bad metadata magic") == true)
    }

    @Test func badVersion() throws {
        var bytes = try Self.goodFile()
        bytes[16] = 99
        let error = try #require(Self.loadError(bytes))
        #expect(error.offset == 16)
        #expect(error.reason.contains("unsupported snapshot format version 99"))
    }

    @Test func flippedByteInMetadata() throws {
        let good = try Self.goodFile()
        let metadataEnd = try Self.metadataLength
        for offset in 20..<metadataEnd {
            var bytes = good
            bytes[offset] ^= 0x01
            let error = Self.loadError(bytes)
            #expect(error != nil, "flip at \(offset) went unnoticed")
            #expect(error.map { $0.offset >= 8 && $0.offset <= metadataEnd } == true)
        }
    }

    @Test func flippedByteInData() throws {
        let good = try Self.goodFile()
        let start = try Self.metadataLength
        // Every 97th byte of the LZ4 frame: each flip is caught by a block or content checksum or the header.
        for offset in stride(from: start, to: good.count, by: 97) {
            var bytes = good
            bytes[offset] ^= 0x20
            let error = Self.loadError(bytes)
            #expect(error != nil, "flip at \(offset) went unnoticed")
            if let error {
                #expect(error.offset >= start && error.offset <= good.count)
                #expect(error.path == Self.path)
            }
        }
    }

    @Test func truncatedAnywhere() throws {
        let good = try Self.goodFile()
        var cuts = [0, 4, 8, 12, 30, try Self.metadataLength, try Self.metadataLength + 3, good.count - 1, good.count - 5]
        cuts += stride(from: try Self.metadataLength + 10, to: good.count, by: good.count / 40).map { $0 }
        for cut in cuts {
            let error = Self.loadError(Array(good.prefix(cut)))
            #expect(error != nil, "cut at \(cut) went unnoticed")
            #expect(error?.reason.contains("truncated") == true || error?.reason.contains("too short") == true,
                    "cut at \(cut): \(String(describing: error))")
        }
    }

    @Test func missingEndMarker() throws {
        let metadata = SnapshotMetadata(sequence: 0, keyCount: 1, createdAt: 0, databases: 16)
        var records: [UInt8] = [SnapshotRecord.keyOpcode, 0, 0, 0, 1, UInt8(ascii: "k"), 1, UInt8(ascii: "v")]
        let withoutEnd = LZ4Frame.skippableFrame(metadata.encoded()) + (try LZ4Frame.compress(records))
        let error = try #require(Self.loadError(withoutEnd))
        #expect(error.reason.contains("missing end marker"))
        #expect(error.offset == withoutEnd.count)
        // With the marker the same records load.
        records += SnapshotRecord.endMarker(count: 1)
        let complete = LZ4Frame.skippableFrame(metadata.encoded()) + (try LZ4Frame.compress(records))
        #expect(Self.loadError(complete) == nil)
    }

    @Test func countsThatDisagreeAndTrailingBytes() throws {
        let record: [UInt8] = [SnapshotRecord.keyOpcode, 0, 0, 0, 1, UInt8(ascii: "k"), 1, UInt8(ascii: "v")]
        let metadata = SnapshotMetadata(sequence: 0, keyCount: 1, createdAt: 0, databases: 16)
        let wrongEnd = LZ4Frame.skippableFrame(metadata.encoded())
            + (try LZ4Frame.compress(record + SnapshotRecord.endMarker(count: 2)))
        #expect(Self.loadError(wrongEnd)?.reason.contains("end marker counts 2") == true)
        let wrongMetadata = SnapshotMetadata(sequence: 0, keyCount: 5, createdAt: 0, databases: 16)
        let badCount = LZ4Frame.skippableFrame(wrongMetadata.encoded())
            + (try LZ4Frame.compress(record + SnapshotRecord.endMarker(count: 1)))
        #expect(Self.loadError(badCount)?.reason.contains("metadata counts 5") == true)
        let trailing = try Self.goodFile() + [1, 2, 3]
        #expect(Self.loadError(trailing)?.reason.contains("after the data frame") == true)
        let afterEnd = LZ4Frame.skippableFrame(metadata.encoded())
            + (try LZ4Frame.compress(record + SnapshotRecord.endMarker(count: 1) + record))
        #expect(Self.loadError(afterEnd)?.reason.contains("after the end marker") == true)
        let badType: [UInt8] = [SnapshotRecord.keyOpcode, 0, 9, 0, 1, UInt8(ascii: "k"), 1, UInt8(ascii: "v")]
        let unknownType = LZ4Frame.skippableFrame(metadata.encoded())
            + (try LZ4Frame.compress(badType + SnapshotRecord.endMarker(count: 1)))
        let typeError = try #require(Self.loadError(unknownType))
        #expect(typeError.reason.contains("unsupported value type 9 (record at data offset 0)"))
    }
}
