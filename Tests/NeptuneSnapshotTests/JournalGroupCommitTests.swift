import Dispatch
#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import NeptuneCache
import NeptuneSnapshot
import NeptuneTestSupport
import Synchronization
import Testing

/// The journal's hot path: records encoded straight from the command's buffers, batched wake-ups and fsyncs shared
/// by concurrent writers.
@Suite struct JournalGroupCommitTests {
    static let path = "/data/appendonlydir/journal.00000001"

    static var logger: Logger {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }

    /// The buffer encoder writes exactly the bytes of the array encoder (the format does not change).
    @Test(arguments: [0, 1, 9, 10, 99, 100, 12345])
    func bufferEncodingMatchesArrayEncoding(length: Int) throws {
        let arguments: [[UInt8]] = [Array("SET".utf8), Array(repeating: 0x41, count: length), [0, 13, 10]]
        var fromArrays: [UInt8] = []
        JournalFormat.encode(sequence: 42, db: 3, arguments: arguments, into: &fromArrays)
        var fromBuffers: [UInt8] = [7]  // records are appended after whatever is there
        JournalFormat.encode(sequence: 42, db: 3, arguments: arguments.map { ByteBuffer(bytes: $0) }, into: &fromBuffers)
        #expect(Array(fromBuffers.dropFirst()) == fromArrays)
        let scan = try JournalFormat.scan(JournalFormat.magic + fromArrays, path: "j")
        #expect(scan.records == [JournalFormat.Record(sequence: 42, db: 3, arguments: arguments)])
    }

    /// A buffer slice (a view into a bigger receive buffer) is encoded from its readable bytes only.
    @Test func sliceIsEncodedFromItsReadableBytes() throws {
        var big = ByteBuffer(string: "xxxxSETyyyy")
        big.moveReaderIndex(forwardBy: 4)
        let slice = big.readSlice(length: 3)!
        var out: [UInt8] = []
        JournalFormat.encode(sequence: 1, db: 0, arguments: [slice], into: &out)
        let scan = try JournalFormat.scan(JournalFormat.magic + out, path: "j")
        #expect(scan.records.first?.arguments == [Array("SET".utf8)])
    }

    /// Eight threads append concurrently under `always`: every record becomes durable, in sequence order, and
    /// they share fsyncs (far fewer fsyncs than records).
    @Test func concurrentWritersShareFsyncs() throws {
        let fileSystem = FaultyFileSystem()
        fileSystem.setSyncLatency(microseconds: 500)
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: .always, nextSequence: 1, logger: Self.logger
        )
        let threads = 8
        let perThread = 100
        let acknowledged = Atomic<Int>(0)
        Self.onThreads(threads) { thread in
            for i in 0..<perThread {
                let sequence = journal.append(
                    db: 0,
                    arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k\(thread)-\(i)"), ByteBuffer(string: "v")]
                )
                let done = DispatchSemaphore(value: 0)
                let ok = Atomic<Bool>(false)
                journal.whenDurable(sequence) { durable in
                    ok.store(durable, ordering: .relaxed)
                    done.signal()
                }
                done.wait()
                if ok.load(ordering: .relaxed) { acknowledged.add(1, ordering: .relaxed) }
            }
        }
        let total = threads * perThread
        #expect(acknowledged.load(ordering: .relaxed) == total)
        #expect(journal.durableSequence == UInt64(total))
        #expect(journal.fsyncCount <= total / 2)
        journal.close()
        let scan = try JournalFormat.scan(fileSystem.crash()[Self.path] ?? [], path: Self.path, expectedSequence: 1)
        #expect(scan.records.count == total)
        #expect(scan.tornBytes == 0)
    }

    /// Runs `body` on `count` threads of their own at once (not a pool sized by the core count, so that more
    /// writers than cores can wait on fsyncs together) and waits for them.
    static func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        final class Work: @unchecked Sendable {
            let body: @Sendable (Int) -> Void
            let index: Int
            init(_ body: @escaping @Sendable (Int) -> Void, _ index: Int) {
                self.body = body
                self.index = index
            }
        }
        var handles: [pthread_t] = []
        for index in 0..<count {
            var handle = pthread_t()
            let work = Unmanaged.passRetained(Work(body, index)).toOpaque()
            let result = pthread_create(&handle, nil, { argument in
                let work = Unmanaged<Work>.fromOpaque(argument!).takeRetainedValue()
                work.body(work.index)
                return nil
            }, work)
            precondition(result == 0)
            handles.append(handle)
        }
        for handle in handles { pthread_join(handle, nil) }
    }

    /// Records still waiting to be gathered into a batch are written and fsynced by `close()`.
    @Test(arguments: [Journal.FsyncPolicy.always, .everysec, .no])
    func closeMakesEverythingDurable(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: policy, nextSequence: 1, logger: Self.logger
        )
        for i in 0..<50 {
            _ = journal.append(db: 1, arguments: [ByteBuffer(string: "INCR"), ByteBuffer(string: "n\(i % 3)")])
        }
        journal.close()
        let image = fileSystem.crash()
        let scan = try JournalFormat.scan(image[Self.path] ?? [], path: Self.path, expectedSequence: 1)
        #expect(scan.records.count == 50)
        #expect(scan.records.last?.sequence == 50)
    }

    /// Under `everysec` and `no` appenders do not wake the writer per record, yet records reach the file within
    /// milliseconds (no reply waits for them, but a crash of the process should lose as little as possible).
    @Test(arguments: [Journal.FsyncPolicy.everysec, .no])
    func lazyWritesStillReachTheFileQuickly(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: policy, nextSequence: 1, logger: Self.logger
        )
        for round in 0..<3 {
            for i in 0..<20 {
                _ = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k\(round)-\(i)")])
            }
            var records = 0
            for _ in 0..<200 where records < (round + 1) * 20 {
                usleep(5_000)
                let bytes = fileSystem.contents(Self.path) ?? []
                records = (try? JournalFormat.scan(bytes, path: Self.path).records.count) ?? 0
            }
            #expect(records == (round + 1) * 20, "round \(round)")
        }
        journal.close()
    }

    /// Under `everysec` and `no` a waiter is released once its record is written to the file, not fsynced: the
    /// record is in the file when the callback runs, and under `no` it is not on stable storage.
    @Test(arguments: [Journal.FsyncPolicy.everysec, .no])
    func waitersAreReleasedByTheWrite(policy: Journal.FsyncPolicy) throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: policy, nextSequence: 1, logger: Self.logger
        )
        for i in 0..<50 {
            let key = "k\(i)"
            let sequence = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: key)])
            let done = DispatchSemaphore(value: 0)
            let seen = Mutex<(ok: Bool, written: Bool)?>(nil)
            journal.whenDurable(sequence) { ok in
                let bytes = fileSystem.contents(Self.path) ?? []
                let written = (try? JournalFormat.scan(bytes, path: Self.path).records.contains {
                    $0.arguments.last == Array(key.utf8)
                }) ?? false
                seen.withLock { $0 = (ok, written) }
                done.signal()
            }
            done.wait()
            #expect(seen.withLock { $0?.ok } == true, "record \(i)")
            #expect(seen.withLock { $0?.written } == true, "record \(i)")
            #expect(journal.durableSequence >= sequence)
        }
        if policy == .no {
            #expect(journal.fsyncCount == 0)
            let synced = fileSystem.crash()[Self.path] ?? []
            #expect(try JournalFormat.scan(synced, path: Self.path).records.isEmpty)
        }
        journal.close()
    }

    /// Under `everysec` a failed write fails its waiter (the reply must not acknowledge it) and the journal
    /// refuses writes afterwards.
    @Test func failedWriteFailsTheWaiterUnderEverysec() throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: .everysec, nextSequence: 1, logger: Self.logger
        )
        fileSystem.failAfter(operations: 1)
        let sequence = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k")])
        let done = DispatchSemaphore(value: 0)
        let outcome = Mutex<Bool?>(nil)
        journal.whenDurable(sequence) { ok in
            outcome.withLock { $0 = ok }
            done.signal()
        }
        done.wait()
        #expect(outcome.withLock { $0 } == false)
        #expect(!journal.acceptsWrites)
        #expect(journal.refusalMessage == "MISCONF Errors writing to the AOF file: Input/output error")
        journal.close()
    }

    /// A failed fsync fails every waiter of the batch, including those that registered while it ran, and later
    /// waiters at once; nothing is acknowledged after the failure.
    @Test func failedFsyncFailsEveryWaiter() throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Journal(
            path: Self.path, fileSystem: fileSystem, policy: .always, nextSequence: 1, logger: Self.logger
        )
        fileSystem.failFsync(number: 1)
        let outcomes = Mutex<[Bool]>([])
        let group = DispatchGroup()
        for i in 0..<20 {
            let sequence = journal.append(db: 0, arguments: [ByteBuffer(string: "SET"), ByteBuffer(string: "k\(i)")])
            group.enter()
            journal.whenDurable(sequence) { ok in
                outcomes.withLock { $0.append(ok) }
                group.leave()
            }
        }
        group.wait()
        #expect(outcomes.withLock { $0 }.count == 20)
        #expect(outcomes.withLock { $0 }.allSatisfy { !$0 })
        #expect(!journal.acceptsWrites)
        let late = Mutex<Bool?>(nil)
        journal.whenDurable(21) { ok in late.withLock { $0 = ok } }
        #expect(late.withLock { $0 } == false)
        journal.close()
    }
}
