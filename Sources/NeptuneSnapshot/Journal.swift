#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import Logging
public import NIOCore
public import NeptuneCache
import Dispatch
import Synchronization

/// The append-only journal: every change the engine applies is framed, appended and made durable by a dedicated
/// writer thread, so disk I/O never blocks an event loop.
///
/// Group commit: while the writer thread is inside `fdatasync`, new records pile up in memory; the next round
/// writes them all with one `write` and covers them with one `fdatasync`. Under `appendfsync always` a client's
/// reply waits (``whenDurable(_:_:)``) for the fsync that covers its record, so concurrent clients share fsyncs and
/// throughput grows with the number of clients. Under `everysec` and `no`, ``durableSequence`` is the last record
/// *written* to the file (handed to the kernel, as Redis's AOF `write` before it replies): a server reply waits for
/// that, so a kill -9 loses no acknowledged write; only power loss can lose the unsynced tail.
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
    private let logger: Logger
    private let fileSystem: any DurableFileSystem
    /// The segment being appended to; replaced only by the writer thread (``startSegment(_:)``).
    private var file: any DurableFile

    // State shared with the writer thread, guarded by `mutex`; `condition` wakes the writer.
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var pending: [UInt8] = []
    /// Records in `pending`.
    private var pendingRecords = 0
    /// The writer is (about to be) asleep on `condition` and wants a signal once `pendingRecords` reaches
    /// `wakeThreshold`: appenders signal once per batch, not once per record.
    private var writerSleeping = false
    private var wakeThreshold = 1
    private var nextSequence: UInt64
    private var waiters: [(sequence: UInt64, callback: @Sendable (Bool) -> Void)] = []
    private var stopping = false
    /// The writer thread has exited (after ``close()``).
    private var finished = false
    private var failure: FileSystemError?
    private var thread: pthread_t?
    private var currentPath: String
    /// A requested switch to a new segment: the bytes of `pending` before `offset` still go to the old one.
    private var rotation: (offset: Int, path: String)?

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
        self.currentPath = path
        self.fileSystem = fileSystem
        self.policy = policy
        self.logger = logger
        self.nextSequence = nextSequence
        self.durable = Atomic(nextSequence &- 1)
        // Initialized first: deinit destroys them even when opening the file below fails.
        pthread_mutex_init(mutex, nil)
        var attributes = pthread_condattr_t()
        pthread_condattr_init(&attributes)
        pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
        pthread_cond_init(condition, &attributes)
        pthread_condattr_destroy(&attributes)
        let isNew = !fileSystem.fileExists(path)
        self.file = try Self.openSegment(path, fileSystem: fileSystem, isNew: isNew)
        startThread()
    }

    /// Opens a segment for appending; a new or empty one gets the magic, an fsync and a directory fsync first.
    private static func openSegment(
        _ path: String,
        fileSystem: any DurableFileSystem,
        isNew: Bool
    ) throws(FileSystemError) -> any DurableFile {
        let file = try fileSystem.openForAppend(path)
        if isNew || file.size == 0 {
            try file.append(JournalFormat.magic)
            try file.sync()
            if let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
                as String?, !directory.isEmpty
            {
                try fileSystem.syncDirectory(directory)
            }
        }
        return file
    }

    /// The segment file records are appended to.
    public var path: String {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return currentPath
    }

    /// Makes every record appended from now on go to a new segment at `path`; the records before stay in the
    /// current one, which the writer thread fsyncs before it switches. Call it with every shard locked (from
    /// ``Engine/beginCapture(_:)``), so the switch falls exactly after the capture point.
    /// - Returns: The sequence number of the last record of the old segment (0 if there is none).
    public func startSegment(_ path: String) -> UInt64 {
        pthread_mutex_lock(mutex)
        let last = nextSequence &- 1
        rotation = (pending.count, path)
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        return last
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
        pthread_mutex_lock(mutex)
        let sequence = nextSequence
        nextSequence &+= 1
        JournalFormat.encode(sequence: sequence, db: db, arguments: arguments, into: &pending)
        pendingRecords += 1
        let wake = writerSleeping && (pendingRecords >= wakeThreshold || pending.count >= Self.lazyWriteBytes)
        if wake { writerSleeping = false }
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
        return sequence
    }

    public func appendTransaction(_ records: [(db: Int, arguments: [ByteBuffer])]) -> UInt64 {
        let db = records.first?.db ?? 0
        pthread_mutex_lock(mutex)
        // One lock for the whole transaction: no other client's record lands inside it.
        JournalFormat.encode(sequence: nextSequence, db: db, arguments: [JournalFormat.multiRecord], into: &pending)
        nextSequence &+= 1
        for record in records {
            JournalFormat.encode(sequence: nextSequence, db: record.db, arguments: record.arguments, into: &pending)
            nextSequence &+= 1
        }
        let sequence = nextSequence
        JournalFormat.encode(sequence: sequence, db: db, arguments: [JournalFormat.execRecord], into: &pending)
        nextSequence &+= 1
        pendingRecords += records.count + 2
        let wake = writerSleeping && (pendingRecords >= wakeThreshold || pending.count >= Self.lazyWriteBytes)
        if wake { writerSleeping = false }
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
        return sequence
    }

    public var acceptsWrites: Bool { healthy.load(ordering: .relaxed) && !stopped.load(ordering: .relaxed) }

    public var refusalMessage: String {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        if failure == nil && stopped.load(ordering: .relaxed) { return "ERR the journal is closed" }
        return "MISCONF Errors writing to the AOF file: \(failure?.reason ?? "unknown error")"
    }

    /// Under `always`, blocks until record `sequence` is on stable storage; under `everysec` and `no` the record
    /// is handed to the writer thread and this returns at once (as those policies promise no more).
    public func waitUntilDurable(_ sequence: UInt64) -> Bool {
        guard policy == .always else { return healthy.load(ordering: .relaxed) }
        if sequence <= durable.load(ordering: .acquiring) { return true }
        let done = DispatchSemaphore(value: 0)
        let outcome = Atomic<Bool>(false)
        whenDurable(sequence) { ok in
            outcome.store(ok, ordering: .relaxed)
            done.signal()
        }
        done.wait()
        return outcome.load(ordering: .relaxed)
    }

    /// The highest sequence number known to be on stable storage under `always`; under `everysec` and `no`, the
    /// highest one written to the file (in the kernel, surviving a crash of the process, not a power loss).
    public var durableSequence: UInt64 { durable.load(ordering: .acquiring) }

    /// The last error, if the journal has failed.
    public var lastError: FileSystemError? {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return failure
    }

    /// Calls `callback(true)` once record `sequence` is durable (under `everysec` and `no`: written, see
    /// ``durableSequence``), or `callback(false)` if the journal fails first. Under `everysec` and `no` a waiter
    /// makes the writer thread write at once instead of collecting records for ``lazyWriteInterval``.
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
        if failure != nil || finished {
            pthread_mutex_unlock(mutex)
            callback(false)
            return
        }
        waiters.append((sequence, callback))
        // Under `always` the writer is gathering records for the next fsync on purpose; under the other policies
        // it may be collecting them lazily, which it must stop now that a reply waits.
        let wake = policy != .always && writerSleeping && pendingRecords > 0
        if wake { writerSleeping = false }
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
    }

    /// Writes and fsyncs everything appended so far, then stops the writer thread.
    public func close() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        pthread_mutex_lock(mutex)
        stopping = true
        writerSleeping = false
        pthread_cond_signal(condition)
        pthread_mutex_unlock(mutex)
        if let thread { pthread_join(thread, nil) }
        file.close()
        // A write that raced with close may have appended after the writer's last batch: it is not durable.
        pthread_mutex_lock(mutex)
        finished = true
        let abandoned = waiters
        waiters = []
        pthread_mutex_unlock(mutex)
        for waiter in abandoned { waiter.callback(false) }
    }

    // MARK: Writer thread

    /// How long the writer waits, after an fsync, for the clients it just released to send their next writes,
    /// so that they share the next fsync instead of splitting into two alternating half-size groups. It waits
    /// only while fewer records are pending than it expects (the released ones plus those already pending), and
    /// at most about one fsync's duration, within these bounds (nanoseconds).
    static let gatherWindowBounds: ClosedRange<Int64> = 20_000...2_000_000

    /// Under `everysec` and `no`, while no reply waits for the journal (an embedded store's writes, or records
    /// appended while the writer was busy and whose replies are not flushed yet): records are written to the file
    /// at most this long (nanoseconds) after the previous write, or once this many bytes are pending, so that a
    /// busy store makes one `write` per millisecond instead of one per record, and appenders rarely wake the
    /// writer. A waiter (``whenDurable(_:_:)``) ends the delay, and records that find the writer idle are written
    /// at once: a server reply waits for its record's write.
    static let lazyWriteInterval: Int64 = 1_000_000
    static let lazyWriteBytes = 1 << 20

    private func run() {
        var lastSync = Self.monotonicNanoseconds()
        var lastWrite: Int64 = 0
        var unsynced = false
        // Under `always`: how far the segment is preallocated (``preallocationChunk``).
        var reservedEnd = 0
        var batch: [UInt8] = []
        // Under `always`: gather the released clients' next records until `gatherTarget` are pending or the
        // deadline passes.
        var gatherTarget = 0
        var gatherDeadline: Int64 = 0
        while true {
            pthread_mutex_lock(mutex)
            // Under `everysec` and `no`: records that arrive while the writer idles are written at once (their
            // reply is about to wait for them); only records that pile up behind a write are collected lazily.
            var wokeIdle = false
            while !stopping && rotation == nil {
                if pendingRecords == 0 {
                    wokeIdle = true
                    if policy == .everysec && unsynced {
                        // Sleep for the rest of the second, or until records come.
                        let deadline = lastSync + 1_000_000_000
                        if Self.monotonicNanoseconds() >= deadline { break }
                        waitLocked(threshold: 1, until: deadline)
                    } else {
                        waitLocked(threshold: 1, until: nil)
                    }
                } else if pendingRecords < gatherTarget, Self.monotonicNanoseconds() < gatherDeadline {
                    waitLocked(threshold: gatherTarget, until: gatherDeadline)
                } else if policy != .always, !wokeIdle, waiters.isEmpty, pending.count < Self.lazyWriteBytes,
                    Self.monotonicNanoseconds() < lastWrite + Self.lazyWriteInterval
                {
                    // No reply waits for these records: collect more of them into one write.
                    waitLocked(threshold: Int.max, until: lastWrite + Self.lazyWriteInterval)
                } else {
                    break
                }
            }
            swap(&batch, &pending)
            let records = pendingRecords
            pendingRecords = 0
            let split = rotation
            rotation = nil
            let lastSequence = nextSequence &- 1
            let finishing = stopping && batch.isEmpty
            let failed = failure != nil
            pthread_mutex_unlock(mutex)
            if failed {
                batch.removeAll(keepingCapacity: true)
                if stopping { return }
                continue
            }
            do throws(FileSystemError) {
                if let split {
                    // Finish the old segment (its records complete and durable), then switch.
                    if split.offset > 0 {
                        try file.append(Array(batch[0..<split.offset]))
                        written.add(split.offset, ordering: .relaxed)
                        unsynced = true
                    }
                    if unsynced {
                        try file.sync()
                        fsyncs.add(1, ordering: .relaxed)
                        unsynced = false
                    }
                    let next = try Self.openSegment(
                        split.path,
                        fileSystem: fileSystem,
                        isNew: !fileSystem.fileExists(split.path)
                    )
                    file.close()
                    file = next
                    reservedEnd = 0
                    pthread_mutex_lock(mutex)
                    currentPath = split.path
                    pthread_mutex_unlock(mutex)
                    batch.removeFirst(split.offset)
                }
                if policy == .always && file.size + batch.count > reservedEnd {
                    reserveSpace(upTo: file.size + batch.count + Self.preallocationChunk, &reservedEnd)
                }
                if !batch.isEmpty {
                    try file.append(batch)
                    written.add(batch.count, ordering: .relaxed)
                    unsynced = true
                }
                let now = Self.monotonicNanoseconds()
                lastWrite = now
                switch policy {
                case .always:
                    if unsynced {
                        try file.sync()
                        fsyncs.add(1, ordering: .relaxed)
                        unsynced = false
                        let done = Self.monotonicNanoseconds()
                        let window = min(max(done - now, Self.gatherWindowBounds.lowerBound), Self.gatherWindowBounds.upperBound)
                        gatherDeadline = done + window
                    }
                case .everysec:
                    if unsynced && (now - lastSync >= 1_000_000_000 || stopping) {
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
                    let stillPending = publish(durable: policy == .always && unsynced ? nil : lastSequence)
                    gatherTarget = policy == .always ? stillPending + records : 0
                }
            } catch {
                fail(error)
                if stopping { return }
            }
            // Keep the buffer's capacity for the next batch, unless a burst made it huge.
            if batch.capacity > 16 << 20 {
                batch = []
            } else {
                batch.removeAll(keepingCapacity: true)
            }
            if finishing { return }
        }
    }

    /// Under `always`, segments are preallocated this far ahead of their data (zeros written and fsynced once per
    /// chunk; see ``DurableFile/preallocate(upTo:)``): the fdatasync that each group commit waits for then writes
    /// only data blocks, no file size or block allocation, which on ext4 halves its latency. Recovery skips the
    /// zeros after the last record, and closing a segment cuts them off.
    public static let preallocationChunk = 4 << 20

    /// Preallocates the segment up to `length`. A failure (a full disk) only stops preallocating this segment:
    /// appends then grow the file as usual, and report the error themselves if the disk is really full.
    private func reserveSpace(upTo length: Int, _ reservedEnd: inout Int) {
        do {
            try file.preallocate(upTo: length)
            reservedEnd = length
        } catch {
            logger.warning(
                "cannot preallocate the journal segment; appending without it",
                metadata: ["file": "\(path)", "error": "\(error)"]
            )
            reservedEnd = Int.max
        }
    }

    /// Sleeps on `condition` (the mutex held) until an appender brings `pendingRecords` to `threshold`, the
    /// journal stops, or the monotonic `deadline` (nanoseconds) passes.
    private func waitLocked(threshold: Int, until deadline: Int64?) {
        writerSleeping = true
        wakeThreshold = threshold
        if let deadline {
            var time = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
            pthread_cond_timedwait(condition, mutex, &time)
        } else {
            pthread_cond_wait(condition, mutex)
        }
        writerSleeping = false
    }

    /// Publishes `sequence` as durable and runs the callbacks it satisfies.
    /// - Returns: The records pending at that moment (appended since the batch was taken).
    @discardableResult
    private func publish(durable sequence: UInt64?) -> Int {
        guard let sequence else { return 0 }
        durable.store(sequence, ordering: .releasing)
        pthread_mutex_lock(mutex)
        let stillPending = pendingRecords
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
        return stillPending
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

    static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
