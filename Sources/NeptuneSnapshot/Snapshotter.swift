#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
public import Logging
public import NeptuneCache
import Synchronization

/// Takes snapshots of an engine while it serves, installs them atomically and drops the journal segments they cover.
///
/// A snapshot is taken without fork and without stopping the world: ``Engine/beginCapture(_:)`` flips every
/// shard's capture mark under all shard locks (and, with a journal, starts a new journal segment exactly at the
/// capture point S); the shards are then copied in short slices under their locks (for a background save by the
/// event loops between their iterations, ``Engine/captureStep(idle:budgetNanoseconds:)``; otherwise by this thread)
/// while a command about to change a key not yet copied hands the snapshot the key's entry first (copy-on-write per
/// key, see ``KeyspaceCapture``). For a background save the event loops also serialize and compress the copies in
/// their idle time (``StepEncoder``) and a thread at the lowest priority only writes the bytes; otherwise a second
/// thread serializes, compresses and writes them. The file is written as `<dbfilename>.tmp`, fsynced, renamed over
/// `<dbfilename>` and the directory fsynced; only then are the journal segments whose records are all ≤ S deleted.
/// A crash at any step leaves either the old snapshot with every journal segment after it, or the new one.
public final class Snapshotter: @unchecked Sendable {
    /// Where and how snapshots are stored.
    public struct Configuration: Sendable {
        /// The data directory (`dir`).
        public var directory: String
        /// The snapshot file name (`dbfilename`).
        public var fileName: String
        /// The journal directory (`<dir>/<appenddirname>`): segments covered by a snapshot are deleted from it.
        public var journalDirectory: String

        public init(directory: String, fileName: String = SnapshotFormat.defaultFileName, journalDirectory: String) {
            self.directory = directory
            self.fileName = fileName
            self.journalDirectory = journalDirectory
        }

        /// The snapshot's path.
        public var path: String { "\(directory)/\(fileName)" }
        /// The temporary file a snapshot is written to before it is renamed over ``path``.
        public var temporaryPath: String { "\(directory)/\(fileName).tmp" }
    }

    /// What `INFO persistence` reports.
    public struct Status: Sendable {
        /// A background save is running.
        public var inProgress = false
        /// Unix seconds of the last successful save (the start time until one happens).
        public var lastSaveTime: Int64 = 0
        /// Whether the last save succeeded.
        public var lastSaveSucceeded = true
        /// Seconds the last background save took (-1 if none yet).
        public var lastBackgroundDuration: Int = -1
        /// Unix milliseconds when the running save started.
        public var currentStart: Int64 = 0
        /// Saves started.
        public var saves = 0
        /// Unix milliseconds of the last attempt (for the retry delay after a failure).
        public var lastAttempt: Int64 = 0
        /// The engine's change counter at the last successful save's capture point.
        public var changesAtLastSave = 0
        /// Keys in the running save, and how many are serialized so far.
        public var currentKeysTotal = 0
        public var currentKeysProcessed = 0
        /// Keys loaded and dropped as expired by the last load.
        public var lastLoadKeysLoaded = 0
        public var lastLoadKeysExpired = 0
        /// The longest time a command waited for a shard to be serialized during the last save, nanoseconds.
        public var lastLongestPauseNanoseconds = 0
        /// Serialization and compression steps of the last background save made by the event loops, and by the
        /// writing thread for them (records too large for a loop's step, or loops that stalled).
        public var lastEncodeStepsByHelpers = 0
        public var lastEncodeStepsByThread = 0

        public init() {}
    }

    /// Why a save did not start.
    public enum StartError: Error, Sendable {
        case alreadyInProgress
    }

    public let configuration: Configuration
    public let engine: Engine
    let fileSystem: any DurableFileSystem
    let logger: Logger
    private let state: Mutex<Status>
    private let running = Mutex<KeyspaceCapture?>(nil)
    private let idle = Mutex<Bool>(true)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finishedMutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    /// The journal, when `appendonly yes`; attached after recovery, before serving.
    nonisolated(unsafe) private var journal: Journal?
    /// The sequence number snapshots carry when there is no journal (the one recovery ended at).
    private let baseSequence = Atomic<UInt64>(0)
    /// How long the event loops may make no progress on a background save's encoding before the writing thread
    /// steps for them (20 ms). Tests that count who encoded what raise it, so that a test thread the scheduler
    /// leaves waiting on a busy machine does not hand its work to the writing thread. Set it before a save starts
    /// (the saving thread, started afterwards, reads it).
    package var encoderStallNanoseconds = StepEncoder.defaultStallNanoseconds

    public init(
        configuration: Configuration,
        engine: Engine,
        fileSystem: any DurableFileSystem,
        logger: Logger
    ) {
        self.configuration = configuration
        self.engine = engine
        self.fileSystem = fileSystem
        self.logger = logger
        var status = Status()
        status.lastSaveTime = engine.clock.milliseconds() / 1000
        self.state = Mutex(status)
        pthread_cond_init(finished, nil)
        pthread_mutex_init(finishedMutex, nil)
    }

    deinit {
        pthread_cond_destroy(finished)
        pthread_mutex_destroy(finishedMutex)
        finished.deallocate()
        finishedMutex.deallocate()
    }

    /// Attaches the journal whose segments snapshots rotate and delete. Call before serving.
    public func attach(journal: Journal?) {
        self.journal = journal
    }

    /// The current status (for INFO).
    public var status: Status {
        var status = state.withLock { $0 }
        if status.inProgress, let capture = running.withLock({ $0 }) {
            status.currentKeysProcessed = capture.keysCaptured
        }
        return status
    }

    /// Changes since the last successful save (`rdb_changes_since_last_save`).
    public var changesSinceLastSave: Int {
        max(0, engine.changeCount() - state.withLock { $0.changesAtLastSave })
    }

    /// Records what recovery found, so later snapshots carry the right sequence number and INFO reports the load.
    public func recordLoad(sequence: UInt64, keysLoaded: Int, keysExpired: Int) {
        baseSequence.store(sequence, ordering: .relaxed)
        let changes = engine.changeCount()
        state.withLock {
            $0.lastLoadKeysLoaded = keysLoaded
            $0.lastLoadKeysExpired = keysExpired
            $0.changesAtLastSave = changes
        }
    }

    // MARK: Saving

    /// SAVE: takes a snapshot on the calling thread (other clients keep being served) and returns once it is
    /// durable.
    /// - Throws: ``StartError/alreadyInProgress`` if a save is running; the save's error if it fails.
    public func save() throws {
        try begin()
        try run()
    }

    /// BGSAVE: starts a snapshot on a background thread and returns at once.
    /// - Throws: ``StartError/alreadyInProgress`` if a save is running.
    public func saveInBackground() throws(StartError) {
        try begin()
        let box = Unmanaged.passRetained(self)
        var handle = pthread_t()
        let result = pthread_create(&handle, nil, { argument in
            let snapshotter = Unmanaged<Snapshotter>.fromOpaque(argument!).takeRetainedValue()
            nameCurrentThread("neptune-save")
            try? snapshotter.run(background: true)
            return nil
        }, box.toOpaque())
        if result != 0 {
            box.release()
            logger.error("could not start the background save thread", metadata: ["errno": "\(result)"])
            finish(capture: nil, error: FileSystemError("pthread_create", configuration.path, errno: result))
            return
        }
        pthread_detach(handle)
    }

    /// Waits until no save is running.
    public func waitUntilIdle() {
        pthread_mutex_lock(finishedMutex)
        while !idle.withLock({ $0 }) { pthread_cond_wait(finished, finishedMutex) }
        pthread_mutex_unlock(finishedMutex)
    }

    /// Starts a background save if one of the `save` rules (`seconds`, `changes`) is met, as Redis's serverCron:
    /// at least `changes` changes and `seconds` since the last save; after a failed save, retries wait 5 s.
    /// - Returns: Whether a save was started.
    @discardableResult
    public func checkRules(_ rules: [(seconds: Int, changes: Int)], now: Int64) -> Bool {
        guard !rules.isEmpty else { return false }
        let status = state.withLock { $0 }
        guard !status.inProgress else { return false }
        let changes = max(0, engine.changeCount() - status.changesAtLastSave)
        let sinceSave = now / 1000 - status.lastSaveTime
        let retryAllowed = status.lastSaveSucceeded || now - status.lastAttempt > 5000
        for rule in rules where changes >= rule.changes && sinceSave > rule.seconds && retryAllowed {
            logger.notice("\(rule.changes) changes in \(rule.seconds) seconds. Saving...")
            do {
                try saveInBackground()
                return true
            } catch {
                return false
            }
        }
        return false
    }

    private func begin() throws(StartError) {
        let now = engine.clock.milliseconds()
        try state.withLock { (s: inout Status) throws(StartError) in
            if s.inProgress { throw .alreadyInProgress }
            s.inProgress = true
            s.currentStart = now
            s.lastAttempt = now
            s.saves += 1
        }
        idle.withLock { $0 = false }
    }

    /// Captures, writes and installs one snapshot (after ``begin()``); `background` for BGSAVE and the save rules.
    private func run(background: Bool = false) throws {
        let path = configuration.path
        let temporary = configuration.temporaryPath
        var newSegmentIndex: Int? = nil
        let journal = self.journal
        var indexDefinitions: [[[UInt8]]] = []
        let capture = engine.beginCapture {
            // Index definitions as of the capture point (every shard is locked here).
            indexDefinitions = engine.searchIndexDefinitions()
            guard let journal else { return baseSequence.load(ordering: .relaxed) }
            let index = Self.segmentIndex(journal.path) + 1
            newSegmentIndex = index
            return journal.startSegment(JournalRecovery.segmentPath(directory: configuration.journalDirectory, index: index))
        }
        running.withLock { $0 = capture }
        state.withLock { $0.currentKeysTotal = capture.keyCount }
        do {
            try? fileSystem.remove(temporary)
            let file = try fileSystem.openForAppend(temporary)
            defer { file.close() }
            var metadata = SnapshotMetadata(
                sequence: capture.sequence,
                keyCount: UInt64(capture.keyCount),
                createdAt: capture.createdAt,
                databases: UInt32(capture.databases)
            )
            metadata.indexDefinitions = indexDefinitions
            for (db, keys) in capture.keysPerDatabase.enumerated() where keys > 0 {
                metadata.databaseKeys[db] = UInt64(keys)
            }
            let writer = try SnapshotWriter(file: file, path: temporary, metadata: metadata)
            try write(capture, to: writer, lowPriority: background)
            guard capture.keysCaptured == capture.keyCount else {
                throw SnapshotError(
                    path: temporary,
                    offset: writer.bytesWritten,
                    reason: "captured \(capture.keysCaptured) keys where \(capture.keyCount) were counted"
                )
            }
            try writer.finish(recordCount: UInt64(capture.keyCount))
            file.close()
            try fileSystem.rename(temporary, path)
            try fileSystem.syncDirectory(configuration.directory)
        } catch {
            capture.cancel()
            try? fileSystem.remove(temporary)
            finish(capture: capture, error: error)
            throw error
        }
        capture.releaseBuffers()
        // The snapshot is durable: the journal before S is no longer needed.
        deleteCoveredSegments(newSegmentIndex: newSegmentIndex)
        finish(capture: capture, error: nil)
    }

    /// Writes every shard of `capture`. For a background save with capture helpers (the event loops) registered,
    /// the helpers copy, serialize and compress (``writeAssisted(_:encoder:)``). Otherwise this thread copies the
    /// shards in slices (the only work done under their locks) and a second thread serializes, compresses and
    /// writes them (see ``ShardPipeline``), at the lowest priority for a background save.
    private func write(_ capture: KeyspaceCapture, to writer: SnapshotWriter, lowPriority: Bool) throws {
        if lowPriority {
            // A background save: the event loops copy, serialize and compress, the writing thread only writes.
            let encoder = StepEncoder(
                capture: capture, writer: writer,
                stallNanoseconds: encoderStallNanoseconds
            )
            capture.helperWork = { [encoder] budget in encoder.step(budgetNanoseconds: budget, onLoop: true) }
            if capture.enableHelpers() {
                defer { capture.disableHelpers() }
                try writeAssisted(capture, encoder: encoder)
                return
            }
            capture.helperWork = nil
        }
        let pipeline = ShardPipeline(depth: 2)
        let handoff = ShardPipeline.Handoff(writer)
        let thread = try ShardPipeline.startThread(name: "neptune-snapio", lowPriority: lowPriority) {
            var out: [UInt8] = []
            out.reserveCapacity((1 << 20) + (1 << 16))
            do {
                while let shard = pipeline.next() {
                    try capture.serialize(shard, into: &out) { try handoff.value.write($0) }
                    pipeline.finished(shard)
                }
                if pipeline.error == nil { try handoff.value.write(out) }
            } catch {
                pipeline.fail(error)
            }
        }
        try feed(capture, to: pipeline, thread: thread, assisted: false)
    }

    /// ``write(_:to:lowPriority:)`` with the event loops' help (``KeyspaceCapture/helperWork``): they copy the shards
    /// this thread releases, and serialize and compress the copies this thread hands to `encoder` (see
    /// ``StepEncoder``); a thread at the lowest priority writes the compressed bytes.
    private func writeAssisted(_ capture: KeyspaceCapture, encoder: StepEncoder) throws {
        let thread = try ShardPipeline.startThread(name: "neptune-snapio", lowPriority: true) {
            encoder.runWriter()
        }
        try feed(capture, to: encoder, thread: thread, assisted: true)
    }

    /// Takes every shard of `capture` in turn (copied by this thread, or by the helpers when `assisted`) and hands
    /// it to `sink`, recycling the copies the sink is done with; then closes the sink, joins its `thread` and throws
    /// the first error of either side.
    private func feed(_ capture: KeyspaceCapture, to sink: some ShardSink, thread: pthread_t, assisted: Bool) throws {
        var failure: (any Error)? = nil
        do {
            for index in 0..<Engine.shardCount {
                // Finished shards end their capture (commands on them stop checking) and lend their buffers.
                for shard in sink.takeFinished() { capture.recycle(shard) }
                guard let shard = capture.take(index, assisted: assisted) else { continue }
                try sink.put(shard)
            }
        } catch {
            failure = error
        }
        sink.close()
        pthread_join(thread, nil)
        for shard in sink.takeFinished() { capture.recycle(shard) }
        if let error = failure ?? sink.error { throw error }
    }

    private func finish(capture: KeyspaceCapture?, error: (any Error)?) {
        let now = engine.clock.milliseconds()
        running.withLock { $0 = nil }
        state.withLock { s in
            s.inProgress = false
            s.lastSaveSucceeded = error == nil
            s.lastBackgroundDuration = Int((now - s.currentStart + 500) / 1000)
            s.currentKeysTotal = 0
            s.currentKeysProcessed = 0
            if let capture, error == nil {
                s.lastSaveTime = now / 1000
                s.changesAtLastSave = capture.changesAtCapture
                s.lastLongestPauseNanoseconds = capture.longestShardCaptureNanoseconds
                s.lastEncodeStepsByHelpers = capture.workStepsByHelpers
                s.lastEncodeStepsByThread = capture.workStepsByThread
            }
        }
        if let error {
            logger.error("snapshot failed", metadata: ["file": "\(configuration.path)", "error": "\(error)"])
        } else if let capture {
            logger.notice(
                "DB saved on disk",
                metadata: [
                    "file": "\(configuration.path)", "keys": "\(capture.keyCount)", "sequence": "\(capture.sequence)",
                    "milliseconds": "\(now - capture.createdAt)",
                    "longest-pause-us": "\(capture.longestShardCaptureNanoseconds / 1000)",
                    "longest-slice-us": "\(capture.longestSliceNanoseconds / 1000)",
                    "longest-command-pause-us": "\(capture.longestCommandPauseNanoseconds / 1000)",
                    "slices": "\(capture.slices)",
                    "locked-us": "\(capture.lockedNanoseconds / 1000)",
                    "copied-mb": "\(capture.bytesCopied >> 20)",
                    "keys-taken-by-commands": "\(capture.keysTakenByCommands)",
                    "shards-finished-by-commands": "\(capture.shardsFinishedByCommands)",
                    "slices-by-helpers": "\(capture.slicesByHelpers)",
                    "slices-by-fallback": "\(capture.slicesByFallback)",
                    "encode-steps-by-helpers": "\(capture.workStepsByHelpers)",
                    "encode-steps-by-thread": "\(capture.workStepsByThread)",
                ]
            )
        }
        pthread_mutex_lock(finishedMutex)
        idle.withLock { $0 = true }
        pthread_cond_broadcast(finished)
        pthread_mutex_unlock(finishedMutex)
    }

    /// Deletes the journal segments before `newSegmentIndex` (all their records are ≤ S). Without a journal every
    /// segment is stale (the snapshot is newer than all of them) and goes too.
    private func deleteCoveredSegments(newSegmentIndex: Int?) {
        let directory = configuration.journalDirectory
        var newSegmentIndex = newSegmentIndex
        if let limit = newSegmentIndex, let journal {
            // The writer thread switches segments at its next round; until it has, the old segment stays.
            var waited = 0
            while Self.segmentIndex(journal.path) < limit && waited < 5000 && journal.acceptsWrites {
                usleep(1000)
                waited += 1
            }
            if Self.segmentIndex(journal.path) < limit { newSegmentIndex = limit - 1 }
        }
        let segments: [String]
        do {
            segments = try JournalRecovery.segments(in: directory, fileSystem: fileSystem)
        } catch {
            logger.warning("cannot list journal segments", metadata: ["error": "\(error)"])
            return
        }
        var removed = 0
        for segment in segments {
            if let limit = newSegmentIndex, Self.segmentIndex(segment) >= limit { continue }
            do {
                try fileSystem.remove(segment)
                removed += 1
            } catch {
                logger.warning("cannot delete a journal segment", metadata: ["file": "\(segment)", "error": "\(error)"])
            }
        }
        if removed > 0 {
            try? fileSystem.syncDirectory(directory)
            logger.info("deleted journal segments covered by the snapshot", metadata: ["segments": "\(removed)"])
        }
    }

    /// The number in a segment's name (`journal.00000042` → 42).
    static func segmentIndex(_ path: String) -> Int {
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return Int(name.dropFirst("journal.".count)) ?? 0
    }
}
