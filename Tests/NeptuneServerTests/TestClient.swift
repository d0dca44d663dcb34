import NIOCore
import NIOPosix
import NeptuneRESP

/// Passes what a test connection receives to an `AsyncStream`, which ends when the server closes the connection.
final class ReceivedBytes: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let continuation: AsyncStream<ByteBuffer>.Continuation

    init(_ continuation: AsyncStream<ByteBuffer>.Continuation) {
        self.continuation = continuation
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        continuation.yield(unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        continuation.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// A RESP client over a real TCP connection: writes commands with `writeRESPCommand` (or raw bytes) and decodes
/// replies with `RESPValueDecoder`.
struct TestClient {
    let channel: any Channel
    private var received: AsyncStream<ByteBuffer>.Iterator
    private var pending = ByteBuffer()
    private var decoder = RESPValueDecoder()

    static func connect(to address: SocketAddress) async throws -> TestClient {
        let (stream, continuation) = AsyncStream.makeStream(of: ByteBuffer.self)
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReceivedBytes(continuation))
                }
            }
            .connect(to: address)
            .get()
        return TestClient(channel: channel, received: stream.makeAsyncIterator())
    }

    private init(channel: any Channel, received: AsyncStream<ByteBuffer>.Iterator) {
        self.channel = channel
        self.received = received
    }

    /// Sends commands in one write.
    func send(_ commands: [[String]]) async throws {
        var buffer = channel.allocator.buffer(capacity: 256)
        for command in commands {
            buffer.writeRESPCommand(command)
        }
        try await channel.writeAndFlush(buffer)
    }

    func send(_ command: String...) async throws {
        try await send([command])
    }

    func sendRaw(_ text: String) async throws {
        try await channel.writeAndFlush(channel.allocator.buffer(string: text))
    }

    /// The next reply, or nil once the server has closed the connection.
    mutating func read() async throws -> RESPValue? {
        while true {
            if let value = try decoder.decode(buffer: &pending) {
                return value
            }
            guard var chunk = await received.next() else { return nil }
            pending.writeBuffer(&chunk)
        }
    }

    /// Sends one command and reads its reply.
    mutating func call(_ command: String...) async throws -> RESPValue? {
        try await send([command])
        return try await read()
    }

    func close() async {
        try? await channel.close()
    }
}

