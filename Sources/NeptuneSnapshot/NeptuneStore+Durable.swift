public import Logging
public import NeptuneCache

extension NeptuneStore {
    /// How a durable store keeps its data: the server's persistence options, under the same names.
    public struct DurabilityOptions: Sendable {
        /// `appendfsync`: under ``Journal/FsyncPolicy/always`` a write returns only once it is on stable storage
        /// (concurrent writers share fsyncs); under `everysec` at most about a second of writes can be lost on
        /// power loss; under `no` the operating system decides when data reaches the disk.
        public var appendfsync: Journal.FsyncPolicy
        /// `appenddirname`: the journal's directory inside the data directory.
        public var appendDirectoryName: String
        /// `databases`: how many databases the store has.
        public var databases: Int
        /// The file layer (tests pass a fault-injecting one).
        public var fileSystem: any DurableFileSystem

        /// The server's defaults: `appendfsync everysec`, `appenddirname appendonlydir`, 16 databases.
        public init(
            appendfsync: Journal.FsyncPolicy = .everysec,
            appendDirectoryName: String = "appendonlydir",
            databases: Int = 16,
            fileSystem: any DurableFileSystem = PosixFileSystem()
        ) {
            self.appendfsync = appendfsync
            self.appendDirectoryName = appendDirectoryName
            self.databases = databases
            self.fileSystem = fileSystem
        }
    }

    /// Opens a durable store on `directory`: replays its journal (as `neptune-server --appendonly yes` does at
    /// start), then journals every write. Call ``NeptuneStore/close()`` when done.
    ///
    /// Writes are acknowledged as `options.appendfsync` promises: under `always`, `set`, `increment`, `delete`
    /// and `execute` of a write command return only after the change is on stable storage, so they block the
    /// calling thread for an fsync (call them off event loops); many threads writing at once share fsyncs.
    /// If the journal fails (a full or failing disk), writes throw Redis's `MISCONF` error and reads keep working.
    ///
    /// ```swift
    /// let store = try NeptuneStore.open(directory: "/var/lib/myapp", options: .init(appendfsync: .always))
    /// try store.set("greeting", "hello")   // on disk when this returns
    /// store.close()
    /// ```
    /// - Parameters:
    ///   - directory: The data directory (created if missing); the journal lives in its `appendDirectoryName`.
    ///   - options: Persistence options.
    ///   - clock: The time source for expiry.
    ///   - logger: Where recovery and journal failures are logged (nothing is logged if nil).
    /// - Throws: ``JournalRecovery/Failure`` when the journal is damaged (naming the file and offset) or the
    ///   directory cannot be used; the store is never opened empty or partial instead.
    public static func open(
        directory: String,
        options: DurabilityOptions = DurabilityOptions(),
        clock: any NeptuneClock = SystemClock(),
        logger: Logger? = nil
    ) throws(JournalRecovery.Failure) -> NeptuneStore {
        let logger = logger ?? Logger(label: "neptune", factory: { _ in SwiftLogNoOpLogHandler() })
        let fileSystem = options.fileSystem
        do {
            try fileSystem.createDirectory(directory)
        } catch {
            throw JournalRecovery.Failure(description: "cannot create the data directory: \(error)")
        }
        let journalDirectory = "\(directory)/\(options.appendDirectoryName)"
        let engine = Engine(databases: options.databases, clock: clock)
        let report = try JournalRecovery.recover(
            directory: journalDirectory, fileSystem: fileSystem, engine: engine, logger: logger
        )
        let journal: Journal
        do {
            journal = try Journal(
                path: report.activeSegment,
                fileSystem: fileSystem,
                policy: options.appendfsync,
                nextSequence: report.nextSequence,
                logger: logger
            )
        } catch {
            throw JournalRecovery.Failure(description: "cannot open the journal: \(error)")
        }
        engine.attachJournal(journal)
        return NeptuneStore(engine: engine)
    }
}
