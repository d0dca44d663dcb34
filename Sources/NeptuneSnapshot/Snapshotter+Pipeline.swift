#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NeptuneCache

/// Hands captured shards from the thread that copies them (under their locks) to the thread that serializes,
/// compresses and writes them, and the emptied copies back for reuse.
///
/// The copying thread keeps the snapshot's lock holds short and runs at normal priority; the writing thread does
/// the CPU-heavy part and, for a background save, runs at the lowest scheduling priority (Linux `SCHED_IDLE`,
/// else nice 19; Linux only), so that event loops always preempt it. It never takes a lock a command could wait for: the
/// shard locks and the capture's own state are touched only by the copying thread. At most ``depth`` copies wait
/// in the queue, so the copying thread stays a shard or two ahead of the writer.
final class ShardPipeline: ShardSink, @unchecked Sendable {
    /// Copies waiting to be written, beyond the one being written.
    let depth: Int

    private let monitor = MutexCondition()
    private var queue: [KeyspaceCapture.CapturedShard] = []
    private var written: [KeyspaceCapture.CapturedShard] = []
    private var closed = false
    private var failure: (any Error)?

    /// A value handed to another thread, which alone uses it until it is joined.
    final class Handoff<Value>: @unchecked Sendable {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    /// - Parameter depth: Copies that may wait to be written; the copying side waits while that many do.
    init(depth: Int) {
        self.depth = depth
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        try monitor.locked(body)
    }

    /// Queues a copy for writing, waiting while the queue is full; throws the writer's error if it failed.
    func put(_ shard: KeyspaceCapture.CapturedShard) throws {
        try locked {
            while queue.count >= depth && failure == nil { monitor.wait() }
            if let failure { throw failure }
            queue.append(shard)
            monitor.broadcast()
        }
    }

    /// Copies written since the last call (to recycle).
    func takeFinished() -> [KeyspaceCapture.CapturedShard] {
        locked {
            let done = written
            written.removeAll(keepingCapacity: true)
            return done
        }
    }

    /// No more copies will come.
    func close() {
        locked {
            closed = true
            monitor.broadcast()
        }
    }

    /// The writer's error, if it failed.
    var error: (any Error)? { locked { failure } }

    /// Writer side: the next copy to write, or nil once closed and drained (or after a failure).
    func next() -> KeyspaceCapture.CapturedShard? {
        locked {
            while queue.isEmpty && !closed && failure == nil { monitor.wait() }
            guard failure == nil, !queue.isEmpty else { return nil }
            return queue.removeFirst()
        }
    }

    /// Writer side: `shard` is written (its copy can be reused).
    func finished(_ shard: KeyspaceCapture.CapturedShard) {
        locked {
            written.append(shard)
            monitor.broadcast()
        }
    }

    /// Writer side: writing failed; the copying side stops at its next ``put(_:)``.
    func fail(_ error: any Error) {
        locked {
            failure = error
            monitor.broadcast()
        }
    }

    /// Runs `body` on a new thread named `name`, at the lowest scheduling priority if `lowPriority`; returns the
    /// thread to join.
    static func startThread(
        name: String,
        lowPriority: Bool,
        _ body: @escaping @Sendable () -> Void
    ) throws -> pthread_t {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            let name: String
            let lowPriority: Bool
            init(_ body: @escaping @Sendable () -> Void, name: String, lowPriority: Bool) {
                self.body = body
                self.name = name
                self.lowPriority = lowPriority
            }
        }
        let box = Unmanaged.passRetained(Box(body, name: name, lowPriority: lowPriority))
#if canImport(Darwin)
        var handle: pthread_t? = nil
#else
        var handle = pthread_t()
#endif
        let result = pthread_create(&handle, nil, { argument in
#if canImport(Darwin)
            let box = Unmanaged<Box>.fromOpaque(argument).takeRetainedValue()
#else
            let box = Unmanaged<Box>.fromOpaque(argument!).takeRetainedValue()
#endif
            nameCurrentThread(box.name)
            if box.lowPriority { ShardPipeline.lowerPriority() }
            box.body()
            return nil
        }, box.toOpaque())
        if result != 0 {
            box.release()
            throw FileSystemError("pthread_create", "snapshot writer thread", errno: result)
        }
#if canImport(Darwin)
        return handle!
#else
        return handle
#endif
    }

    /// Puts the calling thread (only) at the lowest scheduling priority.
    static func lowerPriority() {
#if os(Linux)
        var parameters = sched_param()
        parameters.sched_priority = 0
        // SCHED_IDLE (5): runs only when no other thread wants the CPU. With pid 0 Linux applies it to this thread.
        if sched_setscheduler(0, 5, &parameters) != 0 {
            _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 19)
        }
#endif
        // Elsewhere the thread keeps its priority (setpriority would lower the whole process).
    }
}

/// Where a save's copied shards go: ``ShardPipeline`` (a thread serializes, compresses and writes them) or
/// ``StepEncoder`` (the event loops serialize and compress them, a thread writes).
protocol ShardSink: AnyObject {
    /// Queues a copy, waiting while enough wait already; throws the other side's error if it failed.
    func put(_ shard: KeyspaceCapture.CapturedShard) throws
    /// Copies the sink is done with since the last call (to recycle).
    func takeFinished() -> [KeyspaceCapture.CapturedShard]
    /// No more copies will come.
    func close()
    /// The other side's error, if it failed.
    var error: (any Error)? { get }
}
