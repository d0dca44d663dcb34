import ArgumentParser
import Logging
import NIOCore
import NIOPosix
import NeptuneCache
import NeptuneServer
import NeptuneSnapshot
import ServiceLifecycle
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
            --threads N sets the number of event loops (default: one per core).
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
        let loopCount = threads ?? System.coreCount
        let group = MultiThreadedEventLoopGroup(numberOfThreads: loopCount)

        let engine = Engine(databases: config.databases)
        let state = ServerState(engine: engine, config: config)
        state.registerServerCommands()
        if config.appendonly {
            // Recover before accepting clients; a damaged journal stops the start (never an empty start).
            let directory = "\(config.dir)/\(config.appenddirname)"
            let fileSystem = PosixFileSystem()
            do {
                let report = try JournalRecovery.recover(
                    directory: directory,
                    fileSystem: fileSystem,
                    engine: engine,
                    logger: logger
                )
                let policy = Journal.FsyncPolicy(rawValue: config.appendfsync.rawValue) ?? .everysec
                let journal = try Journal(
                    path: report.activeSegment,
                    fileSystem: fileSystem,
                    policy: policy,
                    nextSequence: report.nextSequence,
                    logger: logger
                )
                engine.attachJournal(journal)
                state.journal = journal
                logger.notice(
                    "journal ready",
                    metadata: ["file": "\(report.activeSegment)", "appendfsync": "\(policy.rawValue)",
                               "keys": "\(engine.keyCount(db: 0))"]
                )
            } catch {
                FileHandleOutput.standardError("Fatal error loading the journal: \(error)\n")
                try? await group.shutdownGracefully()
                throw ExitCode(1)
            }
        }
        logger.notice(
            "Neptune starting",
            metadata: ["pid": "\(getpid())", "event-loops": "\(loopCount)", "port": "\(config.port)"]
        )

        let server = NeptuneServerService(state: state, group: group, logger: logger)
        let cron = ServerCronService(state: state, logger: logger)
        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [.init(service: server), .init(service: cron)],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        state.onShutdown { _ in
            Task { await serviceGroup.triggerGracefulShutdown() }
        }
        do {
            try await serviceGroup.run()
        } catch {
            logger.error("server stopped with an error", metadata: ["error": "\(error)"])
            state.journal?.close()
            try? await group.shutdownGracefully()
            throw ExitCode(1)
        }
        state.journal?.close()
        try? await group.shutdownGracefully()
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

enum FileHandleOutput {
    static func standardError(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
