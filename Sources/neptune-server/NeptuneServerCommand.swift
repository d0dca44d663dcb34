import ArgumentParser
import Dispatch
import Logging
import NIOCore
import NeptuneCache
import NeptuneServer
import NeptuneSnapshot
import ServiceLifecycle
import Synchronization
import UnixSignals

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `neptune-server [config-file] [--name value ...]`: starts Neptune the way `redis-server` is started.
@main
struct NeptuneServerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neptune-server",
        abstract: "A durable, Redis-compatible in-memory cache.",
        discussion: """
            Arguments follow redis-server: an optional configuration file in redis.conf syntax, then any \
            configuration key as --name value (for example --port 7000 --dir /var/lib/neptune). \
            With no arguments the server listens on 127.0.0.1:6379 with its data directory in the current folder. \
            --threads N sets the number of event loops (default: one per two cores, at least one).
            """,
        version: "neptune 0.1.0 (Redis 7.0.15 compatible)"
    )

    @Argument(parsing: .captureForPassthrough, help: "[config-file] [--name value ...]")
    var arguments: [String] = []

    mutating func run() async throws {
        var configArguments: [String] = []
        var threads: Int?
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "--help" || argument == "-h" {
                print(Self.helpMessage())
                return
            }
            if argument == "--version" || argument == "-v" {
                print(Self.configuration.version)
                return
            }
            if argument == "--threads", index + 1 < arguments.count, let n = Int(arguments[index + 1]), n > 0 {
                threads = n
                index += 2
                continue
            }
            configArguments.append(argument)
            index += 1
        }

        let config: ConfigStore
        do {
            config = try ConfigStore.load(arguments: configArguments)
        } catch {
            FileHandleOutput.standardError("\(error)\n")
            throw ExitCode(1)
        }

        var logger = Logger(label: "neptune")
        logger.logLevel = Self.logLevel(config.get("loglevel") ?? "notice")

        if let threadsConfig = threads {
            threads = threadsConfig
        } else if config.ioThreads > 1 {
            threads = config.ioThreads
        }
        let loopCount = threads ?? NeptuneServerService.defaultEventLoopCount(cores: System.coreCount)

        let engine = Engine(databases: config.databases)
        let state = ServerState(engine: engine, config: config)
        state.registerServerCommands()
        // Load the snapshot and the journal on a thread of its own while the server already accepts connections
        // (commands get -LOADING meanwhile, as Redis answers); damage stops the process, naming file and offset.
        let fileSystem = PosixFileSystem()
        let snapshotter = Snapshotter(
            configuration: .init(
                directory: config.dir,
                fileName: config.dbfilename,
                journalDirectory: "\(config.dir)/\(config.appenddirname)"
            ),
            engine: engine,
            fileSystem: fileSystem,
            logger: logger
        )
        state.snapshotter = snapshotter
        engine.isLoading = true
        let loader = Loader(state: state, snapshotter: snapshotter, logger: logger)
        DispatchQueue.global().async { loader.run() }
        DispatchQueue.global().async { loader.logProgress() }
        logger.notice(
            "Neptune starting",
            metadata: ["pid": "\(getpid())", "event-loops": "\(loopCount)", "port": "\(config.port)"]
        )

        let server = NeptuneServerService(state: state, eventLoops: loopCount, logger: logger)
        let cron = ServerCronService(state: state, logger: logger)
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: server), .init(service: cron)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        let shutdownRequest = Mutex<ServerState.ShutdownRequest?>(nil)
        state.onShutdown { request in
            shutdownRequest.withLock { $0 = request }
            Task { await serviceGroup.triggerGracefulShutdown() }
        }
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("server stopped with an error", metadata: ["error": "\(error)"])
            state.journal?.close()
            throw ExitCode(1)
        }
        // SHUTDOWN SAVE always saves, SHUTDOWN NOSAVE never; otherwise (and on SIGTERM) save when `save` rules are
        // configured, as Redis does.
        let request = shutdownRequest.withLock { $0 }
        let wantsSave = request?.save ?? !config.saveRules.isEmpty
        var saveFailed = false
        if wantsSave && !engine.isLoading {
            snapshotter.waitUntilIdle()
            logger.notice("Saving the final snapshot before exiting.")
            do {
                try snapshotter.save()
            } catch {
                logger.error("Error trying to save the DB", metadata: ["error": "\(error)"])
                saveFailed = true
            }
        } else {
            snapshotter.waitUntilIdle()
        }
        state.journal?.close()
        if saveFailed { throw ExitCode(1) }
        logger.notice("Neptune is now ready to exit, bye bye...")
    }

    static func logLevel(_ name: String) -> Logger.Level {
        switch name.lowercased() {
        case "debug": .debug
        case "verbose": .info
        case "notice": .notice
        case "warning": .warning
        case "nothing": .critical
        default: .notice
        }
    }
}

/// Loads the snapshot and journal at start (``Snapshotter/start(appendonly:appendfsync:progress:beforeServing:)``,
/// shared with the embedded `NeptuneStore.open`), hands the journal to the server state and ends the loading state.
struct Loader: Sendable {
    let state: ServerState
    let snapshotter: Snapshotter
    let logger: Logger

    /// Logs the loading progress once a second until loading ends.
    func logProgress() {
        var ticks = 0
        while state.engine.isLoading {
            usleep(100_000)
            ticks += 1
            guard ticks % 10 == 0, state.engine.isLoading else { continue }
            let progress = state.loadingProgress
            logger.notice(
                "loading",
                metadata: [
                    "loaded-bytes": "\(progress.loadedBytes)", "total-bytes": "\(progress.totalBytes)",
                    "keys": "\(progress.keysLoaded)",
                ]
            )
        }
    }

    func run() {
        let config = state.config
        let engine = state.engine
        let started = ContinuousClock.now
        do {
            let policy = Journal.FsyncPolicy(rawValue: config.appendfsync.rawValue) ?? .everysec
            let report = try snapshotter.start(
                appendonly: config.appendonly,
                appendfsync: policy,
                progress: state.loadingProgress
            ) { journal in
                // Replies must wait for the journal (appendfsync always) from the first write on.
                state.journal = journal
            }.report
            let elapsed = ContinuousClock.now - started
            logger.notice(
                "DB loaded from disk",
                metadata: [
                    "seconds": "\(elapsed)",
                    "keys": "\(engine.keyspaceSummary().reduce(0) { $0 + $1.keys })",
                    "snapshot-keys": "\(report.snapshot?.keysLoaded ?? 0)",
                    "journal-records": "\(report.journal?.records ?? 0)",
                    "expired": "\(report.keysExpired)",
                ]
            )
        } catch {
            FileHandleOutput.standardError("Fatal error loading the data: \(error)\n")
            exit(1)
        }
    }
}

enum FileHandleOutput {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
