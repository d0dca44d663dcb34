import Logging
import NIOCore
import NIOPosix
import NeptuneCache
import NeptuneServer
import NeptuneSnapshot

/// A neptune server on 127.0.0.1 and a port the system picks, served in-process for one test.
struct RunningServer {
    let state: ServerState
    let address: SocketAddress
    let task: Task<Void, any Error>

    /// Starts serving and returns once the listener is bound.
    /// - Parameters:
    ///   - options: Configuration flags after `--port 0 --bind 127.0.0.1`.
    ///   - engine: The engine to serve.
    ///   - journal: A journal to attach to the engine and the server; the configuration then has `appendonly yes`
    ///     and the journal's `appendfsync` policy.
    static func start(_ options: [String] = [], engine: Engine = Engine(), journal: Journal? = nil)
        async throws -> RunningServer
    {
        let journaling = journal.map { ["--appendonly", "yes", "--appendfsync", $0.policy.rawValue] } ?? []
        let config = try ConfigStore.load(arguments: ["--port", "0", "--bind", "127.0.0.1"] + journaling + options)
        let state = ServerState(engine: engine, config: config)
        state.registerServerCommands()
        if let journal {
            engine.attachJournal(journal)
            state.journal = journal
        }
        let (ready, continuation) = AsyncStream.makeStream(of: SocketAddress.self)
        let service = NeptuneServerService(
            state: state,
            eventLoops: 2,
            logger: Logger(label: "neptune-test"),
            onReady: { addresses in
                if let first = addresses.first { continuation.yield(first) }
                continuation.finish()
            }
        )
        let task = Task { try await service.run() }
        var iterator = ready.makeAsyncIterator()
        guard let address = await iterator.next() else {
            task.cancel()
            throw NeptuneServerError.noBindAddress
        }
        return RunningServer(state: state, address: address, task: task)
    }

    func client() async throws -> TestClient {
        try await TestClient.connect(to: address)
    }

    /// Stops the service (cancellation ends its wait for a graceful shutdown) and waits for it.
    func stop() async {
        task.cancel()
        _ = await task.result
    }
}
