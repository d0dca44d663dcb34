#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A pthread mutex with one condition variable, for hand-offs between threads (the snapshot's pipeline, the index
/// worker): the state it guards is read and changed only inside ``locked(_:)``; a thread waiting for that state to
/// change calls ``wait()`` or ``wait(nanoseconds:)`` there, and a thread that changed it calls ``broadcast()`` (or
/// ``signal()`` when one waiter is enough).
///
/// A raw pthread pair rather than `Mutex` because the waits must release the lock while they sleep.
package final class MutexCondition: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let condition = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)

    package init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(condition, nil)
    }

    deinit {
        pthread_cond_destroy(condition)
        pthread_mutex_destroy(mutex)
        condition.deallocate()
        mutex.deallocate()
    }

    /// Runs `body` holding the mutex.
    package func locked<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body()
    }

    /// Sleeps until a ``broadcast()`` (or a spurious wake-up: callers wait in a loop over their condition). Only
    /// inside ``locked(_:)``.
    package func wait() {
        pthread_cond_wait(condition, mutex)
    }

    /// ``wait()``, returning after `nanoseconds` at the latest. Only inside ``locked(_:)``.
    package func wait(nanoseconds: Int) {
        var deadline = timespec()
        clock_gettime(CLOCK_REALTIME, &deadline)
        let total = Int(deadline.tv_nsec) + nanoseconds
        deadline.tv_sec += total / 1_000_000_000
        deadline.tv_nsec = total % 1_000_000_000
        pthread_cond_timedwait(condition, mutex, &deadline)
    }

    /// Wakes every thread waiting in ``wait()``. Inside ``locked(_:)``, after changing the guarded state.
    package func broadcast() {
        pthread_cond_broadcast(condition)
    }

    /// Wakes one thread waiting in ``wait()``. Inside ``locked(_:)`` or just after it, once the guarded state changed.
    package func signal() {
        pthread_cond_signal(condition)
    }
}
