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
/// that, so a kill -9 loses no acknowledged write; only power loss can lose the unsynced tail. There the waiting
/// thread (an event loop, or an embedded store's caller) usually writes the pending records itself
/// (``writeBuffered(upTo:wait:)``, into the page cache, never waiting for an fsync), as Redis writes its AOF buffer
/// on its event loop: no hand-off to the writer thread and back. The writer thread fsyncs once a second, writes
/// records nobody waits for, and writes for event loops while one of their writes was slow (``slowInlineWrite``).
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
    /// The segment being appended to; written with `fileLock` held (by the writer thread or an inline writer,
    /// ``writeBuffered(upTo:wait:)``), replaced only by the writer thread (``startSegment(_:)``).
    private var file: any DurableFile
    /// Held while records are taken from `pending` and written to `file`, so writes stay in sequence order. Lock
    /// order: `fileLock`, then `mutex`.
    private let fileLock = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// The records being written (guarded by `fileLock`).
    private var writeBuffer: [UInt8] = []
    /// Under `always`: how far the segment is preallocated (``preallocationChunk``; guarded by `fileLock`).
    private var reservedEnd = 0

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
    /// The writer sleeps with no deadline (under `everysec`, nothing was left to fsync when it went to sleep).
    private var writerWaitsForever = false
    /// Something was written since the last fsync started.
    private var unsynced = false
    /// When the last `everysec` fsync started (monotonic nanoseconds).
    private var lastSync = Journal.monotonicNanoseconds()
    private var nextSequence: UInt64
    private var waiters: [(sequence: UInt64, callback: @Sendable (Bool) -> Void)] = []
    private var stopping = false
    /// Under `always`: a caller's commit (``commitInline(upTo:)``) found less than half a chunk reserved ahead;
    /// the writer thread extends the reservation, off the commit path.
    private var reserveWanted = false
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
    /// Event loops do not write inline before this monotonic time (nanoseconds); see ``slowInlineWrite``.
    private let inlineSuspendedUntil = Atomic<Int64>(0)
    /// The writer thread is in an `everysec` (or closing) fsync.
    private let syncing = Atomic<Bool>(false)

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
        #if DEBUG
        // Debug builds (the tests) check the file lock's discipline: unlocking it without holding it fails
        // (``unlockFile()`` traps) instead of silently letting two threads write at once.
        var checked = pthread_mutexattr_t()
        pthread_mutexattr_init(&checked)
        pthread_mutexattr_settype(&checked, Int32(PTHREAD_MUTEX_ERRORCHECK))
        pthread_mutex_init(fileLock, &checked)
        pthread_mutexattr_destroy(&checked)
        #else
        pthread_mutex_init(fileLock, nil)
        #endif
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
        pthread_mutex_destroy(fileLock)
        mutex.deallocate()
        fileLock.deallocate()
        condition.deallocate()
    }

    private func startThread() {
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            let journal = Unmanaged<Journal>.fromOpaque(argument!).takeRetainedValue()
            nameCurrentThread("neptune-journal")
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

    /// Blocks until record `sequence` is as durable as the policy promises a server's reply: under `always` on
    /// stable storage (an fsync shared by concurrent callers), under `everysec` and `no` written to the file (in
    /// the kernel: a crash of the process cannot lose it). The calling thread does the work itself, so the call
    /// costs no thread hand-off: under `everysec` and `no` it writes the pending records
    /// (``writeBuffered(upTo:wait:)``), under `always` it writes and fsyncs them (``commitInline(upTo:)``). Never
    /// call it on an event loop: it waits for the disk.
    /// - Returns: false if the journal failed (or was closed) before the record was durable.
    public func waitUntilDurable(_ sequence: UInt64) -> Bool {
        if sequence <= durable.load(ordering: .acquiring) { return true }
        if let written = writeBuffered(upTo: sequence, wait: true) { return written }
        if Self.commitsOnCaller, let committed = commitInline(upTo: sequence) { return committed }
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
    /// makes the writer thread write at once instead of collecting records for ``lazyWriteInterval`` (try
    /// ``writeBuffered(upTo:wait:)`` first: it saves the hand-off).
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
        pthread_mutex_lock(fileLock)
        file.close()
        unlockFile()
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

    /// Under `everysec` and `no`, records nobody waits for (a server's records whose replies are written inline
    /// by ``writeBuffered(upTo:wait:)`` leave nothing behind; these are records appended while such a write ran,
    /// or engine deletions by expiry) are written by the writer thread at most this long (nanoseconds) after it
    /// noticed them, or once this many bytes are pending, so that appenders wake it at most about once per
    /// interval. A waiter (``whenDurable(_:_:)``) ends the delay.
    static let lazyWriteInterval: Int64 = 1_000_000
    static let lazyWriteBytes = 1 << 20

    /// Whether `always` segments are preallocated (``preallocationChunk``); `NEPTUNE_JOURNAL_PREALLOCATE=0` turns
    /// it off, for A/B measurements only.
    static let preallocates: Bool = {
        guard let text = getenv("NEPTUNE_JOURNAL_PREALLOCATE") else { return true }
        return String(cString: text) != "0"
    }()

    private func run() {
        // Under `always`: how far the segment is preallocated (``preallocationChunk``).
        // Under `always`: gather the released clients' next records until `gatherTarget` are pending or the
        // deadline passes.
        var gatherTarget = 0
        var gatherDeadline: Int64 = 0
        if policy == .always && Self.preallocates {
            // Before the first record, so that the first client does not wait for the zeros.
            pthread_mutex_lock(fileLock)
            reserveSpace(upTo: file.size + Self.preallocationChunk)
            unlockFile()
        }
        while true {
            pthread_mutex_lock(mutex)
            // Under `everysec` and `no`: records that no reply waits for are collected for ``lazyWriteInterval``.
            var noticed: Int64 = 0
            while !stopping && rotation == nil {
                if pendingRecords == 0 {
                    noticed = 0
                    if reserveWanted { break }
                    if policy == .everysec && unsynced {
                        // Sleep for the rest of the second, or until records come.
                        let deadline = lastSync + 1_000_000_000
                        if Self.monotonicNanoseconds() >= deadline { break }
                        waitLocked(threshold: 1, until: deadline)
                    } else {
                        writerWaitsForever = true
                        waitLocked(threshold: 1, until: nil)
                        writerWaitsForever = false
                    }
                } else if pendingRecords < gatherTarget, Self.monotonicNanoseconds() < gatherDeadline {
                    waitLocked(threshold: gatherTarget, until: gatherDeadline)
                } else if policy != .always, waiters.isEmpty, pending.count < Self.lazyWriteBytes {
                    // No reply waits for these records (an event loop or an embedded writer may write them
                    // itself): collect more of them into one write, for at most the lazy interval.
                    let now = Self.monotonicNanoseconds()
                    if noticed == 0 { noticed = now }
                    if now >= noticed + Self.lazyWriteInterval { break }
                    waitLocked(threshold: Int.max, until: noticed + Self.lazyWriteInterval)
                } else {
                    break
                }
            }
            let finishing = stopping
            let onlyReserve = reserveWanted && pendingRecords == 0 && rotation == nil && !stopping
            reserveWanted = false
            pthread_mutex_unlock(mutex)
            if onlyReserve {
                // A caller's commit used up most of the reservation: extend it while no commit waits for it.
                extendReservation()
                continue
            }
            let records = writeBatch()
            if let records, policy == .always {
                if records.published {
                    gatherTarget = records.stillPending + records.count
                    gatherDeadline = records.fsyncEnd + min(
                        max(records.fsyncEnd - records.fsyncStart, Self.gatherWindowBounds.lowerBound),
                        Self.gatherWindowBounds.upperBound
                    )
                }
                // Off the commit path: the replies of this batch are on their way already.
                if !finishing { extendReservation() }
            }
            if finishing {
                pthread_mutex_lock(mutex)
                let done = pending.isEmpty && rotation == nil
                pthread_mutex_unlock(mutex)
                if done || failure != nil { return }
            }
        }
    }

    /// What one ``writeBatch()`` did.
    private struct BatchResult {
        var count: Int
        var published: Bool
        var stillPending: Int
        var fsyncStart: Int64
        var fsyncEnd: Int64
    }

    /// The writer thread's turn: takes the pending records (the file lock held, so no inline writer interleaves),
    /// performs a requested segment switch, writes them, fsyncs as the policy says and publishes them.
    /// - Returns: nil if the journal has failed.
    private func writeBatch() -> BatchResult? {
        pthread_mutex_lock(fileLock)
        pthread_mutex_lock(mutex)
        swap(&writeBuffer, &pending)
        let records = pendingRecords
        pendingRecords = 0
        let split = rotation
        rotation = nil
        let lastSequence = nextSequence &- 1
        let failed = failure != nil
        let now = Self.monotonicNanoseconds()
        // Under `everysec`: fsync when a second has passed since the last one (or at close).
        let syncNow: Bool
        switch policy {
        case .always: syncNow = true
        case .everysec: syncNow = stopping || now - lastSync >= 1_000_000_000
        case .no: syncNow = stopping
        }
        pthread_mutex_unlock(mutex)
        if failed {
            writeBuffer.removeAll(keepingCapacity: true)
            unlockFile()
            return nil
        }
        var result = BatchResult(count: records, published: false, stillPending: 0, fsyncStart: 0, fsyncEnd: 0)
        do throws(FileSystemError) {
            if let split {
                // Finish the old segment (its records complete and durable), then switch.
                if split.offset > 0 {
                    try file.append(Array(writeBuffer[0..<split.offset]))
                    written.add(split.offset, ordering: .relaxed)
                }
                try file.sync()
                fsyncs.add(1, ordering: .relaxed)
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
                writeBuffer.removeFirst(split.offset)
            }
            if policy == .always && Self.preallocates && file.size + writeBuffer.count > reservedEnd {
                // A burst outran the space reserved ahead (or a new segment): reserve before writing.
                reserveSpace(upTo: file.size + writeBuffer.count + Self.preallocationChunk)
            }
            if !writeBuffer.isEmpty {
                try file.append(writeBuffer)
                written.add(writeBuffer.count, ordering: .relaxed)
                pthread_mutex_lock(mutex)
                unsynced = true
                pthread_mutex_unlock(mutex)
            }
            releaseWriteBuffer()
            var ready: [@Sendable (Bool) -> Void] = []
            if policy == .always {
                // Nobody else writes under `always`: the fsync covers everything written.
                result.fsyncStart = Self.monotonicNanoseconds()
                try syncIfNeeded()
                result.fsyncEnd = Self.monotonicNanoseconds()
                (ready, result.stillPending) = markDurable(lastSequence)
                result.published = true
                unlockFile()
            } else {
                // Written: as durable as `everysec` and `no` promise. The fsync runs without the file lock, so
                // inline writers keep writing meanwhile; everything written before it starts is covered.
                (ready, result.stillPending) = markDurable(lastSequence)
                result.published = true
                unlockFile()
                for callback in ready { callback(true) }
                ready = []
                if syncNow {
                    pthread_mutex_lock(mutex)
                    lastSync = now
                    pthread_mutex_unlock(mutex)
                    syncing.store(true, ordering: .relaxed)
                    defer { syncing.store(false, ordering: .relaxed) }
                    do throws(FileSystemError) {
                        try syncIfNeeded()
                    } catch {
                        // The file lock is released already (an inline writer may hold it now): only fail.
                        fail(error)
                        return nil
                    }
                }
            }
            for callback in ready { callback(true) }
        } catch {
            releaseWriteBuffer()
            let failed = recordFailure(error)
            unlockFile()
            for callback in failed { callback(false) }
            return nil
        }
        return result
    }

    /// fsyncs the file if something was written since the last fsync. Call it from the writer thread only.
    private func syncIfNeeded() throws(FileSystemError) {
        pthread_mutex_lock(mutex)
        let needed = unsynced
        unsynced = false
        pthread_mutex_unlock(mutex)
        guard needed else { return }
        do {
            try file.sync()
        } catch {
            pthread_mutex_lock(mutex)
            unsynced = true
            pthread_mutex_unlock(mutex)
            throw error
        }
        fsyncs.add(1, ordering: .relaxed)
    }

    /// Keeps ``writeBuffer``'s capacity for the next batch, unless a burst made it huge. The file lock held.
    private func releaseWriteBuffer() {
        if writeBuffer.capacity > 16 << 20 {
            writeBuffer = []
        } else {
            writeBuffer.removeAll(keepingCapacity: true)
        }
    }

    /// Under `everysec` and `no`: writes the pending records up to at least `sequence` on the calling thread, as
    /// Redis writes its AOF buffer on its event loop before replying, unless they are written already. The write
    /// goes to the page cache and never waits for an fsync (the writer thread fsyncs without the file lock).
    /// Records of other threads pending at that moment are written too (one `write` for all of them).
    /// - Parameters:
    ///   - sequence: The record that must be written.
    ///   - wait: Whether to wait for the file while another thread writes to it; if false (an event loop), a busy
    ///     file returns nil at once.
    /// - Returns: true once the record is written (``durableSequence`` covers it), false if the journal failed,
    ///   nil if the caller must wait with ``whenDurable(_:_:)`` instead (under `always`, the file busy without
    ///   `wait`, or a segment switch pending).
    public func writeBuffered(upTo sequence: UInt64, wait: Bool) -> Bool? {
        guard policy != .always else { return nil }
        if sequence <= durable.load(ordering: .acquiring) { return true }
        var started: Int64 = 0
        if wait {
            pthread_mutex_lock(fileLock)
        } else {
            started = Self.monotonicNanoseconds()
            // While the writer thread fsyncs, a write to the same file is the one most likely to block (the file
            // system's journal commit can hold it up): leave it to the writer, as Redis postpones its AOF write
            // while a background fsync runs.
            if syncing.load(ordering: .relaxed) || started < inlineSuspendedUntil.load(ordering: .relaxed)
                || pthread_mutex_trylock(fileLock) != 0
            {
                return nil
            }
        }
        guard case .taken(let lastSequence) = takePendingBatch(upTo: sequence) else {
            return callerBatchOutcome(sequence)
        }
        unsynced = true
        // Under `everysec` a writer asleep with nothing unsynced must wake to fsync within the second.
        let wakeWriter = policy == .everysec && writerWaitsForever && writerSleeping
        if wakeWriter { writerSleeping = false }
        pthread_mutex_unlock(mutex)
        if wakeWriter { pthread_cond_signal(condition) }
        do throws(FileSystemError) {
            try file.append(writeBuffer)
        } catch {
            return failCallerWrite(error)
        }
        written.add(writeBuffer.count, ordering: .relaxed)
        releaseWriteBuffer()
        let (ready, _) = markDurable(lastSequence)
        unlockFile()
        for callback in ready { callback(true) }
        if !wait {
            let took = Self.monotonicNanoseconds() - started
            if took > Self.slowInlineWrite {
                // The disk holds writes up (dirty-page throttling, a stalled device): stop blocking event loops.
                inlineSuspendedUntil.store(started + took + Self.inlineSuspension, ordering: .relaxed)
                logger.warning(
                    "a journal write took too long on an event loop (disk busy?): the journal thread writes for a while",
                    metadata: ["milliseconds": "\(took / 1_000_000)", "file": "\(path)"]
                )
            }
        }
        return true
    }

    /// Under `always`, for a caller that blocks until its record is durable anyway (an embedded store's write, not
    /// an event loop): if no commit is running, commits the pending records up to at least `sequence` on the
    /// calling thread (one `write` and one `fdatasync` for everything pending, then publishes them), instead of
    /// handing them to the writer thread and sleeping until it wakes the caller: two thread wake-ups less per
    /// commit. If a commit is running, it returns nil at once: the caller then waits for that commit or the writer
    /// thread's next one (``whenDurable(_:_:)``), so concurrent callers share fsyncs as before (blocking on the
    /// file instead would make them take it one after another, each committing the few records that came
    /// meanwhile: a lock convoy of small fsyncs).
    ///
    /// Safe next to the writer thread: every commit (the writer's or a caller's) holds the file lock from taking its
    /// batch to publishing it, so batches reach the file in sequence order, each is published only after an fsync
    /// that started after its write, and publications never go backwards; a failure is recorded before the lock is
    /// released, so the next commit publishes nothing.
    /// - Returns: true once the record is durable, false if the journal failed (or was closed), nil if the caller
    ///   must wait with ``whenDurable(_:_:)`` instead (not `always`, a commit running, or a segment switch or
    ///   close pending).
    public func commitInline(upTo sequence: UInt64) -> Bool? {
        guard policy == .always else { return nil }
        if sequence <= durable.load(ordering: .acquiring) { return true }
        guard pthread_mutex_trylock(fileLock) == 0 else { return nil }
        guard case .taken(let lastSequence) = takePendingBatch(upTo: sequence) else {
            return callerBatchOutcome(sequence)
        }
        pthread_mutex_unlock(mutex)
        do throws(FileSystemError) {
            if Self.preallocates && file.size + writeBuffer.count > reservedEnd {
                reserveSpace(upTo: file.size + writeBuffer.count + Self.preallocationChunk)
            }
            // Empty only if every record up to `lastSequence` was committed already (under this lock).
            if !writeBuffer.isEmpty {
                try file.append(writeBuffer)
                written.add(writeBuffer.count, ordering: .relaxed)
                try file.sync()
                fsyncs.add(1, ordering: .relaxed)
            }
        } catch {
            return failCallerWrite(error)
        }
        releaseWriteBuffer()
        let (ready, _) = markDurable(lastSequence)
        let reserveLow = Self.preallocates && file.size + Self.preallocationChunk / 2 > reservedEnd
        unlockFile()
        if reserveLow {
            // The zeros are written by the writer thread, not on this commit path.
            pthread_mutex_lock(mutex)
            reserveWanted = true
            let wake = writerSleeping
            if wake { writerSleeping = false }
            pthread_mutex_unlock(mutex)
            if wake { pthread_cond_signal(condition) }
        }
        for callback in ready { callback(true) }
        return true
    }

    /// What a caller's own write (``writeBuffered(upTo:wait:)``, ``commitInline(upTo:)``) finds once it holds the
    /// file lock.
    private enum CallerBatch {
        /// Every pending record is now in `writeBuffer` and `mutex` is still held, so the caller can update the
        /// writer's state before releasing it.
        case taken(lastSequence: UInt64)
        /// Both locks are released again; ``callerBatchOutcome(_:)`` tells the caller what to answer.
        case notTaken
    }

    /// With the file lock held: takes every pending record for a write on the calling thread, unless the record
    /// is already covered, the journal failed or closed, or a segment switch or close is pending (then both locks
    /// are released).
    private func takePendingBatch(upTo sequence: UInt64) -> CallerBatch {
        if sequence <= durable.load(ordering: .acquiring) {
            unlockFile()
            return .notTaken
        }
        pthread_mutex_lock(mutex)
        if failure != nil || finished || rotation != nil || stopping {
            pthread_mutex_unlock(mutex)
            unlockFile()
            return .notTaken
        }
        swap(&writeBuffer, &pending)
        pendingRecords = 0
        return .taken(lastSequence: nextSequence &- 1)
    }

    /// The answer of a caller's write that took no batch: true if its record is covered, false if the journal
    /// failed or closed, nil if it must wait with ``whenDurable(_:_:)`` (a segment switch or close pending).
    private func callerBatchOutcome(_ sequence: UInt64) -> Bool? {
        if sequence <= durable.load(ordering: .acquiring) { return true }
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return failure != nil || finished ? false : nil
    }

    /// A caller's write or fsync failed (file lock held): records the failure, releases the lock and fails the
    /// waiting callbacks; returns false for the caller.
    private func failCallerWrite(_ error: FileSystemError) -> Bool {
        releaseWriteBuffer()
        let failed = recordFailure(error)
        unlockFile()
        for callback in failed { callback(false) }
        return false
    }

    /// An event loop's inline write (``writeBuffered(upTo:wait:)`` without `wait`) that takes longer than this
    /// (nanoseconds) suspends inline writes from event loops for ``inlineSuspension``: the journal thread writes
    /// meanwhile, so a disk that stalls writes into the page cache stalls an event loop for one write, not for
    /// every one.
    static let slowInlineWrite: Int64 = 10_000_000

    /// Whether ``waitUntilDurable(_:)`` commits on the calling thread under `always` (``commitInline(upTo:)``);
    /// `NEPTUNE_JOURNAL_CALLER_COMMIT=0` turns it off, for A/B measurements only.
    static let commitsOnCaller: Bool = {
        guard let text = getenv("NEPTUNE_JOURNAL_CALLER_COMMIT") else { return true }
        return String(cString: text) != "0"
    }()
    static let inlineSuspension: Int64 = 5_000_000_000

    /// Under `always`, segments are preallocated this far ahead of their data (zeros written and fsynced once per
    /// chunk; see ``DurableFile/preallocate(upTo:)``): the fdatasync that each group commit waits for then writes
    /// only data blocks, no file size or block allocation, which on ext4 halves its latency. Recovery skips the
    /// zeros after the last record, and closing a segment cuts them off. The writer extends the reservation
    /// after publishing a batch once less than half a chunk is left, so the zeros are rarely written while a
    /// client waits.
    public static let preallocationChunk = 4 << 20

    /// Under `always`: preallocates another chunk once less than half of one is left ahead of the data.
    private func extendReservation() {
        guard Self.preallocates else { return }
        pthread_mutex_lock(fileLock)
        if file.size + Self.preallocationChunk / 2 > reservedEnd {
            reserveSpace(upTo: file.size + Self.preallocationChunk)
        }
        unlockFile()
    }

    /// Preallocates the segment up to `length`. A failure (a full disk) only stops preallocating this segment:
    /// appends then grow the file as usual, and report the error themselves if the disk is really full.
    private func reserveSpace(upTo length: Int) {
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

    /// Publishes `sequence` as durable (call it with the file lock held, so publications never go backwards)
    /// and returns the callbacks it satisfies, for the caller to run once it released the lock, and the records
    /// pending at that moment (appended since the batch was taken).
    private func markDurable(_ sequence: UInt64) -> (ready: [@Sendable (Bool) -> Void], stillPending: Int) {
        durable.store(sequence, ordering: .releasing)
        pthread_mutex_lock(mutex)
        let stillPending = pendingRecords
        var ready: [@Sendable (Bool) -> Void] = []
        if !waiters.isEmpty {
            waiters.removeAll { waiter in
                if waiter.sequence <= sequence {
                    ready.append(waiter.callback)
                    return true
                }
                return false
            }
        }
        pthread_mutex_unlock(mutex)
        return (ready, stillPending)
    }

    private func fail(_ error: FileSystemError) {
        let failed = recordFailure(error)
        for callback in failed { callback(false) }
    }

    /// Marks the journal failed and returns the callbacks of the waiters to tell (the caller runs them). After a
    /// failed write, call it *before* releasing the file lock: the next thread to take the lock (the writer thread
    /// or an inline writer) must see the failure. Otherwise it could find `pending` empty (the failed records were
    /// taken by the failed write) and publish everything up to the last sequence number, the failed records
    /// included, as written or durable.
    private func recordFailure(_ error: FileSystemError) -> [@Sendable (Bool) -> Void] {
        healthy.store(false, ordering: .relaxed)
        pthread_mutex_lock(mutex)
        let first = failure == nil
        if first { failure = error }
        let failedWaiters = waiters
        waiters = []
        let segment = currentPath
        pthread_mutex_unlock(mutex)
        if first {
            logger.error(
                "journal write failed: refusing writes until the journal is healthy again",
                metadata: ["file": "\(segment)", "error": "\(error)"]
            )
        }
        return failedWaiters.map(\.callback)
    }

    /// Releases the file lock; in debug builds (an error-checking mutex) it traps if this thread does not hold it.
    private func unlockFile() {
        let result = pthread_mutex_unlock(fileLock)
        assert(result == 0, "journal file lock released by a thread that does not hold it")
    }

    static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
