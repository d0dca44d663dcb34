import Logging
import NeptuneCache
import NeptuneSnapshot
import NeptuneTestSupport
import Testing

/// `neptune-check`'s library part: what it reports for intact, torn and corrupt journals, and the repairs it plans.
@Suite struct JournalCheckTests {
    static let directory = "/data/appendonlydir"
    static let first = "\(directory)/journal.00000001"
    static let second = "\(directory)/journal.00000002"

    static func segment(_ range: ClosedRange<UInt64>) -> [UInt8] {
        JournalFormatTests.segment(range.map { ($0, 0, $0 % 3 == 0 ? ["DEL", "k\($0)"] : ["SET", "k\($0)", "v"]) })
    }

    @Test func intactJournalIsDescribed() throws {
        let fileSystem = FaultyFileSystem(files: [Self.first: Self.segment(1...6), Self.second: Self.segment(7...9)])
        let paths = try JournalCheck.segmentPaths(for: ["/data"], fileSystem: fileSystem)
        #expect(paths == [Self.first, Self.second])
        let report = try JournalCheck.inspect(paths: paths, fileSystem: fileSystem)
        #expect(report.records == 9)
        #expect(report.segments.map(\.firstSequence) == [1, 7])
        #expect(report.segments.map(\.lastSequence) == [6, 9])
        #expect(report.commands == ["SET": 6, "DEL": 3])
        #expect(!report.isCorrupt && !report.hasTornTail && report.repair == nil)
        #expect(report.description.contains("\(Self.first): 6 records, sequences 1-6, "))
        #expect(report.description.contains("total: 2 segments, 9 records, sequences 1-9, "))
        #expect(report.description.hasSuffix("status: ok"))
    }

    @Test func tornTailIsRepairedToTheLastValidRecord() throws {
        let full = Self.segment(1...5)
        let valid = Self.segment(1...4).count
        let torn = Array(full.prefix(full.count - 3))
        let fileSystem = FaultyFileSystem(files: [Self.first: torn])
        let report = try JournalCheck.inspect(paths: [Self.first], fileSystem: fileSystem)
        #expect(report.hasTornTail && !report.isCorrupt)
        #expect(report.records == 4)
        let repair = try #require(report.repair)
        #expect(repair == JournalCheck.Repair(
            truncate: Self.first, length: valid, remove: [], droppedBytes: torn.count - valid, droppedRecords: 0
        ))
        try JournalCheck.apply(repair, fileSystem: fileSystem)
        #expect(fileSystem.contents(Self.first) == Array(full.prefix(valid)))
        // The repaired length is durable, and the journal now checks clean and loads.
        #expect(fileSystem.crash()[Self.first] == Array(full.prefix(valid)))
        #expect(try JournalCheck.inspect(paths: [Self.first], fileSystem: fileSystem).repair == nil)
    }

    /// Corruption in the middle: the file and offset are named, the records after it that still verify are
    /// counted, and the repair also removes the later segments (their records would follow a gap).
    @Test func midFileCorruptionNamesFileAndOffsetAndCountsWhatIsDropped() throws {
        var bytes = Self.segment(1...6)
        let offsetOfThird = Self.segment(1...2).count
        bytes[offsetOfThird + 20] ^= 0xFF
        let later = Self.segment(7...8)
        let fileSystem = FaultyFileSystem(files: [Self.first: bytes, Self.second: later])
        let report = try JournalCheck.inspect(paths: [Self.first, Self.second], fileSystem: fileSystem)
        #expect(report.isCorrupt)
        let damaged = report.segments[0]
        #expect(damaged.corruption == JournalFormat.Corruption(
            path: Self.first, offset: offsetOfThird, reason: "record checksum mismatch"
        ))
        #expect(damaged.records == 2)
        #expect(damaged.readableRecordsAfterDamage == 3)
        #expect(report.description.contains("CORRUPT at offset \(offsetOfThird): record checksum mismatch"))
        let repair = try #require(report.repair)
        #expect(repair.truncate == Self.first && repair.length == offsetOfThird && repair.remove == [Self.second])
        #expect(repair.droppedBytes == bytes.count - offsetOfThird + later.count)
        #expect(repair.droppedRecords == 3 + 2)
        try JournalCheck.apply(repair, fileSystem: fileSystem)
        #expect(!fileSystem.fileExists(Self.second))
        // What remains loads.
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let engine = Engine(clock: ManualClock())
        let recovered = try JournalRecovery.recover(
            directory: Self.directory, fileSystem: fileSystem, engine: engine, logger: logger
        )
        #expect(recovered.records == 2)
    }

    /// A segment a server left preallocated (stopped without closing it under `appendfsync always`): the zeros
    /// after the last record are reported as unused space, not damage, and need no repair; damage before valid
    /// records stays corruption even with zeros after them, and the zeros are not counted as readable records.
    @Test func preallocatedZerosAreReportedAsUnusedSpace() throws {
        let data = Self.segment(1...4)
        let zeros = [UInt8](repeating: 0, count: 8192)
        let clean = FaultyFileSystem(files: [Self.first: data + zeros])
        let report = try JournalCheck.inspect(paths: [Self.first], fileSystem: clean)
        #expect(!report.isCorrupt && !report.hasTornTail && report.repair == nil)
        #expect(report.records == 4)
        #expect(report.segments.first?.unusedBytes == zeros.count)
        #expect(report.description.contains("ok (8192 bytes of preallocated zeros after the last record, at offset \(data.count)"))

        // The last record torn inside the zeros: a torn tail, cut back to the third record.
        var torn = data + zeros
        torn[data.count - 2] ^= 0x55
        let tornReport = try JournalCheck.inspect(paths: [Self.first], fileSystem: FaultyFileSystem(files: [Self.first: torn]))
        #expect(tornReport.hasTornTail && !tornReport.isCorrupt)
        #expect(tornReport.records == 3)
        #expect(tornReport.repair?.length == Self.segment(1...3).count)

        // The second record damaged, two valid ones after it, then zeros: corruption, and the two are counted.
        var damaged = data + zeros
        damaged[Self.segment(1...1).count + 20] ^= 0xFF
        let damagedReport = try JournalCheck.inspect(
            paths: [Self.first], fileSystem: FaultyFileSystem(files: [Self.first: damaged])
        )
        #expect(damagedReport.isCorrupt)
        #expect(damagedReport.segments.first?.corruption?.offset == Self.segment(1...1).count)
        #expect(damagedReport.segments.first?.readableRecordsAfterDamage == 2)
        #expect(damagedReport.repair?.droppedRecords == 2)
    }

    @Test func sequenceGapBetweenSegmentsIsCorruption() throws {
        let fileSystem = FaultyFileSystem(files: [Self.first: Self.segment(1...3), Self.second: Self.segment(5...6)])
        let report = try JournalCheck.inspect(paths: [Self.first, Self.second], fileSystem: fileSystem)
        #expect(report.isCorrupt)
        #expect(report.segments[1].corruption?.reason == "sequence 5 where 4 was expected")
        #expect(report.segments[1].corruption?.offset == JournalFormat.magic.count)
    }

    @Test func badInputGetsAClearError() throws {
        let text = Array("not a journal, just some text".utf8)
        let fileSystem = FaultyFileSystem(files: ["/data/other.txt": text])
        #expect(throws: JournalCheck.Failure.self) { try JournalCheck.segmentPaths(for: ["/missing"], fileSystem: fileSystem) }
        let noSegments = #expect(throws: JournalCheck.Failure.self) {
            try JournalCheck.segmentPaths(for: ["/data"], fileSystem: fileSystem)
        }
        #expect(noSegments?.description.contains("no journal segments") == true)
        // A file that is not a journal is reported as corrupt at offset 0, and nothing is changed.
        let report = try JournalCheck.inspect(paths: ["/data/other.txt"], fileSystem: fileSystem)
        #expect(report.isCorrupt)
        #expect(report.segments[0].corruption?.offset == 0)
        #expect(fileSystem.contents("/data/other.txt") == text)
    }
}

/// `neptune-check`'s snapshot part: metadata and keys per database of a good snapshot; the offset of a damaged one.
@Suite struct SnapshotCheckTests {
    @Test func goodSnapshotIsDescribed() throws {
        let fileSystem = FaultyFileSystem()
        let engine = SnapshotFixture.populatedEngine()
        try SnapshotFixture.snapshotter(engine, fileSystem).save()
        let path = try #require(SnapshotCheck.snapshots(in: SnapshotFixture.directory, fileSystem: fileSystem).first)
        #expect(SnapshotCheck.isSnapshot(path, fileSystem: fileSystem))
        let summary = SnapshotCheck.inspect(path: path, fileSystem: fileSystem)
        #expect(!summary.isCorrupt)
        #expect(summary.metadata?.keyCount == UInt64(engine.keyCount(db: 0) + 2))
        #expect(summary.keysPerDatabase.map { $0.db } == [0, 5, 15])
        #expect(summary.keysPerDatabase.first?.keys == engine.keyCount(db: 0))
        #expect(summary.description.contains("keys: db0=\(engine.keyCount(db: 0)) "))
        #expect(summary.description.hasSuffix("  ok"))
    }

    @Test func damagedSnapshotNamesTheOffset() throws {
        let fileSystem = FaultyFileSystem()
        try SnapshotFixture.snapshotter(SnapshotFixture.populatedEngine(), fileSystem).save()
        let path = try #require(SnapshotCheck.snapshots(in: SnapshotFixture.directory, fileSystem: fileSystem).first)
        var bytes = try fileSystem.readFile(path)
        bytes[bytes.count / 2] ^= 0xFF
        try fileSystem.writeFile(path, bytes)
        let summary = SnapshotCheck.inspect(path: path, fileSystem: fileSystem)
        #expect(summary.isCorrupt)
        #expect(summary.error?.path == path)
        #expect(summary.description.contains("CORRUPT at offset "))
        // A file that is not a snapshot at all is not mistaken for one.
        let other = "\(SnapshotFixture.directory)/notes.txt"
        try fileSystem.writeFile(other, Array("hello".utf8))
        #expect(!SnapshotCheck.isSnapshot(other, fileSystem: fileSystem))
    }
}
