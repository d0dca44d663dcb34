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
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Under `mutex`.
    private var ready: [IndexHandle] = []
    private var sleeping = false
    private var stopped = false
    private var started = false
    /// The indexes this worker serves, for writing new documents' IDs back into their hashes.
    weak var owner: SearchIndexes?

    init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Queues `handle` for the worker, starting the thread the first time.
    func enqueue(_ handle: IndexHandle) {
        pthread_mutex_lock(mutex)
        guard !stopped else {
            pthread_mutex_unlock(mutex)
            return
        }
        ready.append(handle)
        let wake = sleeping
        if wake { sleeping = false }
        let start = !started
        started = true
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
        if start { startThread() }
    }

    /// Stops the thread once it has finished the batch it is applying (what is still pending stays for readers).
    func stop() {
        pthread_mutex_lock(mutex)
        stopped = true
        ready = []
        let wake = sleeping
        pthread_mutex_unlock(mutex)
        if wake { pthread_cond_signal(condition) }
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
            pthread_mutex_lock(mutex)
            while ready.isEmpty && !stopped {
                sleeping = true
                pthread_cond_wait(condition, mutex)
            }
            sleeping = false
            if stopped {
                pthread_mutex_unlock(mutex)
                return
            }
            let handles = ready
            ready.removeAll(keepingCapacity: true)
            pthread_mutex_unlock(mutex)
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
