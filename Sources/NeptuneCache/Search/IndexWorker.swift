#if os(Linux)
import CNeptuneLinux
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The thread that applies writes captured for the indexes (``IndexHandle/capture(_:key:document:hinted:)``), so
/// that the thread serving the write spends on an indexed write only the copy of its values.
///
/// A handle is queued here once its pending writes reach ``SearchIndexes/workerWakeThreshold``: the worker wakes
/// (one `pthread_cond_signal` per batch, not per write) and applies the batch under the index's lock. Nothing waits
/// for it: every reader of an index applies whatever is still pending first (``IndexHandle/withIndex(_:)``), so a
/// query sees every write that came before it, and a write that finds too much pending applies it itself.
final class IndexWorker: @unchecked Sendable {
    private let monitor = MutexCondition()
    // Under `monitor`.
    private var ready: [IndexHandle] = []
    private var sleeping = false
    private var stopped = false
    private var started = false
    /// The indexes this worker serves, for writing new documents' IDs back into their hashes.
    weak var owner: SearchIndexes?

    /// Queues `handle` for the worker, starting the thread the first time.
    func enqueue(_ handle: IndexHandle) {
        let (wake, start) = monitor.locked { () -> (Bool, Bool) in
            guard !stopped else { return (false, false) }
            ready.append(handle)
            let wake = sleeping
            sleeping = false
            let start = !started
            started = true
            return (wake, start)
        }
        if wake { monitor.signal() }
        if start { startThread() }
    }

    /// Stops the thread once it has finished the batch it is applying (what is still pending stays for readers).
    func stop() {
        let wake = monitor.locked { () -> Bool in
            stopped = true
            ready = []
            return sleeping
        }
        if wake { monitor.signal() }
    }

    private func startThread() {
        let box = Unmanaged.passRetained(self)
        var thread = pthread_t()
        let result = pthread_create(&thread, nil, { argument in
            let worker = Unmanaged<IndexWorker>.fromOpaque(argument!).takeRetainedValue()
#if os(Linux)
            neptune_set_thread_name("neptune-index")
#endif
            worker.run()
            return nil
        }, box.toOpaque())
        if result == 0 {
            pthread_detach(thread)
        } else {
            // No thread: the writes are applied by readers and by the writers that find too much pending.
            box.release()
        }
    }

    private func run() {
        let newHints = PendingIndexWrites(fieldCount: 0)
        while true {
            let handles = monitor.locked { () -> [IndexHandle]? in
                while ready.isEmpty && !stopped {
                    sleeping = true
                    monitor.wait()
                }
                sleeping = false
                if stopped { return nil }
                let handles = ready
                ready.removeAll(keepingCapacity: true)
                return handles
            }
            guard let handles else { return }
            for handle in handles {
                handle.applyPending(newHints: newHints)
                if newHints.count > 0 {
                    owner?.writeBackHints(newHints, of: handle)
                    newHints.removeAll()
                }
            }
        }
    }
}
