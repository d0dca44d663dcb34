#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// A shard's mutex, reentrant for the thread that holds it.
///
/// The dispatcher locks every shard a write command touches before running it (so the command and its journal
/// record happen atomically, in the same order for every key), and the command's body locks the same shards again
/// through the ordinary key helpers; reentrancy makes that second acquisition a counter increment.
///
/// The mutex is Synchronization's `Mutex` (a futex word taken with one compare-and-exchange, inlined) rather than
/// a `pthread_mutex_t`, whose lock and unlock are calls into libc of some 30 instructions each.
final class ShardLock: @unchecked Sendable {
    private let mutex = Mutex<Void>(())
    private let owner = Atomic<UInt>(0)
    // Only touched by the owning thread.
    private var depth = 0
    /// The shard this lock guards.
    let shardIndex: Int

    init(shardIndex: Int = 0) {
        self.shardIndex = shardIndex
    }

    @inline(__always)
    func lock() {
        let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        if owner.load(ordering: .relaxed) == me {
            depth &+= 1
            return
        }
        mutex._unsafeLock()
        owner.store(me, ordering: .relaxed)
        depth = 1
    }

    @inline(__always)
    func unlock() {
        depth &-= 1
        if depth == 0 {
            owner.store(0, ordering: .relaxed)
            mutex._unsafeUnlock()
        }
    }

    /// Takes the lock if it is free or already held by this thread; never waits. The evictor uses it so that it
    /// can never deadlock with a command holding shards in another order.
    func tryLock() -> Bool {
        let me = UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
        if owner.load(ordering: .relaxed) == me {
            depth &+= 1
            return true
        }
        guard mutex._unsafeTryLock() else { return false }
        owner.store(me, ordering: .relaxed)
        depth = 1
        return true
    }

    @inline(__always)
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        lock()
        defer { unlock() }
        return try body()
    }
}
