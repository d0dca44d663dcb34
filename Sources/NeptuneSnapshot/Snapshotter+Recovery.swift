import Logging
import NeptuneCache

extension Snapshotter {
    /// What start-up recovery found.
    public struct RecoveryReport: Sendable {
        /// The snapshot loaded, if there was one.
        public var snapshot: SnapshotReader.Report?
        /// The journal replayed, with `appendonly yes`.
        public var journal: JournalRecovery.Report?
        /// Keys dropped because they had expired.
        public var keysExpired: Int
        /// The sequence number the next journal record must carry.
        public var nextSequence: UInt64
    }

    /// Why the server must not start: the file, offset and reason are in the text.
    public struct RecoveryFailure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Rebuilds the keyspace at start: the snapshot (if any), then, with a journal, every journal record after the
    /// snapshot's sequence number; keys that expired meanwhile are dropped at the end. The engine is marked loading
    /// throughout (the caller clears the flag once the journal is attached).
    ///
    /// A damaged snapshot or journal throws: the server must refuse to start rather than serve a partial dataset.
    /// - Parameters:
    ///   - journal: Whether the journal is on (`appendonly yes`); without it the snapshot alone is loaded, as Redis
    ///     loads only its RDB file.
    ///   - progress: Updated while loading (INFO's loading fields).
    public func recover(journal: Bool, progress: LoadingProgress? = nil) throws(RecoveryFailure) -> RecoveryReport {
        engine.isLoading = true
        try? fileSystem.remove(configuration.temporaryPath)
        let path = configuration.path
        var snapshot: SnapshotReader.Report? = nil
        let segments = (try? JournalRecovery.segments(in: configuration.journalDirectory, fileSystem: fileSystem)) ?? []
        if let progress {
            progress.startTime = engine.clock.milliseconds() / 1000
            var total = fileSystem.fileSize(path) ?? 0
            if journal { total += segments.reduce(0) { $0 + (fileSystem.fileSize($1) ?? 0) } }
            progress.totalBytes = total
        }
        if fileSystem.fileExists(path) {
            logger.notice("loading the snapshot", metadata: ["file": "\(path)"])
            do {
                snapshot = try SnapshotReader.load(path: path, fileSystem: fileSystem, engine: engine, progress: progress)
            } catch {
                throw RecoveryFailure(description: "\(error)")
            }
            let definitions = snapshot!.metadata.indexDefinitions
            if !definitions.isEmpty {
                // Index contents are not stored: rebuild them from the loaded hashes.
                let started = engine.clock.milliseconds()
                do {
                    try engine.restoreSearchIndexes(definitions)
                } catch {
                    throw RecoveryFailure(description: "\(path): index definition refused: \(error)")
                }
                logger.notice(
                    "secondary indexes rebuilt",
                    metadata: ["indexes": "\(definitions.count)", "milliseconds": "\(engine.clock.milliseconds() - started)"]
                )
            }
            logger.notice(
                "snapshot loaded",
                metadata: [
                    "file": "\(path)", "keys": "\(snapshot!.keysLoaded)", "sequence": "\(snapshot!.metadata.sequence)",
                ]
            )
        }
        let sequence = snapshot?.metadata.sequence ?? 0
        var journalReport: JournalRecovery.Report? = nil
        if journal {
            do {
                journalReport = try JournalRecovery.recover(
                    directory: configuration.journalDirectory,
                    fileSystem: fileSystem,
                    engine: engine,
                    logger: logger,
                    afterSequence: sequence,
                    purgeExpired: false
                )
            } catch {
                throw RecoveryFailure(description: "\(error)")
            }
        } else if !segments.isEmpty {
            logger.warning(
                "appendonly is no: the journal segments are not loaded (the next snapshot deletes them)",
                metadata: ["directory": "\(configuration.journalDirectory)", "segments": "\(segments.count)"]
            )
        }
        progress?.loadedBytes = progress?.totalBytes ?? 0
        let expired = engine.purgeExpired()
        let next = journalReport?.nextSequence ?? (sequence &+ 1)
        recordLoad(sequence: next &- 1, keysLoaded: snapshot?.keysLoaded ?? 0, keysExpired: expired)
        return RecoveryReport(snapshot: snapshot, journal: journalReport, keysExpired: expired, nextSequence: next)
    }
}

extension Snapshotter {
    /// A recovered keyspace, ready to serve: what recovery found and the journal new writes go to.
    public struct Start: Sendable {
        /// What recovery found.
        public var report: RecoveryReport
        /// The journal, open on the active segment and attached to the engine and the snapshotter (nil with
        /// `appendonly no`).
        public var journal: Journal?
    }

    /// Start-up, the same for `neptune-server` and ``NeptuneStore/open(directory:options:clock:logger:)``: rebuilds
    /// the keyspace (``recover(journal:progress:)``: the snapshot, the journal records after it, the secondary
    /// indexes), opens the journal on its active segment with `appendfsync`, attaches it to this snapshotter and
    /// the engine, lets `beforeServing` wire it further, and only then ends the loading state, so no write is
    /// served before everything that must see it is in place.
    /// - Parameters:
    ///   - appendonly: Journal every write (`appendonly yes`); without it only the snapshot is loaded.
    ///   - appendfsync: When the journal makes writes durable.
    ///   - progress: Updated while loading (INFO's loading fields).
    ///   - beforeServing: Runs with the journal (nil with `appendonly no`) while the engine still answers
    ///     `-LOADING`.
    /// - Throws: ``RecoveryFailure`` when the snapshot or the journal is damaged (naming the file and offset) or
    ///   the journal cannot be opened; the engine then stays loading and must not be served.
    @discardableResult
    public func start(
        appendonly: Bool,
        appendfsync: Journal.FsyncPolicy,
        progress: LoadingProgress? = nil,
        beforeServing: (Journal?) -> Void = { _ in }
    ) throws(RecoveryFailure) -> Start {
        let report = try recover(journal: appendonly, progress: progress)
        var journal: Journal? = nil
        if appendonly, let journalReport = report.journal {
            do {
                journal = try Journal(
                    path: journalReport.activeSegment,
                    fileSystem: fileSystem,
                    policy: appendfsync,
                    nextSequence: report.nextSequence,
                    logger: logger
                )
            } catch {
                throw RecoveryFailure(description: "cannot open the journal: \(error)")
            }
            attach(journal: journal)
            engine.attachJournal(journal)
            logger.notice(
                "journal ready",
                metadata: ["file": "\(journalReport.activeSegment)", "appendfsync": "\(appendfsync.rawValue)"]
            )
        }
        beforeServing(journal)
        engine.isLoading = false
        return Start(report: report, journal: journal)
    }
}
