import NIOCore

/// Drives one connection: sends requests (closed loop: keeps `pipeline` in flight; open loop: on a fixed
/// schedule), finds reply boundaries and records each request's latency with its worker.
///
/// A request's latency runs from the moment it was sent (closed loop) or scheduled to be sent (open loop, which
/// avoids coordinated omission) to the read that completed its reply.
///
/// The handler only ever runs on its channel's event loop and never holds overlapping accesses to one property, so
/// its hot properties skip the runtime's exclusivity bookkeeping (`@exclusivity(unchecked)`), which otherwise costs
/// several percent of the generator's CPU time.
final class BenchmarkConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        /// Connected, waiting for the coordinator's start.
        case idle
        case running
        /// Sent its quota; waiting for the last replies.
        case draining
        case finished
        case stopped
        case failed
    }

    private let worker: BenchmarkWorker
    private let connection: Int
    @exclusivity(unchecked) private var generator: RequestGenerator
    @exclusivity(unchecked) private var inflight: InflightQueue
    @exclusivity(unchecked) private var scanner = RESPReplyScanner()
    private var context: ChannelHandlerContext?
    @exclusivity(unchecked) private var state = State.idle
    /// Measured requests still to send.
    @exclusivity(unchecked) private var quota: Int
    private let pipeline: Int
    /// Open loop: nanoseconds between requests; 0 for a closed loop.
    private let interval: UInt64
    @exclusivity(unchecked) private var nextSendTime: UInt64 = 0
    @exclusivity(unchecked) private var sendBuffer: ByteBuffer

    init(worker: BenchmarkWorker, connection: Int) {
        let plan = worker.plan
        self.worker = worker
        self.connection = connection
        self.generator = plan.makeGenerator(connection: connection)
        self.quota = plan.quota(connection: connection)
        self.pipeline = plan.configuration.pipeline
        self.interval = plan.interval
        self.inflight = InflightQueue(capacity: self.interval == 0 ? plan.configuration.pipeline : 64)
        self.sendBuffer = ByteBufferAllocator().buffer(capacity: 0)
    }

    var capturedErrors: [String] { self.scanner.capturedErrors }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        self.sendBuffer = context.channel.allocator.buffer(capacity: 16 * 1024)
        self.worker.register(self)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Phases, driven by the worker

    func start() {
        guard self.state == .idle, let context = self.context else {
            return
        }
        self.state = .running
        if self.interval == 0 {
            self.fill(context)
        } else {
            self.nextSendTime = monotonicNanoseconds() + self.worker.plan.phase(connection: self.connection)
            self.scheduleTick(context)
        }
    }

    func measurementBegan() {
        if self.state == .running, self.interval == 0, let context = self.context {
            self.fill(context)
        }
    }

    func stop() {
        switch self.state {
        case .idle, .running, .draining:
            self.state = .stopped
        case .finished, .stopped, .failed:
            break
        }
    }

    // MARK: Sending

    /// Closed loop: tops the connection up to `pipeline` requests in flight with one write and one flush.
    private func fill(_ context: ChannelHandlerContext) {
        var room = self.pipeline - self.inflight.count
        guard self.state == .running, room > 0 else {
            return
        }
        let now = monotonicNanoseconds()
        if now >= self.worker.measureStart {
            if self.quota == 0 {
                self.state = .draining
                self.finishIfDrained()
                return
            }
            room = min(room, self.quota)
            self.quota -= room
        }
        self.sendBuffer.clear()
        for _ in 0..<room {
            let command = self.generator.writeNext(into: &self.sendBuffer)
            self.inflight.append(start: now, command: command)
        }
        context.writeAndFlush(self.wrapOutboundOut(self.sendBuffer), promise: nil)
    }

    private func scheduleTick(_ context: ChannelHandlerContext) {
        context.eventLoop.assumeIsolated().scheduleTask(deadline: .uptimeNanoseconds(self.nextSendTime)) {
            self.tick()
        }
    }

    /// Open loop: sends every request whose scheduled time has come, each stamped with that time.
    private func tick() {
        guard self.state == .running, let context = self.context else {
            return
        }
        let now = monotonicNanoseconds()
        let measureStart = self.worker.measureStart
        var sent = 0
        self.sendBuffer.clear()
        while self.nextSendTime <= now {
            if self.nextSendTime >= measureStart {
                if self.quota == 0 {
                    self.state = .draining
                    break
                }
                self.quota -= 1
            }
            let command = self.generator.writeNext(into: &self.sendBuffer)
            self.inflight.append(start: self.nextSendTime, command: command)
            self.nextSendTime &+= self.interval
            sent += 1
        }
        if sent > 0 {
            context.writeAndFlush(self.wrapOutboundOut(self.sendBuffer), promise: nil)
        }
        if self.state == .running {
            self.scheduleTick(context)
        } else {
            self.finishIfDrained()
        }
    }

    // MARK: Receiving

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = self.unwrapInboundIn(data)
        let now = monotonicNanoseconds()
        var unexpected = false
        do {
            try self.scanner.scan(buffer) { isError in
                guard let request = self.inflight.removeFirst() else {
                    unexpected = true
                    return
                }
                self.worker.record(command: request.command, start: request.start, now: now, isError: isError)
            }
        } catch {
            self.fail(context: context, error)
            return
        }
        if unexpected {
            self.fail(
                context: context,
                BenchmarkError(.protocolViolation, "the server sent more replies than it was sent requests")
            )
            return
        }
        if self.state == .draining {
            self.finishIfDrained()
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if self.interval == 0 {
            self.fill(context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        switch self.state {
        case .idle, .running, .draining:
            let host = self.worker.plan.configuration.host
            let port = self.worker.plan.configuration.port
            self.state = .failed
            self.worker.connectionFailed(
                BenchmarkError(.connectionClosed, "the server at \(host):\(port) closed connection \(self.connection)")
            )
        case .finished, .stopped, .failed:
            break
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.fail(context: context, BenchmarkError(.connectionClosed, "connection \(self.connection) failed: \(error)"))
    }

    private func fail(context: ChannelHandlerContext, _ error: BenchmarkError) {
        switch self.state {
        case .idle, .running, .draining:
            self.state = .failed
            self.worker.connectionFailed(error)
        case .finished, .stopped, .failed:
            break
        }
        context.close(promise: nil)
    }

    private func finishIfDrained() {
        if self.state == .draining, self.inflight.isEmpty {
            self.state = .finished
            self.worker.connectionFinished()
        }
    }
}

@available(*, unavailable)
extension BenchmarkConnectionHandler: Sendable {}
