import Dispatch
import Foundation
import Logging
import NeptuneCache
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// Journal segments under `appendfsync always` are preallocated with zeros ahead of their data, so that the
/// fdatasync of a group commit writes no metadata; recovery must tell those zeros from damage.
@Suite struct JournalPreallocationTests {
    static let records: [(UInt64, Int, [String])] = [(1, 0, ["SET", "a", "1"]), (2, 0, ["SET", "b", "22"])]

    /// Zeros after the last record are unused space, not a torn tail or corruption.
    @Test func zerosAfterTheLastRecordAreUnusedSpace() throws {
        let data = JournalFormatTests.segment(Self.records)
        for zeros in [1, 7, 16, 4096] {
            let scan = try JournalFormat.scan(data + [UInt8](repeating: 0, count: zeros), path: "j", expectedSequence: 1)
            #expect(scan.records.map(\.sequence) == [1, 2])
            #expect(scan.validLength == data.count)
            #expect(scan.tornBytes == 0)
            #expect(scan.unusedBytes == zeros)
        }
    }

    /// A record torn by a crash inside the preallocated space (its bytes partly written, zeros after it) is a torn
    /// tail; a damaged record followed by a valid one stays corruption.
    @Test func aTornRecordBeforeZerosIsATornTailButDamageBeforeARecordIsCorruption() throws {
        let data = JournalFormatTests.segment(Self.records)
        let firstEnd = JournalFormatTests.segment([Self.records[0]]).count
        var torn = data + [UInt8](repeating: 0, count: 64)
        torn[data.count - 2] ^= 0x55  // the last record's payload, as if its last sector never reached the disk
        let scan = try JournalFormat.scan(torn, path: "j", expectedSequence: 1)
        #expect(scan.records.map(\.sequence) == [1])
        #expect(scan.validLength == firstEnd)
        #expect(scan.tornBytes == torn.count - firstEnd)

        var damaged = data + [UInt8](repeating: 0, count: 64)
        damaged[firstEnd - 2] ^= 0x55  // the first record, with the second intact after it
        #expect(throws: JournalFormat.Corruption.self) {
            try JournalFormat.scan(damaged, path: "j", expectedSequence: 1)
        }
    }

    /// On the real file system: while the journal runs, its segment is longer than its data (zeros ahead); a
    /// process that stops without closing leaves them, recovery replays every record and cuts them off silently,
    /// and closing the journal cuts them too.
    @Test func preallocatedSegmentRecoversAndClosesToItsData() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("neptune-prealloc-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fileSystem = PosixFileSystem()
        let path = JournalRecovery.segmentPath(directory: directory, index: 1)
        let journal = try Journal(
            path: path,
            fileSystem: fileSystem,
            policy: .always,
            nextSequence: 1,
            logger: SnapshotFixture.logger
        )
        let engine = Engine(clock: ManualClock())
        engine.attachJournal(journal)
        var session = EngineSession(engine: engine)
        for i in 0..<100 { session.run("SET", "k\(i)", "\(i)") }
        #expect(SnapshotDurabilityTests.waitDurable(journal, 100))

        // A kill -9 now: the file as it is on disk.
        let onDisk = try fileSystem.readFile(path)
        #expect(onDisk.count >= Journal.preallocationChunk)
        let crashed = "\(directory)/crashed"
        try fileSystem.createDirectory(crashed)
        try fileSystem.writeFile(JournalRecovery.segmentPath(directory: crashed, index: 1), onDisk)
        let restored = Engine(clock: ManualClock())
        let report = try JournalRecovery.recover(
            directory: crashed,
            fileSystem: fileSystem,
            engine: restored,
            logger: SnapshotFixture.logger
        )
        #expect(report.records == 100)
        #expect(report.truncatedBytes == 0)
        #expect(report.nextSequence == 101)
        #expect(restored.keyCount(db: 0) == 100)
        let recoveredBytes = try fileSystem.readFile(report.activeSegment)
        #expect(recoveredBytes.count < onDisk.count)
        #expect(Array(onDisk.prefix(recoveredBytes.count)) == recoveredBytes)

        journal.close()
        #expect(try fileSystem.readFile(path) == recoveredBytes)
    }
}
