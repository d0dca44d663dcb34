#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import Logging
public import NIOCore
public import NeptuneCache
import Synchronization

/// The append-only journal: every change the engine applies is framed, appended and made durable by a dedicated
/// writer thread, so disk I/O never blocks an event loop.
///
/// Group commit: while the writer thread is inside `fdatasync`, new records pile up in memory; the next round
/// writes them all with one `write` and covers them with one `fdatasync`. Under `appendfsync always` a client's
/// reply waits (``whenDurable(_:_:)``) for the fsync that covers its record, so concurrent clients share fsyncs and
/// throughput grows with the number of clients.
///
/// A failed write or fsync is never retried: the journal stops accepting writes (the engine answers
/// `-MISCONF ...`), waiting replies are told their records are not durable, and reads keep working.
public final class Journal: MutationJournal, @unchecked Sendable {
    /// Redis's `appendfsync` settings.
    public enum FsyncPolicy: String, Sendable {
        /// Reply only after an fsync covering the record.
        case always
        /// fsync about once a second: at most ~1 s of acknowledged writes can be lost on power loss.
        case everysec
        /// Never fsync explicitly; the OS decides.
        case no
    }

    public let policy: FsyncPolicy
    public let path: String
    private let logger: Logger
    private let file: any DurableFile

    // State shared with the writer thread, guarded by `mutex`; `condition` wakes the writer.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pending: [UInt8] = []
    private var nextSequence: UInt64
    private var waiters: [(sequence: UInt64, callback: @Sendable (Bool) -> Void)] = []
    private var stopping = false
    private var failure: FileSystemError?
    private var thread: pthread_t?

    private let durable: Atomic<UInt64>
    private let healthy = Atomic<Bool>(true)
    private let stopped = Atomic<Bool>(false)
    private let fsyncs = Atomic<Int>(0)
    private let written = Atomic<Int>(0)

    /// fsyncs done so far (INFO).
    public var fsyncCount: Int { fsyncs.load(ordering: .relaxed) }
    /// Bytes appended so far (INFO).
    public var bytesWritten: Int { written.load(ordering: .relaxed) }

    /// Opens (creating if needed) the segment at `path` for appending and starts the writer thread.
    /// - Parameters:
    ///   - nextSequence: The sequence number the next record gets (one past the last recovered record).
    public init(
        path: String,
        fileSystem: any DurableFileSystem,
        policy: FsyncPolicy,
        nextSequence: UInt64,
        logger: Logger
    ) throws(FileSystemError) {
        self.path = path
        self.policy = policy
        self.logger = logger
        self.nextSequence = nextSequence
        self.durable = Atomic(nextSequence &- 1)
        // Initialized first: deinit destroys them even when opening the file below fails.
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
        let isNew = !fileSystem.fileExists(path)
        self.file = try fileSystem.openForAppend(path)
        if isNew || file.size == 0 {
            try file.append(JournalFormat.magic)
            try file.sync()
            if let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                as String?, !directory.isEmpty
            {
                try fileSystem.syncDirectory(directory)
            }
        }
        startThread()
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        condition.deallocate()
    }

    private func startThread() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            let journal = Unmanaged<Journal>.fromOpaque(argument!).takeRetainedValue()
            journal.run()
            return nil
        }, box.toOpaque())
        precondition(result == 0, "could not start the journal writer thread")
        thread = handle
    }

    // MARK: MutationJournal

    public func append(db: Int, arguments: [ByteBuffer]) -> UInt64 {
        let bytes = arguments.map { Array($0.readableBytesView) }
        pthread_mutex_lock(mutex)
        let sequence = nextSequence
        nextSequence &+= 1
        JournalFormat.encode(sequence: sequence, db: db, arguments: bytes, into: &pending)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        return sequence
    }

    public func appendTransaction(_ records: [(db: Int, arguments: [ByteBuffer])]) -> UInt64 {
        let encoded = records.map { (db: $0.db, arguments: $0.arguments.map { Array($0.readableBytesView) }) }
        let db = records.first?.db ?? 0
        pthread_mutex_lock(mutex)
        // One lock for the whole transaction: no other client's record lands inside it.
        JournalFormat.encode(sequence: nextSequence, db: db, arguments: [JournalFormat.multiRecord], into: &pending)
        nextSequence &+= 1
        for record in encoded {
            JournalFormat.encode(sequence: nextSequence, db: record.db, arguments: record.arguments, into: &pending)
            nextSequence &+= 1
        }
        let sequence = nextSequence
        JournalFormat.encode(sequence: sequence, db: db, arguments: [JournalFormat.execRecord], into: &pending)
        nextSequence &+= 1
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        return sequence
    }

    public var acceptsWrites: Bool { healthy.load(ordering: .relaxed) }

    public var refusalMessage: String {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return "MISCONF Errors writing to the AOF file: \(failure?.reason ?? "unknown error")"
    }

    /// The highest sequence number known to be on stable storage (under `always`; written, for the others).
    public var durableSequence: UInt64 { durable.load(ordering: .acquiring) }

    /// The last error, if the journal has failed.
    public var lastError: FileSystemError? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return failure
    }

    /// Calls `callback(true)` once record `sequence` is durable, or `callback(false)` if the journal fails first.
    /// The callback runs on the writer thread (or at once): hop to your own executor.
    public func whenDurable(_ sequence: UInt64, _ callback: @escaping @Sendable (Bool) -> Void) {
        if sequence <= durable.load(ordering: .acquiring) {
            callback(true)
            return
        }
        pthread_mutex_lock(mutex)
        if sequence <= durable.load(ordering: .acquiring) {
            pthread_mutex_unlock(mutex)
            callback(true)
            return
        }
        if failure != nil {
            pthread_mutex_unlock(mutex)
            callback(false)
            return
        }
        waiters.append((sequence, callback))
        pthread_mutex_unlock(mutex)
    }

    /// Writes and fsyncs everything appended so far, then stops the writer thread.
    public func close() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        if let thread { pthread_join(thread, nil) }
        file.close()
    }

    // MARK: Writer thread

    private func run() {
        var lastSync = Self.monotonicMilliseconds()
        var unsynced = false
        while true {
            pthread_mutex_lock(mutex)
            while pending.isEmpty && !stopping && !(policy == .everysec && unsynced) {
                pthread_cond_wait(condition, mutex)
            }
            if policy == .everysec && pending.isEmpty && !stopping && unsynced {
                // Wait for the rest of the second (or new records).
                var deadline = timespec()
                clock_gettime(CLOCK_REALTIME, &deadline)
                let wait = max(0, 1000 - (Self.monotonicMilliseconds() - lastSync))
                deadline.tv_sec += Int(wait / 1000)
                deadline.tv_nsec += Int(wait % 1000) * 1_000_000
                if deadline.tv_nsec >= 1_000_000_000 {
                    deadline.tv_sec += 1
                    deadline.tv_nsec -= 1_000_000_000
                }
                pthread_cond_timedwait(condition, mutex, &deadline)
            }
            let batch = pending
            pending = []
            pending.reserveCapacity(batch.count)
            let lastSequence = nextSequence &- 1
            let finishing = stopping && batch.isEmpty
            let failed = failure != nil
            pthread_mutex_unlock(mutex)
            if failed {
                if finishing || stopping { return }
                continue
            }
            do throws(FileSystemError) {
                if !batch.isEmpty {
                    try file.append(batch)
                    written.add(batch.count, ordering: .relaxed)
                    unsynced = true
                }
                let now = Self.monotonicMilliseconds()
                switch policy {
                case .always:
                    if unsynced {
                        try file.sync()
                        fsyncs.add(1, ordering: .relaxed)
                        unsynced = false
                    }
                case .everysec:
                    if unsynced && (now - lastSync >= 1000 || stopping) {
                        try file.sync()
                        fsyncs.add(1, ordering: .relaxed)
                        unsynced = false
                        lastSync = now
                    }
                case .no:
                    if stopping && unsynced {
                        try file.sync()
                        unsynced = false
                    }
                }
                if !batch.isEmpty || !unsynced {
                    publish(durable: policy == .always && unsynced ? nil : lastSequence)
                }
            } catch {
                fail(error)
                if stopping { return }
                continue
            }
            if finishing { return }
        }
    }

    private func publish(durable sequence: UInt64?) {
        guard let sequence else { return }
        durable.store(sequence, ordering: .releasing)
        pthread_mutex_lock(mutex)
        var ready: [@Sendable (Bool) -> Void] = []
        waiters.removeAll { waiter in
            if waiter.sequence <= sequence {
                ready.append(waiter.callback)
                return true
            }
            return false
        }
        pthread_mutex_unlock(mutex)
        for callback in ready { callback(true) }
    }

    private func fail(_ error: FileSystemError) {
        logger.error(
            "journal write failed: refusing writes until the journal is healthy again",
            metadata: ["file": "\(path)", "error": "\(error)"]
        )
        healthy.store(false, ordering: .relaxed)
        pthread_mutex_lock(mutex)
        failure = error
        let failedWaiters = waiters
        waiters = []
        pthread_mutex_unlock(mutex)
        for waiter in failedWaiters { waiter.callback(false) }
    }

    static func monotonicMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
