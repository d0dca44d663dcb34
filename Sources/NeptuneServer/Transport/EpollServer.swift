import CNeptuneLinux
import Logging
import NeptuneCache
import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// neptune-server's client transport: listening sockets and ``EpollLoop`` threads serving connections, with no
/// SwiftNIO channel on the per-request path (SwiftNIO's `ByteBuffer` stays the data type).
///
/// The first loop accepts (non-blocking, `TCP_NODELAY`) and hands connections to the loops round-robin.
final class EpollServer: @unchecked Sendable {
    private let state: ServerState
    private let logger: Logger
    let loops: [EpollLoop]
    /// Listening sockets (written before ``start()``, then only by the first loop).
    private var listeners: [Int32] = []
    /// The loop the next accepted connection goes to (first loop only).
    private var nextLoop = 0
    private let exited = Mutex<(count: Int, waiter: CheckedContinuation<Void, Never>?)>((0, nil))

    init(state: ServerState, loopCount: Int, logger: Logger) throws {
        self.state = state
        self.logger = logger
        var loops: [EpollLoop] = []
        for index in 0..<max(1, loopCount) {
            loops.append(try EpollLoop(index: index, logger: logger))
        }
        self.loops = loops
    }

    /// Binds and listens on `address` (before ``start()``); returns the address bound (with the port the system
    /// chose for port 0).
    func listen(on address: SocketAddress, backlog: Int32) throws -> SocketAddress {
        let family: Int32
        switch address {
        case .v4: family = AF_INET
        case .v6: family = AF_INET6
        case .unixDomainSocket: throw TransportError(description: "unix sockets are not supported")
        }
        let fd = socket(family, Int32(SOCK_STREAM.rawValue | SOCK_NONBLOCK.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TransportError.systemCall("socket", errno) }
        do {
            try Self.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1)
            if family == AF_INET6 {
                // As Redis: an IPv6 listener takes IPv6 only, so `bind * ::*` can bind both on one port.
                try Self.setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1)
            }
            let bound = address.withSockAddr { pointer, length in
                Glibc.bind(fd, pointer, socklen_t(length))
            }
            guard bound == 0 else { throw TransportError.systemCall("bind", errno) }
            guard Glibc.listen(fd, backlog) == 0 else { throw TransportError.systemCall("listen", errno) }
            guard let local = SocketAddresses.local(of: fd) else {
                throw TransportError.systemCall("getsockname", errno)
            }
            listeners.append(fd)
            return local
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    /// Starts the loops; the first one watches the listening sockets.
    func start() throws {
        let first = loops[0]
        for fd in listeners {
            try first.registerListener(fd)
        }
        first.onListenerReadable = { [unowned self] fd in accept(from: fd) }
        let engine = state.engine
        for loop in loops {
            // The loops copy background snapshots between their iterations (see Engine.captureStep).
            let helper = engine.addCaptureHelper { [loop] in loop.execute {} }
            // An idle loop steps for 50 us (a save's sleeps and wake-ups then cost its loop 0.44 s of processor
            // instead of 0.71 s with 15 us steps, measured on 1M keys); one that keeps finding requests, 15 us at the
            // floor.
            loop.betweenIterations = { idle in
                engine.captureStep(idle: idle, budgetNanoseconds: idle ? 50_000 : 15_000)
            }
            loop.onExit = { [self] in
                engine.removeCaptureHelper(helper)
                let waiter = exited.withLock { exited -> CheckedContinuation<Void, Never>? in
                    exited.count += 1
                    guard exited.count == loops.count else { return nil }
                    let waiter = exited.waiter
                    exited.waiter = nil
                    return waiter
                }
                waiter?.resume()
            }
        }
        for loop in loops {
            try loop.start()
        }
    }

    /// Closes the listening sockets, then every connection, and waits for the loops' threads to end.
    func shutDown() async {
        let first = loops[0]
        first.execute { [self] in
            for fd in listeners {
                first.unregisterListener(fd)
                Glibc.close(fd)
            }
            listeners = []
        }
        for loop in loops {
            loop.stop()
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = exited.withLock { exited -> Bool in
                if exited.count == loops.count { return true }
                exited.waiter = continuation
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Closes the listening sockets of a server that never started.
    func closeListeners() {
        for fd in listeners { Glibc.close(fd) }
        listeners = []
    }

    /// Accepts the pending connections (on the first loop) and hands each to a loop.
    private func accept(from listener: Int32) {
        // A bounded batch per readiness event, as Redis's MAX_ACCEPTS_PER_CALL: the listener stays readable (level
        // triggered) if more are waiting, and the loop's connections get their turn in between.
        for _ in 0..<1000 {
            let fd = neptune_accept(listener)
            if fd < 0 {
                let code = errno
                switch code {
                case EAGAIN, EWOULDBLOCK:
                    return
                case EINTR, ECONNABORTED, EPROTO:
                    continue
                default:
                    // Out of descriptors or memory: stop watching the listener for a moment instead of spinning on
                    // a readiness that cannot be served.
                    logger.warning("accept failed", metadata: ["errno": "\(code)"])
                    let first = loops[0]
                    first.unregisterListener(listener)
                    first.schedule(afterMilliseconds: 100) { [self] in
                        guard listeners.contains(listener) else { return }
                        try? first.registerListener(listener)
                    }
                    return
                }
            }
            try? Self.setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
            let keepalive = state.config.tcpKeepalive
            if keepalive > 0 {
                _ = neptune_set_keepalive(fd, Int32(clamping: keepalive))
            }
            let loop = loops[nextLoop]
            nextLoop = (nextLoop + 1) % loops.count
            let state = self.state
            if loop.inEventLoop {
                loop.adopt(fd, state: state)
            } else if !loop.execute({ loop.adopt(fd, state: state) }) {
                // That loop is stopping (the server shuts down).
                Glibc.close(fd)
            }
        }
    }

    private static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) throws {
        var value = value
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw TransportError.systemCall("setsockopt", errno)
        }
    }
}

/// Socket addresses of a connected or listening socket.
enum SocketAddresses {
    /// The peer's address.
    static func remote(of fd: Int32) -> SocketAddress? {
        address(of: fd, peer: true)
    }

    /// The socket's own address.
    static func local(of fd: Int32) -> SocketAddress? {
        address(of: fd, peer: false)
    }

    private static func address(of fd: Int32, peer: Bool) -> SocketAddress? {
        var text = [CChar](repeating: 0, count: 64)
        let port = neptune_socket_address(fd, peer ? 1 : 0, &text, socklen_t(text.count))
        guard port >= 0 else { return nil }
        let ip = text.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        return try? SocketAddress(ipAddress: ip, port: Int(port))
    }
}
