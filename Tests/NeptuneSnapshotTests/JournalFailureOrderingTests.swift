import Dispatch
import Logging
import NIOCore
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// How the journal fails: a failed write or fsync releases the file lock exactly once, and is recorded before any
/// other thread can take the lock, so no record of a failed write is ever reported written or durable.
@Suite struct JournalFailureOrderingTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let path = "/data/appendonlydir/journal.00000001"

    static func record(_ text: String) -> [ByteBuffer] {
        ["SET", text, "v"].map { ByteBuffer(string: $0) }
    }

    /// The sequence numbers of the records in the journal file: under `always` as a power loss leaves it, under
    /// `everysec` as written (what a killed process's restart sees).
    static func recordsInFile(_ fileSystem: FaultyFileSystem, policy: Journal.FsyncPolicy) throws -> Set<UInt64> {
        let bytes = policy == .always ? fileSystem.crash()[path] ?? [] : fileSystem.contents(path) ?? []
        return Set(try JournalFormat.scan(bytes, path: path).records.map(\.sequence))
    }

    /// Under `everysec` the writer thread fsyncs after releasing the file lock (inline writers keep writing
    /// meanwhile). When that fsync fails, the writer must not release the lock a second time: that would let two
    /// threads write at once, or unlock a lock an inline writer holds. Debug builds use an error-checking lock and
    /// trap on such an unlock, so this test crashes if the failure path releases the lock again.
    @Test func aFailedEverysecFsyncReleasesTheFileLockOnce() throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: .everysec, nextSequence: 1, logger: Self.logger
        )
        let first = journal.append(db: 0, arguments: Self.record("a"))
        #expect(journal.waitUntilDurable(first))
        // Under `everysec` nothing fsyncs within the second: the next fsync is the one at close, and it fails.
        fileSystem.failFsync(number: 1)
        journal.close()
        #expect(journal.lastError?.operation == "fdatasync")
        #expect(!journal.acceptsWrites)
        // The lock is free and consistent: a writer after the failure gets a refusal, not a hang.
        #expect(journal.writeBuffered(upTo: first + 1, wait: true) == false)
        #expect(try Self.recordsInFile(fileSystem, policy: .everysec) == [first])
    }

    /// Several threads append and wait (under `everysec` each may write the pending records itself, racing the
    /// writer thread) while a write or fsync fails at a varying point. Every record reported written or durable
    /// must be in the file, and nothing is acknowledged after the failure was reported to anyone.
    @Test(arguments: [Journal.FsyncPolicy.always, .everysec])
    func noRecordOfAFailedWriteIsAcknowledged(policy: Journal.FsyncPolicy) throws {
        for failingOperation in [3, 5, 8, 13, 21] {
            let fileSystem = FaultyFileSystem()
            let journal = try Journal(
                path: Self.path, fileSystem: fileSystem, policy: policy, nextSequence: 1, logger: Self.logger
            )
            fileSystem.failAfter(operations: failingOperation)
            let acknowledged = Mutex<[UInt64]>([])
            let refused = Mutex<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 4) { thread in
                for i in 0..<25 {
                    guard journal.acceptsWrites else { break }
                    let sequence = journal.append(db: 0, arguments: Self.record("t\(thread)-\(i)"))
                    if journal.waitUntilDurable(sequence) {
                        acknowledged.withLock { $0.append(sequence) }
                    } else {
                        refused.withLock { $0 += 1 }
                    }
                }
            }
            journal.close()
            #expect(journal.lastError != nil, "operation \(failingOperation) never failed")
            #expect(refused.withLock { $0 } > 0)
            let inFile = try Self.recordsInFile(fileSystem, policy: policy)
            for sequence in acknowledged.withLock({ $0 }) {
                #expect(inFile.contains(sequence), "record \(sequence) acknowledged but not in the file")
            }
        }
    }
}
