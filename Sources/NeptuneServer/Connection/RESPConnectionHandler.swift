import CNeptuneLinux
import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Serves one client connection on its ``EpollLoop``: per readable event one `read`, then every complete RESP
/// command (pipelined, any number per read) runs against the engine in order and the accumulated replies go out
/// with one `send`. What the socket does not take at once is queued and sent when it becomes writable again.
///
/// A protocol error gets Redis's `-ERR Protocol error: ...` reply and the connection is closed after it; other
/// connections are not affected.
final class RESPConnectionHandler {
    // The handler runs on its loop's thread only, and none of these properties is accessed while another access
    // to it is under way (no re-entrant calls into the handler while it decodes or runs a command), so the
    // runtime's exclusivity checks on them (several per command) are turned off.
    private let state: ServerState
    private let engine: Engine
    let fd: Int32
    /// Tells this connection's epoll registrations from those of an earlier socket with the same descriptor.
    let generation: UInt32
    let loop: EpollLoop
    /// The counters of this connection's event loop.
    private let traffic: TrafficCounters
    private let logger: Logger
    @exclusivity(unchecked) private var decoder: RESPCommandDecoder
    /// Received bytes not yet decoded into commands.
    @exclusivity(unchecked) private var input: ByteBuffer
    /// The current request's arguments: reused from request to request, emptied after each.
    @exclusivity(unchecked) private var arguments: [ByteBuffer] = []
    @exclusivity(unchecked) private var context: CommandContext
    @exclusivity(unchecked) private var client: ClientConnection?
    @exclusivity(unchecked) private var commandsInBatch = 0
    /// No more commands run and no more input is read: the connection closes once its output is sent.
    @exclusivity(unchecked) private var closing = false
    /// The socket is closed.
    @exclusivity(unchecked) private(set) var isClosed = false
    /// Commands run since the clock was last read into `context.timeSnapshot`.
    @exclusivity(unchecked) private var commandsSinceClockRead = 0
    /// The name of the last command run and when, published to `client` once per read (CLIENT LIST).
    @exclusivity(unchecked) private var lastCommand: (name: String, now: Int64)?
    /// Replies the socket did not take yet, in order, and their size.
    @exclusivity(unchecked) private var outbound = CircularBuffer<ByteBuffer>(initialCapacity: 4)
    @exclusivity(unchecked) private var outboundBytes = 0 {
        // Published for CLIENT LIST's `omem` (changes only when the socket did not take a reply whole).
        didSet { client?.outputBufferBytes = outboundBytes }
    }
    /// The epoll events watched now.
    @exclusivity(unchecked) private var interest: UInt32 = EPOLLIN.rawValue
    /// Close once `outbound` is sent (QUIT, a protocol error).
    private var closeWhenSent = false
    private let queryBufferLimit: Int
    /// With a journal: reply batches waiting for their last journal record to be durable (under `appendfsync
    /// always`: fsynced; under `everysec` and `no`: written), in order (a batch without writes waits behind earlier
    /// ones so replies never overtake each other).
    private var held: [(sequence: UInt64, reply: ByteBuffer)] = []
    /// When the pub/sub output buffer went over its soft limit (nil while under it).
    private var softLimitSince: Int64?
    /// This loop's queue of connections waiting for durability (set on the first held reply).
    private var durableQueue: DurableReplyQueue?
    /// Close the connection once the held replies are sent (QUIT or a protocol error behind a pending write).
    private var closeAfterHeld = false
    /// Whether this handler is in its loop's ``DurableReplyQueue`` (managed by the queue).
    var isQueuedForDurability = false
    /// The blocking command (BLPOP …) this client waits in: no further command runs until it ends; input keeps
    /// being buffered in `input`.
    private var blocked: BlockedClient?
    /// Fires the blocked command's timeout.
    private var blockTimer: LoopTimer?

    /// The size of one `read`, as Redis's PROTO_IOBUF_LEN (a bigger buffer, grown for a large request, reads more).
    private static let readSize = 16 * 1024
    /// The largest input or reply buffer kept from batch to batch; a bigger one (a large value went through) is
    /// dropped once empty.
    private static let keptBufferCapacity = 64 * 1024
    private static let allocator = ByteBufferAllocator()

    init(state: ServerState, logger: Logger, fd: Int32, generation: UInt32, loop: EpollLoop) {
        self.state = state
        self.engine = state.engine
        self.logger = logger
        self.fd = fd
        self.generation = generation
        self.loop = loop
        self.traffic = state.statistics.traffic(for: ObjectIdentifier(loop))
        let config = state.config
        let requiresPassword = !(config.requirepass ?? "").isEmpty
        self.decoder = RESPCommandDecoder(
            // Redis accepts multibulk counts up to INT_MAX (nothing is allocated from the count).
            limits: RESPDecoderLimits(maxBulkLength: config.protoMaxBulkLen, maxMultibulkLength: Int(Int32.max)),
            isAuthenticated: !requiresPassword
        )
        self.queryBufferLimit = config.clientQueryBufferLimit
        self.input = Self.allocator.buffer(capacity: Self.readSize)
        self.context = CommandContext(isAuthenticated: !requiresPassword, reply: Self.allocator.buffer(capacity: 1024))
    }

    /// The connection was accepted and registered: record the client (or refuse it over `maxclients`).
    func activate() {
        let now = state.engine.clock.milliseconds()
        let handler = LoopBound(self)
        let loop = self.loop
        let client = ClientConnection(
            id: state.clients.makeID(),
            fd: fd,
            remoteAddress: SocketAddresses.remote(of: fd),
            localAddress: SocketAddresses.local(of: fd),
            now: now
        )
        self.client = client
        context.clientID = client.id
        context.host = client
        state.statistics.connectionsReceived.add(1, ordering: .relaxed)
        if state.clients.count >= state.config.maxclients {
            state.statistics.rejectedConnections.add(1, ordering: .relaxed)
            context.reply.writeRESPError("ERR max number of clients reached")
            closeAfterFlush()
            return
        }
        state.clients.add(client)
        client.installDelivery(
            { message in loop.execute { handler.value.deliverPush(message) } },
            close: { loop.execute { handler.value.close() } }
        )
        context.blockingDelivery = { blockedClient, reply, sequence in
            loop.execute { handler.value.blockedClientEnded(blockedClient, reply, sequence) }
        }
    }

    // MARK: Socket events

    /// Handles the epoll events reported for the socket.
    @inline(__always)
    func handle(events: UInt32) {
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 {
            if closing {
                // Not reading any more (interest has no EPOLLIN): the peer hung up or the socket failed, so what
                // is left to send cannot arrive.
                if events & (EPOLLHUP.rawValue | EPOLLERR.rawValue) != 0 { close() }
            } else {
                readable()
            }
        }
        if events & EPOLLOUT.rawValue != 0 && !isClosed {
            sendOutbound()
        }
    }

    private func readable() {
        if input.readableBytes == 0 {
            if input.capacity > Self.keptBufferCapacity {
                input = Self.allocator.buffer(capacity: Self.readSize)
            } else {
                input.clear()
            }
        } else if input.writableBytes < Self.readSize && input.readerIndex > 0 {
            input.discardReadBytes()
        }
        input.reserveCapacity(minimumWritableBytes: Self.readSize)
        let fd = self.fd
        var count: Int
        repeat {
            count = input.withUnsafeMutableWritableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
        } while count < 0 && errno == EINTR
        if count > 0 {
            input.moveWriterIndex(forwardBy: count)
            traffic.inputBytes.add(count, ordering: .relaxed)
            processInput()
            flushReplies()
        } else if count == 0 {
            close()
        } else if errno != EAGAIN && errno != EWOULDBLOCK {
            logger.debug("connection error", metadata: ["errno": "\(errno)"])
            close()
        }
    }

    // MARK: Running commands

    /// Runs the buffered commands until the input runs out, a command blocks (BLPOP …) or the connection closes.
    private func processInput() {
        do {
            while !closing, blocked == nil, try decoder.decode(buffer: &input, into: &arguments) {
                run()
                // The arguments are slices of `input`: release them so the next read can append to it in place.
                releaseArguments()
            }
        } catch let error as RESPProtocolError {
            releaseArguments()
            publishLastCommand()
            logger.debug("protocol error", metadata: ["client": "\(client?.address ?? "")", "error": "\(error)"])
            context.reply.writeRESPError(error)
            closeAfterFlush()
            return
        } catch {
            releaseArguments()
            publishLastCommand()
            context.reply.writeRESPError("ERR Protocol error: \(error)")
            closeAfterFlush()
            return
        }
        publishLastCommand()
        // The next read starts with a fresh clock reading; until then nothing may use this one.
        commandsSinceClockRead = 0
        context.timeSnapshot = nil
        if input.readableBytes > queryBufferLimit {
            logger.warning(
                "closing client that reached max query buffer length",
                metadata: ["client": "\(client?.address ?? "")", "bytes": "\(input.readableBytes)"]
            )
            close()
        }
    }

    /// Empties `arguments`, keeping its capacity. Popping the few elements is much cheaper than
    /// `removeAll(keepingCapacity:)`, which goes through the generic `replaceSubrange`.
    @inline(__always)
    private func releaseArguments() {
        while arguments.popLast() != nil {}
    }

    private func run() {
        commandsInBatch += 1
        // Reading the clock can be a system call (it is on this project's reference VM): pipelined commands
        // share one reading per 16 commands, a few microseconds at most, as Redis shares one per command.
        if commandsSinceClockRead == 0 {
            context.timeSnapshot = engine.clock.milliseconds()
        }
        commandsSinceClockRead = (commandsSinceClockRead + 1) & 15
        let wasAuthenticated = context.isAuthenticated
        let mark = context.reply.writerIndex
        // One reference for the whole command rather than one per use of the property.
        let client = self.client
        client?.beginCommandReply()
        let name = engine.execute(arguments, context: &context) ?? "NULL"
        if context.reply.writerIndex > mark, context.reply.getInteger(at: mark, as: UInt8.self) == UInt8(ascii: "-") {
            recordErrorReply(at: mark)
        }
        lastCommand = (name, context.now)
        if context.isAuthenticated != wasAuthenticated {
            decoder.isAuthenticated = context.isAuthenticated
        }
        if let client {
            if client.endCommandReply() {
                // CLIENT REPLY OFF or SKIP: the command ran, its reply is dropped.
                context.reply.moveWriterIndex(to: mark)
            }
            client.recordProtocol(context.protocolVersion)
            if client.closeAfterReply {
                closeAfterFlush()
            }
        }
        if let waiting = context.blockedClient {
            context.blockedClient = nil
            beginBlocking(waiting)
        }
    }

    // MARK: Blocking commands

    /// The command just run blocked (BLPOP … found no data): remember it, publish it for CLIENT LIST and CLIENT
    /// UNBLOCK, and arm its timeout. Commands after it stay buffered until it ends.
    private func beginBlocking(_ waiting: BlockedClient) {
        blocked = waiting
        client?.blockedClient = waiting
        guard let deadline = waiting.deadline else { return }
        // Beyond a year the timer is not armed: such a client waits until served, unblocked or disconnected.
        let delay = max(0, deadline - engine.clock.milliseconds())
        guard delay < 366 * 86_400_000 else { return }
        let engine = self.engine
        blockTimer = loop.schedule(afterMilliseconds: delay) { [weak self] in
            guard let self, self.blocked === waiting else { return }
            // If a write served it meanwhile, that reply is already on its way to this loop.
            engine.unblock(waiting, with: .timeout)
        }
    }

    /// A blocked command ended (served by a write, timed out or CLIENT UNBLOCK): send its reply (with a journal,
    /// once the pop that served it is durable), then run the commands buffered behind it.
    func blockedClientEnded(_ waiting: BlockedClient, _ reply: ByteBuffer, _ sequence: UInt64) {
        engine.forgetBlocked(waiting)
        guard blocked === waiting else { return }
        blocked = nil
        blockTimer?.cancel()
        blockTimer = nil
        client?.blockedClient = nil
        guard !closing else { return }
        var reply = reply
        context.reply.writeBuffer(&reply)
        if sequence > context.journalSequence { context.journalSequence = sequence }
        flushReplies()
        processInput()
        flushReplies()
    }

    /// Tells the client record which command ran last, once per read rather than once per command.
    private func publishLastCommand() {
        guard let (name, now) = lastCommand, let client else { return }
        lastCommand = nil
        client.recordCommand(
            name,
            now: now,
            session: ClientConnection.SessionSummary(context),
            queryBufferBytes: input.readableBytes
        )
    }

    /// Counts the error reply written at `offset` under its first word, for INFO errorstats.
    private func recordErrorReply(at offset: Int) {
        let end = context.reply.writerIndex
        var index = offset + 1
        while index < end, let byte = context.reply.getInteger(at: index, as: UInt8.self),
            byte != UInt8(ascii: " "), byte != UInt8(ascii: "\r")
        {
            index += 1
        }
        let prefix = context.reply.getString(at: offset + 1, length: index - offset - 1) ?? "ERR"
        state.statistics.recordErrorReply(prefix: prefix)
    }

    // MARK: Replies

    private func flushReplies() {
        if commandsInBatch > 0 {
            traffic.commandsProcessed.add(commandsInBatch, ordering: .relaxed)
            commandsInBatch = 0
        }
        guard context.reply.readableBytes > 0, !isClosed else { return }
        traffic.outputBytes.add(context.reply.readableBytes, ordering: .relaxed)
        // With a journal, a reply that acknowledges a write waits for its record: under `always` for the fsync,
        // under `everysec` and `no` for the `write` (so a kill -9 loses no acknowledged write, as with Redis).
        if let journal = state.journal {
            let sequence = context.journalSequence
            if !held.isEmpty || sequence > journal.durableSequence {
                held.append((sequence, context.reply))
                context.reply = Self.allocator.buffer(capacity: 1024)
                if durableQueue == nil { durableQueue = state.durableReplyQueue(for: loop) }
                durableQueue?.wait(self, for: sequence)
                return
            }
        }
        if send(&context.reply) {
            // The socket took the whole reply (the usual case): reuse the buffer.
            if context.reply.capacity <= Self.keptBufferCapacity {
                context.reply.clear()
            } else {
                context.reply = Self.allocator.buffer(capacity: 1024)
            }
        } else {
            context.reply = Self.allocator.buffer(capacity: 1024)
        }
    }

    /// Sends `bytes`, or queues them behind earlier unsent output. Returns true when the socket took them all
    /// (the buffer can then be reused); false when they (or their rest) were queued, or the connection failed.
    private func send(_ bytes: inout ByteBuffer) -> Bool {
        guard !isClosed else { return false }
        if outbound.isEmpty {
            guard write(&bytes) else { return false }
            if bytes.readableBytes == 0 { return true }
        }
        outboundBytes += bytes.readableBytes
        outbound.append(bytes)
        setInterest(closing ? EPOLLOUT.rawValue : EPOLLIN.rawValue | EPOLLOUT.rawValue)
        enforceOutputLimit()
        return false
    }

    /// Writes as much of `bytes` as the socket takes, moving its reader index past what was written; false if
    /// the connection failed (it is closed).
    private func write(_ bytes: inout ByteBuffer) -> Bool {
        let fd = self.fd
        while bytes.readableBytes > 0 {
            let written = bytes.withUnsafeReadableBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written >= 0 {
                bytes.moveReaderIndex(forwardBy: written)
                continue
            }
            switch errno {
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                return true
            default:
                logger.debug("connection error", metadata: ["errno": "\(errno)"])
                close()
                return false
            }
        }
        return true
    }

    /// The socket is writable again: send the queued output; once it is all out, stop watching for writability
    /// (or close, when that was waiting).
    private func sendOutbound() {
        while !outbound.isEmpty {
            let before = outbound[outbound.startIndex].readableBytes
            guard write(&outbound[outbound.startIndex]) else { return }
            let remaining = outbound[outbound.startIndex].readableBytes
            outboundBytes -= before - remaining
            if remaining > 0 { return }
            outbound.removeFirst()
        }
        softLimitSince = nil
        if closeWhenSent {
            close()
        } else {
            setInterest(closing ? 0 : EPOLLIN.rawValue)
        }
    }

    private func setInterest(_ events: UInt32) {
        guard events != interest, !isClosed else { return }
        interest = events
        loop.setInterest(events, fd: fd, generation: generation)
    }

    /// Writes a pub/sub message (on the connection's event loop, between read batches, so it never splits a
    /// reply), then enforces the output buffer limit.
    func deliverPush(_ message: ByteBuffer) {
        guard !closing else { return }
        var message = message
        context.reply.writeBuffer(&message)
        flushReplies()
        enforceOutputLimit()
    }

    /// Enforces `client-output-buffer-limit` on the output the socket has not taken yet (`pubsub` for a client
    /// with subscriptions, `normal` otherwise, as Redis classes them): a client whose unsent output stays over the
    /// soft limit for its seconds, or goes over the hard limit, is disconnected, so a client that does not read
    /// cannot make the server hold unbounded memory. Called when output is queued and after each pub/sub message.
    private func enforceOutputLimit() {
        guard !isClosed else { return }
        let clientClass: ConfigStore.ClientClass = (client?.subscriptionCount ?? 0) > 0 ? .pubsub : .normal
        let limit = state.config.clientOutputBufferLimit(for: clientClass)
        guard limit.hardLimitBytes > 0 || limit.softLimitBytes > 0 else { return }
        let buffered = outboundBytes
        var exceeded = limit.hardLimitBytes > 0 && buffered >= limit.hardLimitBytes
        if !exceeded && limit.softLimitBytes > 0 && buffered >= limit.softLimitBytes {
            let now = state.engine.clock.milliseconds()
            if let since = softLimitSince {
                exceeded = now - since >= Int64(limit.softLimitSeconds) * 1000
            } else {
                softLimitSince = now
            }
        } else if buffered < limit.softLimitBytes {
            softLimitSince = nil
        }
        if exceeded {
            logger.warning(
                "closing client for overcoming of output buffer limits",
                metadata: ["client": "\(client?.address ?? "")", "bytes": "\(buffered)"]
            )
            state.statistics.outputBufferLimitDisconnections.add(1, ordering: .relaxed)
            close()
        }
    }

    /// Sends the held replies whose records are now durable (called by this loop's ``DurableReplyQueue``). If the
    /// journal failed, the writes they acknowledge are not durable: the replies are dropped and the connection
    /// closed, so nothing unsafe is acknowledged.
    func releaseHeld(durable: Bool) {
        guard !isClosed else {
            held.removeAll()
            return
        }
        guard !held.isEmpty else { return }
        guard durable, let journal = state.journal else {
            logger.error("closing a client whose writes could not be made durable")
            held.removeAll()
            close()
            return
        }
        let covered = journal.durableSequence
        var released = 0
        while released < held.count && held[released].sequence <= covered {
            _ = send(&held[released].reply)
            released += 1
        }
        if released > 0 {
            held.removeFirst(released)
        }
        if let last = held.last {
            durableQueue?.wait(self, for: last.sequence)
        } else if closeAfterHeld {
            closeOnceSent()
        }
    }

    // MARK: Closing

    /// Sends the replies so far, then closes (QUIT, a protocol error, `maxclients`): no more commands run and no
    /// more input is read.
    private func closeAfterFlush() {
        closing = true
        input.clear()
        if let journal = state.journal, !held.isEmpty || context.journalSequence > journal.durableSequence,
            context.reply.readableBytes > 0
        {
            // The replies acknowledge writes (`SET k v` then `QUIT` in one read) whose records are not durable
            // yet: they are held as any others, and the connection closes once they are sent.
            flushReplies()
            if !held.isEmpty {
                closeAfterHeld = true
                setInterest(outbound.isEmpty ? 0 : EPOLLOUT.rawValue)
                return
            }
        }
        if context.reply.readableBytes > 0 {
            traffic.outputBytes.add(context.reply.readableBytes, ordering: .relaxed)
            _ = send(&context.reply)
            context.reply = Self.allocator.buffer(capacity: 0)
        }
        closeOnceSent()
    }

    private func closeOnceSent() {
        closing = true
        if outbound.isEmpty {
            close()
        } else {
            closeWhenSent = true
            setInterest(EPOLLOUT.rawValue)
        }
    }

    /// Closes the socket now (once) and forgets the client: CLIENT KILL, idle timeout, shutdown, the peer hung up,
    /// a limit was crossed, or the output was sent before closing.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        closing = true
        loop.forget(fd: fd, generation: generation)
        Glibc.close(fd)
        outbound.removeAll()
        outboundBytes = 0
        input = ByteBuffer()
        held.removeAll()
        if let client {
            state.clients.remove(client)
            client.removeDelivery()
            state.unsubscribeAll(client)
        }
        // Break the handler's reference cycle through its own delivery closure, and stop waiting.
        context.blockingDelivery = nil
        if let waiting = blocked {
            blocked = nil
            blockTimer?.cancel()
            blockTimer = nil
            client?.blockedClient = nil
            if !engine.unblock(waiting, with: .disconnected) {
                engine.forgetBlocked(waiting)
            }
        }
        state.engine.resetTransaction(&context)
    }
}

@available(*, unavailable)
extension RESPConnectionHandler: Sendable {}
