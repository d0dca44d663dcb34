import Dispatch
public import Logging
public import NeptuneCache
import Synchronization

extension NeptuneStore {
    /// How a durable store keeps its data: the server's persistence options, under the same names.
    public struct DurabilityOptions: Sendable {
        /// `appendonly`: journal every write (replayed at open after the snapshot). Without it only snapshots
        /// keep data, as Redis keeps only its RDB file.
        public var appendonly: Bool
        /// `appendfsync`: under ``Journal/FsyncPolicy/always`` a write returns only once it is on stable storage
        /// (concurrent writers share fsyncs); under `everysec` and `no` once it is written to the journal file, and
        /// at most about a second of writes (`everysec`) can be lost on power loss; under `no` the operating system
        /// decides when data reaches the disk.
        public var appendfsync: Journal.FsyncPolicy
        /// `appenddirname`: the journal's directory inside the data directory.
        public var appendDirectoryName: String
        /// `dbfilename`: the snapshot's file name inside the data directory.
        public var snapshotFileName: String
        /// `save`: take a snapshot in the background once `changes` writes happened and `seconds` passed since the
        /// last one (Redis's default rules; empty for none). Checked once a second.
        public var save: [(seconds: Int, changes: Int)]
        /// Take a snapshot in ``NeptuneStore/close()`` (as SHUTDOWN does when save rules are set).
        public var saveOnClose: Bool
        /// `databases`: how many databases the store has.
        public var databases: Int
        /// The file layer (tests pass a fault-injecting one).
        public var fileSystem: any DurableFileSystem

        /// The server's defaults: `appendonly yes` (the server's default is no; a durable store wants the journal),
        /// `appendfsync everysec`, `appenddirname appendonlydir`, `dbfilename dump.nsnap`,
        /// `save 3600 1 300 100 60 10000`, a snapshot at close when save rules are set, 16 databases.
        public init(
            appendonly: Bool = true,
            appendfsync: Journal.FsyncPolicy = .everysec,
            appendDirectoryName: String = "appendonlydir",
            snapshotFileName: String = SnapshotFormat.defaultFileName,
            save: [(seconds: Int, changes: Int)] = [(3600, 1), (300, 100), (60, 10_000)],
            saveOnClose: Bool? = nil,
            databases: Int = 16,
            fileSystem: any DurableFileSystem = PosixFileSystem()
        ) {
            self.appendonly = appendonly
            self.appendfsync = appendfsync
            self.appendDirectoryName = appendDirectoryName
            self.snapshotFileName = snapshotFileName
            self.save = save
            self.saveOnClose = saveOnClose ?? !save.isEmpty
            self.databases = databases
            self.fileSystem = fileSystem
        }
    }

    /// What keeps an opened store durable: its snapshotter, its journal and the save-rule timer.
    final class Durability: Sendable {
        let snapshotter: Snapshotter
        let journal: Journal?
        let rules: [(seconds: Int, changes: Int)]
        let saveOnClose: Bool
        let closed = Atomic<Bool>(false)
        let logger: Logger

        init(snapshotter: Snapshotter, journal: Journal?, options: DurabilityOptions, logger: Logger) {
            self.snapshotter = snapshotter
            self.journal = journal
            self.rules = options.save
            self.saveOnClose = options.saveOnClose
            self.logger = logger
        }

        func scheduleRuleCheck() {
            guard !rules.isEmpty else { return }
            DispatchQueue.global().asyncAfter(deadline: .now() + 1) {
                guard !self.closed.load(ordering: .relaxed) else { return }
                self.snapshotter.checkRules(self.rules, now: self.snapshotter.engine.clock.milliseconds())
                self.scheduleRuleCheck()
            }
        }

        func close() {
            guard !closed.exchange(true, ordering: .relaxed) else { return }
            snapshotter.waitUntilIdle()
            if saveOnClose {
                do {
                    try snapshotter.save()
                } catch {
                    logger.error("the snapshot at close failed", metadata: ["error": "\(error)"])
                }
            }
            journal?.close()
        }
    }

    /// Opens a durable store on `directory`: loads its snapshot and replays the journal records after it (as
    /// `neptune-server` does at start), then journals every write and takes snapshots by the save rules. Call
    /// ``NeptuneStore/close()`` when done.
    ///
    /// Writes are acknowledged as a server acknowledges them under `options.appendfsync`: under `always`, `set`,
    /// `increment`, `delete` and `execute` of a write command return only after the change is on stable storage,
    /// so they block the calling thread for an fsync (call them off event loops); many threads writing at once
    /// share fsyncs. Under `everysec` and `no` they return once the change is written to the journal file (one
    /// `write` into the page cache, made on the calling thread and shared with the other threads' pending
    /// changes): a crash of the process loses no write that returned, a power loss up to about a second of them
    /// under `everysec`. If the journal fails (a full or failing disk), the write that hit the failure and every
    /// later one throw Redis's `MISCONF` error (`delete` and `flush` report it as an error reply through
    /// ``NeptuneStore/execute(_:db:)``), and reads keep working.
    ///
    /// ```swift
    /// let store = try NeptuneStore.open(directory: "/var/lib/myapp", options: .init(appendfsync: .always))
    /// try store.set("greeting", "hello")   // on disk when this returns
    /// store.close()
    /// ```
    /// - Parameters:
    ///   - directory: The data directory (created if missing).
    ///   - options: Persistence options.
    ///   - clock: The time source for expiry.
    ///   - logger: Where recovery, snapshots and journal failures are logged (nothing is logged if nil).
    /// - Throws: ``JournalRecovery/Failure`` when the snapshot or the journal is damaged (naming the file and
    ///   offset) or the directory cannot be used; the store is never opened empty or partial instead.
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
        let engine = Engine(databases: options.databases, clock: clock)
        let snapshotter = Snapshotter(
            configuration: .init(
                directory: directory,
                fileName: options.snapshotFileName,
                journalDirectory: "\(directory)/\(options.appendDirectoryName)"
            ),
            engine: engine,
            fileSystem: fileSystem,
            logger: logger
        )
        let journal: Journal?
        do {
            journal = try snapshotter.start(appendonly: options.appendonly, appendfsync: options.appendfsync).journal
        } catch {
            throw JournalRecovery.Failure(description: error.description)
        }
        let durability = Durability(snapshotter: snapshotter, journal: journal, options: options, logger: logger)
        durability.scheduleRuleCheck()
        return NeptuneStore(engine: engine, persistence: durability, onClose: { durability.close() })
    }

    /// SAVE: takes a snapshot of a durable store now (other threads keep using the store) and returns once it is
    /// durable; the journal segments it covers are deleted.
    /// - Throws: If the store was not opened durably, a save is already running, or the save fails.
    public func saveSnapshot() throws {
        guard let durability = persistence as? Durability else {
            throw CommandError("ERR this store was not opened on a directory")
        }
        try durability.snapshotter.save()
    }
}
