import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import Synchronization

/// Serves one client connection: decodes RESP commands (pipelined, any number per read), runs each against the
/// engine in order, accumulates the replies and writes them with one flush per read batch.
///
/// A protocol error gets Redis's `-ERR Protocol error: ...` reply and the connection is closed after it; other
/// connections are not affected.
final class RESPConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    // The handler runs on its channel's event loop only, and none of these properties is accessed while another
    // access to it is under way (no re-entrant calls into the handler while it decodes or runs a command), so
    // the runtime's exclusivity checks on them (several per command) are turned off.
    private let state: ServerState
    private let engine: Engine
    /// The counters of this connection's event loop (set when the connection becomes active).
    @exclusivity(unchecked) private var traffic: TrafficCounters?
    private let logger: Logger
    @exclusivity(unchecked) private var decoder: RESPCommandDecoder
    @exclusivity(unchecked) private var pending: ByteBuffer?
    /// The current request's arguments: reused from request to request, emptied after each.
    @exclusivity(unchecked) private var arguments: [ByteBuffer] = []
    @exclusivity(unchecked) private var context: CommandContext
    @exclusivity(unchecked) private var client: ClientConnection?
    @exclusivity(unchecked) private var commandsInBatch = 0
    @exclusivity(unchecked) private var closing = false
    /// Commands run since the clock was last read into `context.timeSnapshot`.
    @exclusivity(unchecked) private var commandsSinceClockRead = 0
    /// The name of the last command run and when, published to `client` once per read (CLIENT LIST).
    @exclusivity(unchecked) private var lastCommand: (name: String, now: Int64)?
    private let queryBufferLimit: Int
    /// With a journal: reply batches waiting for their last journal record to be durable (under `appendfsync
    /// always`: fsynced; under `everysec` and `no`: written), in order (a batch without writes waits behind earlier
    /// ones so replies never overtake each other).
    private var held: [(sequence: UInt64, reply: ByteBuffer)] = []
    /// When the pub/sub output buffer went over its soft limit (nil while under it).
    private var softLimitSince: Int64?
    /// This loop's queue of connections waiting for durability (set on the first held reply).
    private var durableQueue: DurableReplyQueue?
    /// The context to write held replies with, kept while replies are held.
    private var heldContext: ChannelHandlerContext?
    /// Close the connection once the held replies are sent (QUIT or a protocol error behind a pending write).
    private var closeAfterHeld = false
    /// Whether this handler is in its loop's ``DurableReplyQueue`` (managed by the queue).
    var isQueuedForDurability = false
    /// The blocking command (BLPOP …) this client waits in: no further command runs until it ends; input keeps
    /// being buffered in `pending`.
    private var blocked: BlockedClient?
    /// Fires the blocked command's timeout.
    private var blockTimer: Scheduled<Void>?

    init(state: ServerState, logger: Logger) {
        self.state = state
        self.engine = state.engine
        self.logger = logger
        let config = state.config
        let requiresPassword = !(config.requirepass ?? "").isEmpty
        self.decoder = RESPCommandDecoder(
            // Redis accepts multibulk counts up to INT_MAX (nothing is allocated from the count).
            limits: RESPDecoderLimits(maxBulkLength: config.protoMaxBulkLen, maxMultibulkLength: Int(Int32.max)),
            isAuthenticated: !requiresPassword
        )
        self.queryBufferLimit = config.clientQueryBufferLimit
        self.context = CommandContext(isAuthenticated: !requiresPassword, reply: ByteBuffer())
    }

    func channelActive(context channelContext: ChannelHandlerContext) {
        let now = state.engine.clock.milliseconds()
        let client = ClientConnection(id: state.clients.makeID(), channel: channelContext.channel, now: now)
        self.client = client
        context.clientID = client.id
        context.host = client
        context.reply = channelContext.channel.allocator.buffer(capacity: 1024)
        traffic = state.statistics.traffic(for: ObjectIdentifier(channelContext.eventLoop))
        state.statistics.connectionsReceived.add(1, ordering: .relaxed)
        if state.clients.count >= state.config.maxclients {
            state.statistics.rejectedConnections.add(1, ordering: .relaxed)
            context.reply.writeRESPError("ERR max number of clients reached")
            closeAfterFlush(channelContext)
            return
        }
        state.clients.add(client)
        let loop = channelContext.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let boundContext = NIOLoopBound(channelContext, eventLoop: loop)
        client.installDelivery { message in
            loop.execute { handler.value.deliverPush(message, boundContext.value) }
        }
        context.blockingDelivery = { blockedClient, reply, sequence in
            loop.execute { handler.value.blockedClientEnded(blockedClient, reply, sequence, boundContext.value) }
        }
        channelContext.fireChannelActive()
    }

    func channelInactive(context channelContext: ChannelHandlerContext) {
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
        channelContext.fireChannelInactive()
    }

    func channelRead(context channelContext: ChannelHandlerContext, data: NIOAny) {
        guard !closing else { return }
        var incoming = unwrapInboundIn(data)
        traffic?.inputBytes.add(incoming.readableBytes, ordering: .relaxed)
        if pending == nil || pending!.readableBytes == 0 {
            pending = incoming
        } else {
            pending!.writeBuffer(&incoming)
        }
        processPending(channelContext)
    }

    /// Runs the buffered commands until the input runs out, a command blocks (BLPOP …) or the connection closes.
    private func processPending(_ channelContext: ChannelHandlerContext) {
        guard pending != nil else { return }
        do {
            while !closing, blocked == nil, try decoder.decode(buffer: &pending!, into: &arguments) {
                run(channelContext)
                // The arguments are slices of `pending`: release them so the next read can append to it in place.
                releaseArguments()
            }
        } catch let error as RESPProtocolError {
            releaseArguments()
            publishLastCommand()
            logger.debug("protocol error", metadata: ["client": "\(client?.address ?? "")", "error": "\(error)"])
            context.reply.writeRESPError(error)
            closeAfterFlush(channelContext)
            return
        } catch {
            releaseArguments()
            publishLastCommand()
            context.reply.writeRESPError("ERR Protocol error: \(error)")
            closeAfterFlush(channelContext)
            return
        }
        publishLastCommand()
        // The next read starts with a fresh clock reading; until then nothing may use this one.
        commandsSinceClockRead = 0
        context.timeSnapshot = nil
        if let buffered = pending?.readableBytes, buffered > queryBufferLimit {
            logger.warning(
                "closing client that reached max query buffer length",
                metadata: ["client": "\(client?.address ?? "")", "bytes": "\(buffered)"]
            )
            pending = nil
            closing = true
            channelContext.close(promise: nil)
            return
        }
        if let p = pending, p.readableBytes == 0 {
            pending = nil
        } else if pending != nil && pending!.readerIndex > 64 * 1024 {
            pending!.discardReadBytes()
        }
    }

    /// Empties `arguments`, keeping its capacity. Popping the few elements is much cheaper than
    /// `removeAll(keepingCapacity:)`, which goes through the generic `replaceSubrange`.
    @inline(__always)
    private func releaseArguments() {
        while arguments.popLast() != nil {}
    }

    private func run(_ channelContext: ChannelHandlerContext) {
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
                closeAfterFlush(channelContext)
            }
        }
        if let waiting = context.blockedClient {
            context.blockedClient = nil
            beginBlocking(waiting, channelContext)
        }
    }

    // MARK: Blocking commands

    /// The command just run blocked (BLPOP … found no data): remember it, publish it for CLIENT LIST and CLIENT
    /// UNBLOCK, and arm its timeout. Commands after it stay buffered until it ends.
    private func beginBlocking(_ waiting: BlockedClient, _ channelContext: ChannelHandlerContext) {
        blocked = waiting
        client?.blockedClient = waiting
        guard let deadline = waiting.deadline else { return }
        // Beyond a year the timer is not armed: such a client waits until served, unblocked or disconnected.
        let delay = max(0, deadline - engine.clock.milliseconds())
        guard delay < 366 * 86_400_000 else { return }
        let loop = channelContext.eventLoop
        let handler = NIOLoopBound(self, eventLoop: loop)
        let engine = self.engine
        blockTimer = loop.scheduleTask(in: .milliseconds(delay)) {
            guard handler.value.blocked === waiting else { return }
            // If a write served it meanwhile, that reply is already on its way to this loop.
            engine.unblock(waiting, with: .timeout)
        }
    }

    /// A blocked command ended (served by a write, timed out or CLIENT UNBLOCK): send its reply (with a journal,
    /// once the pop that served it is durable), then run the commands buffered behind it.
    func blockedClientEnded(
        _ waiting: BlockedClient,
        _ reply: ByteBuffer,
        _ sequence: UInt64,
        _ channelContext: ChannelHandlerContext
    ) {
        engine.forgetBlocked(waiting)
        guard blocked === waiting else { return }
        blocked = nil
        blockTimer?.cancel()
        blockTimer = nil
        client?.blockedClient = nil
        guard !closing, channelContext.channel.isActive else { return }
        var reply = reply
        context.reply.writeBuffer(&reply)
        if sequence > context.journalSequence { context.journalSequence = sequence }
        flushReplies(channelContext)
        processPending(channelContext)
        flushReplies(channelContext)
    }

    /// Tells the client record which command ran last, once per read rather than once per command.
    private func publishLastCommand() {
        guard let (name, now) = lastCommand, let client else { return }
        lastCommand = nil
        client.recordCommand(
            name,
            now: now,
            session: ClientConnection.SessionSummary(context),
            queryBufferBytes: pending?.readableBytes ?? 0
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

    func channelReadComplete(context channelContext: ChannelHandlerContext) {
        flushReplies(channelContext)
        // Not passed on: this handler is the pipeline's last, and the tail after it discards the event.
    }

    private func flushReplies(_ channelContext: ChannelHandlerContext) {
        if commandsInBatch > 0 {
            traffic?.commandsProcessed.add(commandsInBatch, ordering: .relaxed)
            commandsInBatch = 0
        }
        guard context.reply.readableBytes > 0 else { return }
        traffic?.outputBytes.add(context.reply.readableBytes, ordering: .relaxed)
        // With a journal, a reply that acknowledges a write waits for its record: under `always` for the fsync,
        // under `everysec` and `no` for the `write` (so a kill -9 loses no acknowledged write, as with Redis).
        if let journal = state.journal {
            let sequence = context.journalSequence
            if !held.isEmpty || sequence > journal.durableSequence {
                held.append((sequence, context.reply))
                context.reply = channelContext.channel.allocator.buffer(capacity: 1024)
                heldContext = channelContext
                if durableQueue == nil { durableQueue = state.durableReplyQueue(for: channelContext.eventLoop) }
                durableQueue?.wait(self, for: sequence)
                return
            }
        }
        channelContext.writeAndFlush(wrapOutboundOut(context.reply), promise: nil)
        if context.reply.capacity <= Self.keptReplyCapacity {
            // Once the socket took the whole reply (the usual case) the channel has dropped its reference, and
            // clearing reuses the storage; if part of it is still queued, clearing allocates a fresh one.
            context.reply.clear()
        } else {
            context.reply = channelContext.channel.allocator.buffer(capacity: 1024)
        }
    }

    /// The largest reply buffer kept from batch to batch; a bigger one (a large value was sent) is dropped.
    private static let keptReplyCapacity = 64 * 1024

    /// Writes a pub/sub message (on the connection's event loop, between read batches, so it never splits a
    /// reply), then enforces `client-output-buffer-limit pubsub`: a client whose unsent output stays over the soft
    /// limit for its seconds, or goes over the hard limit, is disconnected, so a subscriber that does not read
    /// cannot make the server hold unbounded memory.
    func deliverPush(_ message: ByteBuffer, _ channelContext: ChannelHandlerContext) {
        guard !closing, channelContext.channel.isActive else { return }
        var message = message
        context.reply.writeBuffer(&message)
        flushReplies(channelContext)
        let limit = state.config.clientOutputBufferLimit(for: .pubsub)
        guard limit.hardLimitBytes > 0 || limit.softLimitBytes > 0,
            let buffered = try? channelContext.channel.syncOptions?.getOption(.bufferedWritableBytes)
        else { return }
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
            closing = true
            channelContext.close(promise: nil)
        }
    }

    /// Sends the held replies whose records are now durable (called by this loop's ``DurableReplyQueue``). If the
    /// journal failed, the writes they acknowledge are not durable: the replies are dropped and the connection
    /// closed, so nothing unsafe is acknowledged.
    func releaseHeld(durable: Bool) {
        guard let channelContext = heldContext, !held.isEmpty else { return }
        guard durable, let journal = state.journal else {
            logger.error("closing a client whose writes could not be made durable")
            held.removeAll()
            heldContext = nil
            closing = true
            channelContext.close(promise: nil)
            return
        }
        let covered = journal.durableSequence
        var released = 0
        while released < held.count && held[released].sequence <= covered {
            channelContext.write(wrapOutboundOut(held[released].reply), promise: nil)
            released += 1
        }
        if released > 0 {
            held.removeFirst(released)
            channelContext.flush()
        }
        if let last = held.last {
            durableQueue?.wait(self, for: last.sequence)
        } else {
            heldContext = nil
            if closeAfterHeld {
                channelContext.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in
                    channelContext.close(promise: nil)
                }
            }
        }
    }

    private func closeAfterFlush(_ channelContext: ChannelHandlerContext) {
        closing = true
        pending = nil
        if let journal = state.journal, !held.isEmpty || context.journalSequence > journal.durableSequence,
            context.reply.readableBytes > 0
        {
            // The replies acknowledge writes (`SET k v` then `QUIT` in one read) whose records are not durable
            // yet: they are held as any others, and the connection closes once they are sent.
            flushReplies(channelContext)
            if !held.isEmpty {
                closeAfterHeld = true
                return
            }
        }
        let reply = context.reply
        context.reply = channelContext.channel.allocator.buffer(capacity: 0)
        channelContext.writeAndFlush(wrapOutboundOut(reply)).assumeIsolated().whenComplete { _ in
            channelContext.close(promise: nil)
        }
    }

    func errorCaught(context channelContext: ChannelHandlerContext, error: any Error) {
        logger.debug("connection error", metadata: ["error": "\(error)"])
        channelContext.close(promise: nil)
    }
}

@available(*, unavailable)
extension RESPConnectionHandler: Sendable {}
