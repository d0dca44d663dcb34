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
