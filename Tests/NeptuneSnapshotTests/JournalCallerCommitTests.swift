import Dispatch
import Foundation
import Logging
import NIOCore
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// Under `always`, a caller that blocks until its record is durable (an embedded store's write) writes and fsyncs
/// the pending records itself (``Journal/commitInline(upTo:)``) instead of waiting for the writer thread to do it
/// and wake it up; callers arriving meanwhile still share fsyncs.
@Suite struct JournalCallerCommitTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let path = "/data/appendonlydir/journal.00000001"

    static func record(_ text: String) -> [ByteBuffer] {
        ["SET", text, "v"].map { ByteBuffer(string: $0) }
    }

    /// The fsync covering a waiting caller's record runs on the caller's own thread (not always: the writer
    /// thread, woken by the append, may take the file first, and on a loaded machine it often does: 11 of 100
    /// once at load 7, against most of them when idle). Without the caller's commit none would.
    @Test func theWaitingCallerFsyncsItself() throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: .always, nextSequence: 1, logger: Self.logger
        )
        defer { journal.close() }
        let writes = 100
        let before = fileSystem.syncsOnThisThread()
        for i in 0..<writes {
            let sequence = journal.append(db: 0, arguments: Self.record("k\(i)"))
            #expect(journal.waitUntilDurable(sequence))
            #expect(journal.durableSequence >= sequence)
        }
        let own = fileSystem.syncsOnThisThread() - before
        #expect(own > 0, "none of \(writes) commits ran on the waiting thread")
        // Each acknowledged record survives a power loss.
        let scan = try JournalFormat.scan(fileSystem.crash()[Self.path] ?? [], path: Self.path, expectedSequence: 1)
        #expect(scan.records.count == writes)
    }

    /// Many callers committing on their own threads: every acknowledged record is durable, they share fsyncs
    /// (a caller blocked on the file while another one fsyncs finds its record covered, or commits all the
    /// records pending by then in one fsync), and the writer thread's commits mix in without reordering.
    @Test func concurrentCallersShareFsyncsAndLoseNothing() throws {
        let fileSystem = FaultyFileSystem()
        fileSystem.setSyncLatency(microseconds: 1_000)
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: .always, nextSequence: 1, logger: Self.logger
        )
        let threads = 6
        let perThread = 40
        let acknowledged = Mutex<[UInt64]>([])
        JournalGroupCommitTests.onThreads(threads) { thread in
            for i in 0..<perThread {
                let sequence = journal.append(db: 0, arguments: Self.record("t\(thread)-\(i)"))
                if journal.waitUntilDurable(sequence) { acknowledged.withLock { $0.append(sequence) } }
            }
        }
        let total = threads * perThread
        #expect(acknowledged.withLock { $0.count } == total)
        #expect(journal.fsyncCount < total / 2)
        let image = fileSystem.crash()[Self.path] ?? []
        journal.close()
        let scan = try JournalFormat.scan(image, path: Self.path, expectedSequence: 1)
        #expect(scan.records.map(\.sequence) == (1...UInt64(total)).map { $0 })
    }

    /// Commits on callers' threads still get the segment preallocated ahead of them: once less than half a chunk
    /// is left, the writer thread extends the reservation (off the commit path), so the file on disk grows past
    /// the first chunk long before the data reaches its end.
    @Test func callerCommitsKeepTheSegmentPreallocated() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("neptune-caller-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fileSystem = PosixFileSystem()
        let path = JournalRecovery.segmentPath(directory: directory, index: 1)
        let journal = try Journal(path: path, fileSystem: fileSystem, policy: .always, nextSequence: 1, logger: Self.logger)
        defer { journal.close() }
        let value = ByteBuffer(string: String(repeating: "x", count: 64 << 10))
        var last: UInt64 = 0
        // A bit over half a chunk of data.
        for i in 0..<(Journal.preallocationChunk / 2 / (64 << 10) + 2) {
            last = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k\(i)"), value])
            #expect(journal.waitUntilDurable(last))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        var onDisk = fileSystem.fileSize(path) ?? 0
        while onDisk <= Journal.preallocationChunk && ContinuousClock.now < deadline {
            usleep(5_000)
            onDisk = fileSystem.fileSize(path) ?? 0
        }
        #expect(onDisk > Journal.preallocationChunk, "the segment is \(onDisk) bytes: not extended ahead of its data")
    }
}
