import CNeptuneLinux
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One thread serving client sockets: an epoll instance (level-triggered, as Redis's), an eventfd that wakes it for
/// tasks queued from other threads, and a timer heap (blocking-command timeouts).
///
/// Each iteration waits in `epoll_wait`, handles the ready sockets (a connection reads once, runs every complete
/// command and writes the replies once), then runs the timers that are due and the tasks queued meanwhile. A task
/// queued from the loop's own thread (``execute(_:)``) costs no system call: it runs at the end of the iteration,
/// after all of the iteration's reads, which ``DurableReplyQueue`` relies on to cover every connection of the
/// iteration with one journal callback.
///
/// Everything but ``execute(_:)``, ``inEventLoop`` and ``stop()`` runs on the loop's thread.
final class EpollLoop: @unchecked Sendable {
    /// The loop's position in its server's list (for logs).
    let index: Int
    private let epollFD: Int32
    private let wakeFD: Int32
    private let logger: Logger
    /// Tasks queued from other threads; `woken` is set once the eventfd was written for them, so a burst of tasks
    /// costs one wake-up.
    private let remote = Mutex<RemoteQueue>(RemoteQueue())
    /// The loop thread's `pthread_t`, once it runs.
    private let threadID = Atomic<UInt>(0)

    // Confined to the loop's thread.
    private var localTasks: [() -> Void] = []
    private var timers = TimerHeap()
    /// Connections by file descriptor.
    private var connections: [RESPConnectionHandler?] = []
    private var connectionCount = 0
    private var nextGeneration: UInt32 = 0
    private var running = true
    /// Called when a listening socket registered on this loop is readable.
    var onListenerReadable: ((Int32) -> Void)?
    /// Called once on the loop's thread after it stopped and closed its connections.
    var onExit: (@Sendable () -> Void)?
    /// Work done at the end of every iteration (a snapshot's copying, in short steps), told whether the iteration
    /// found no ready events (the loop is idle); returns the longest the next `epoll_wait` may wait before the work
    /// wants another turn, in nanoseconds (-1: no limit, 0: poll at once).
    var betweenIterations: ((_ idle: Bool) -> Int64)?

    private struct RemoteQueue {
        var tasks: [@Sendable () -> Void] = []
        var woken = false
        var stopped = false
    }

    /// How long the loop keeps polling (`epoll_wait` with a zero timeout) for new events before it goes to sleep.
    ///
    /// A sleeping loop is woken by the kernel on behalf of whoever sends to it: on a virtual machine that wake-up
    /// (an inter-processor interrupt to an idle vCPU) costs the *sender* several microseconds of system time. At
    /// pipeline 1 a loop that is faster than its clients runs out of work after most batches and sleeps about once
    /// every five requests, so the clients pay that cost over and over; measured with redis-benchmark (50 clients,
    /// pipeline 1, 2 cores), its CPU per request was 12.7 us against this server and 12.4 us against redis-server,
    /// which made the client, not the server, the limit. Polling for 5 us before sleeping catches most of the next
    /// requests (sleeps per request 0.19 -> 0.08), the client's cost falls to 11.6 us and its throughput rises 8-10%,
    /// for about 0.2-0.7 us more server CPU per request. Under load the loop rarely sleeps, so the poll costs nothing;
    /// when idle it runs once per sleep, and sleeps are rare then.
    static let defaultBusyPollNanoseconds: UInt64 = {
        if let text = getenv("NEPTUNE_BUSY_POLL_US"), let microseconds = UInt64(String(cString: text)) {
            return microseconds * 1_000
        }
        return 5_000
    }()

    /// See ``defaultBusyPollNanoseconds``; 0 turns polling off.
    let busyPollNanoseconds: UInt64
    /// How many times the loop went to sleep in `epoll_wait` (waits that could block), for tests and diagnostics.
    let sleeps = Atomic<Int>(0)

    /// Creates the epoll instance and the eventfd; the thread starts with ``start()``.
    init(index: Int, logger: Logger, busyPollNanoseconds: UInt64 = EpollLoop.defaultBusyPollNanoseconds) throws {
        self.index = index
        self.logger = logger
        self.busyPollNanoseconds = busyPollNanoseconds
        let epollFD = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epollFD >= 0 else { throw TransportError.systemCall("epoll_create1", errno) }
        let wakeFD = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard wakeFD >= 0 else {
            let code = errno
            Glibc.close(epollFD)
            throw TransportError.systemCall("eventfd", code)
        }
        self.epollFD = epollFD
        self.wakeFD = wakeFD
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.token(fd: wakeFD, generation: 0)
        _ = epoll_ctl(epollFD, EPOLL_CTL_ADD, wakeFD, &event)
    }

    /// Whether the caller runs on this loop's thread.
    var inEventLoop: Bool {
        pthread_equal(pthread_self(), pthread_t(threadID.load(ordering: .relaxed))) != 0
    }

    /// Traps in debug builds when called off the loop's thread.
    func assertInEventLoop(file: StaticString = #fileID, line: UInt = #line) {
        assert(inEventLoop, "not on the connection's event loop", file: file, line: line)
    }

    /// Runs `task` on the loop: at the end of the current iteration when called from the loop itself, otherwise
    /// as soon as the loop wakes (one eventfd write per burst of tasks). Tasks queued after ``stop()`` are dropped.
    /// - Returns: False if the task was dropped because the loop stopped.
    @discardableResult
    func execute(_ task: @escaping @Sendable () -> Void) -> Bool {
        if inEventLoop {
            localTasks.append(task)
            return true
        }
        let (queued, wake) = remote.withLock { queue -> (Bool, Bool) in
            guard !queue.stopped else { return (false, false) }
            queue.tasks.append(task)
            if queue.woken { return (true, false) }
            queue.woken = true
            return (true, true)
        }
        if wake { signal() }
        return queued
    }

    /// Runs `task` on the loop after `milliseconds`; the returned timer cancels it. Called on the loop.
    @discardableResult
    func schedule(afterMilliseconds milliseconds: Int64, _ task: @escaping () -> Void) -> LoopTimer {
        assertInEventLoop()
        let deadline = Self.monotonicNanoseconds() &+ UInt64(max(0, milliseconds)) &* 1_000_000
        return timers.insert(deadline: deadline, task: task)
    }

    /// Asks the loop to close its connections and end its thread (from any thread).
    func stop() {
        let wake = remote.withLock { queue -> Bool in
            guard !queue.stopped else { return false }
            queue.tasks.append { [self] in running = false }
            queue.stopped = true
            if queue.woken { return false }
            queue.woken = true
            return true
        }
        if wake { signal() }
    }

    private func signal() {
        var one: UInt64 = 1
        while Glibc.write(wakeFD, &one, 8) < 0 && errno == EINTR {}
        // EAGAIN means the counter is about to overflow: the loop is already due to wake.
    }

    // MARK: Registration (on the loop)

    /// Adds a listening socket whose readiness calls ``onListenerReadable``.
    func registerListener(_ fd: Int32) throws {
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.token(fd: fd, generation: 0)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            throw TransportError.systemCall("epoll_ctl", errno)
        }
    }

    /// Stops watching a listening socket (before it is closed, or while accepting is paused).
    func unregisterListener(_ fd: Int32) {
        var event = epoll_event()
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, &event)
    }

    /// Serves an accepted socket on this loop: the connection takes ownership of `fd`.
    func adopt(_ fd: Int32, state: ServerState) {
        assertInEventLoop()
        nextGeneration &+= 1
        if nextGeneration == 0 { nextGeneration = 1 }
        let connection = RESPConnectionHandler(
            state: state,
            logger: logger,
            fd: fd,
            generation: nextGeneration,
            loop: self
        )
        let slot = Int(fd)
        if slot >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: slot - connections.count + 1))
        }
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.token(fd: fd, generation: nextGeneration)
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else {
            logger.warning("could not register a client socket", metadata: ["errno": "\(errno)"])
            Glibc.close(fd)
            return
        }
        connections[slot] = connection
        connectionCount += 1
        connection.activate()
    }

    /// Changes the events watched on a connection's socket.
    func setInterest(_ events: UInt32, fd: Int32, generation: UInt32) {
        var event = epoll_event()
        event.events = events
        event.data.u64 = Self.token(fd: fd, generation: generation)
        _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event)
    }

    /// Forgets a connection whose socket is about to be closed (closing it also removes it from the epoll set).
    func forget(fd: Int32, generation: UInt32) {
        let slot = Int(fd)
        guard slot < connections.count, let connection = connections[slot], connection.generation == generation
        else { return }
        connections[slot] = nil
        connectionCount -= 1
    }

    // MARK: The loop

    /// Starts the loop's thread.
    func start() throws {
        let body = Unmanaged.passRetained(ThreadBody { [self] in run() })
        var thread = pthread_t()
        let result = pthread_create(
            &thread,
            nil,
            { argument in
                let body = Unmanaged<ThreadBody>.fromOpaque(argument!).takeRetainedValue()
                body.run()
                return nil
            },
            body.toOpaque()
        )
        guard result == 0 else {
            body.release()
            throw TransportError.systemCall("pthread_create", result)
        }
        pthread_detach(thread)
    }

    private func run() {
        threadID.store(UInt(pthread_self()), ordering: .relaxed)
        neptune_set_thread_name("neptune-io-\(index)")
        let capacity = 128
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        var workTimeout: Int64 = -1
        while running {
            var timeout: Int64 = localTasks.isEmpty ? timers.timeoutNanoseconds(now: Self.monotonicNanoseconds) : 0
            if workTimeout >= 0 && (timeout < 0 || workTimeout < timeout) { timeout = workTimeout }
            let count = wait(events, capacity: Int32(capacity), timeout: timeout)
            if count < 0 {
                if errno == EINTR { continue }
                logger.critical("epoll_wait failed", metadata: ["errno": "\(errno)"])
                break
            }
            for i in 0..<Int(count) {
                let event = events[i]
                dispatch(token: event.data.u64, events: event.events)
            }
            if !timers.isEmpty { timers.runDue(now: Self.monotonicNanoseconds()) }
            runLocalTasks()
            if let work = betweenIterations { workTimeout = work(count == 0) }
        }
        shutDown()
    }

    /// `epoll_wait`, polling for up to ``busyPollNanoseconds`` (never past `timeout`, in nanoseconds, -1 for none)
    /// before a wait that may block (`epoll_pwait2` for a finite timeout, which takes it to the nanosecond).
    @inline(__always)
    private func wait(_ events: UnsafeMutablePointer<epoll_event>, capacity: Int32, timeout: Int64) -> Int32 {
        guard timeout != 0 else { return epoll_wait(epollFD, events, capacity, 0) }
        if busyPollNanoseconds > 0 {
            var limit = busyPollNanoseconds
            if timeout > 0 { limit = min(limit, UInt64(timeout)) }
            let start = Self.monotonicNanoseconds()
            repeat {
                let count = epoll_wait(epollFD, events, capacity, 0)
                if count != 0 { return count }
            } while Self.monotonicNanoseconds() &- start < limit
        }
        sleeps.add(1, ordering: .relaxed)
        if timeout < 0 { return epoll_wait(epollFD, events, capacity, -1) }
        if !Self.lacksPwait2.load(ordering: .relaxed) {
            var limit = timespec(tv_sec: Int(timeout / 1_000_000_000), tv_nsec: Int(timeout % 1_000_000_000))
            let count = epoll_pwait2(epollFD, events, capacity, &limit, nil)
            if count >= 0 || errno != ENOSYS { return count }
            // Kernels before 5.11 lack it: wait in whole milliseconds from now on, rounded up (never early).
            Self.lacksPwait2.store(true, ordering: .relaxed)
        }
        let milliseconds = min((timeout + 999_999) / 1_000_000, Int64(Int32.max))
        return epoll_wait(epollFD, events, capacity, Int32(milliseconds))
    }

    /// `epoll_pwait2` answered `ENOSYS` (a kernel before 5.11): finite waits use `epoll_wait`'s milliseconds.
    private static let lacksPwait2 = Atomic<Bool>(false)

    @inline(__always)
    private func dispatch(token: UInt64, events: UInt32) {
        let fd = Int32(truncatingIfNeeded: token)
        let generation = UInt32(truncatingIfNeeded: token >> 32)
        if generation == 0 {
            if fd == wakeFD {
                drainRemoteTasks()
            } else {
                onListenerReadable?(fd)
            }
            return
        }
        let slot = Int(fd)
        guard slot < connections.count, let connection = connections[slot], connection.generation == generation
        else { return }
        connection.handle(events: events)
    }

    private func drainRemoteTasks() {
        var value: UInt64 = 0
        _ = Glibc.read(wakeFD, &value, 8)
        let tasks = remote.withLock { queue -> [@Sendable () -> Void] in
            queue.woken = false
            let tasks = queue.tasks
            queue.tasks = []
            return tasks
        }
        for task in tasks { task() }
    }

    private func runLocalTasks() {
        guard !localTasks.isEmpty else { return }
        // Tasks these tasks queue run in the next iteration (which then does not wait).
        let tasks = localTasks
        localTasks = []
        for task in tasks { task() }
    }

    private func shutDown() {
        for case let connection? in connections {
            connection.close()
        }
        connections = []
        onListenerReadable = nil
        Glibc.close(wakeFD)
        Glibc.close(epollFD)
        let exit = onExit
        onExit = nil
        exit?()
    }

    private static func token(fd: Int32, generation: UInt32) -> UInt64 {
        UInt64(UInt32(bitPattern: fd)) | UInt64(generation) << 32
    }

    static func monotonicNanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec)
    }
}

private final class ThreadBody {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// A task scheduled on an ``EpollLoop``; ``cancel()`` (on the loop) stops it from running.
final class LoopTimer {
    let deadline: UInt64
    let sequence: UInt64
    fileprivate var task: (() -> Void)?
    fileprivate weak var heap: TimerHeapStorage?

    fileprivate init(deadline: UInt64, sequence: UInt64, task: @escaping () -> Void) {
        self.deadline = deadline
        self.sequence = sequence
        self.task = task
    }

    /// Cancels the task if it has not run yet.
    func cancel() {
        guard task != nil else { return }
        task = nil
        heap?.cancelled += 1
    }

    fileprivate func runsBefore(_ other: LoopTimer) -> Bool {
        deadline < other.deadline || (deadline == other.deadline && sequence < other.sequence)
    }
}

@available(*, unavailable)
extension LoopTimer: Sendable {}

private final class TimerHeapStorage {
    var cancelled = 0
}

/// A binary min-heap of timers by deadline (then by scheduling order). Cancelled timers stay until they come due
/// or until they make up half the heap, which is then rebuilt without them.
private struct TimerHeap {
    private var items: [LoopTimer] = []
    private var sequence: UInt64 = 0
    private let storage = TimerHeapStorage()

    var isEmpty: Bool { items.isEmpty }

    mutating func insert(deadline: UInt64, task: @escaping () -> Void) -> LoopTimer {
        sequence &+= 1
        let timer = LoopTimer(deadline: deadline, sequence: sequence, task: task)
        timer.heap = storage
        if storage.cancelled > 64 && storage.cancelled * 2 > items.count {
            items.removeAll { $0.task == nil }
            storage.cancelled = 0
            heapify()
        }
        items.append(timer)
        siftUp(items.count - 1)
        return timer
    }

    /// The `epoll_wait` timeout until the earliest timer, in nanoseconds (-1: none).
    func timeoutNanoseconds(now: () -> UInt64) -> Int64 {
        guard let first = items.first else { return -1 }
        let current = now()
        guard first.deadline > current else { return 0 }
        return Int64(min(first.deadline - current, UInt64(Int64.max)))
    }

    /// Runs the timers due at `now`, in deadline order.
    mutating func runDue(now: UInt64) {
        while let first = items.first, first.deadline <= now {
            removeFirst()
            if let task = first.task {
                first.task = nil
                task()
            } else if storage.cancelled > 0 {
                storage.cancelled -= 1
            }
        }
    }

    private mutating func removeFirst() {
        let last = items.removeLast()
        guard !items.isEmpty else { return }
        items[0] = last
        siftDown(0)
    }

    private mutating func heapify() {
        var index = items.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard items[child].runsBefore(items[parent]) else { return }
            items.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < items.count else { return }
            var smallest = left
            if left + 1 < items.count && items[left + 1].runsBefore(items[left]) { smallest = left + 1 }
            guard items[smallest].runsBefore(items[parent]) else { return }
            items.swapAt(smallest, parent)
            parent = smallest
        }
    }
}

/// A value confined to one ``EpollLoop`` carried through a `@Sendable` closure that runs on that loop.
struct LoopBound<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A system call of the transport failed.
struct TransportError: Error, CustomStringConvertible {
    let description: String

    static func systemCall(_ name: String, _ code: Int32) -> TransportError {
        TransportError(description: "\(name) failed: \(String(cString: strerror(code))) (errno \(code))")
    }
}
