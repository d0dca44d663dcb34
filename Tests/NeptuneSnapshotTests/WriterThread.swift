#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// Tells writer threads to stop.
final class StopFlag: Sendable {
    let flag = Atomic<Bool>(false)
}

/// A thread running `body` once; ``join()`` waits for it and returns its result.
final class WriterThread: @unchecked Sendable {
    private let body: @Sendable () -> Int
    private var result = 0
    private var handle = pthread_t()

    init(_ body: @escaping @Sendable () -> Int) {
        self.body = body
        let started = pthread_create(&handle, nil, { argument in
            let thread = Unmanaged<WriterThread>.fromOpaque(argument!).takeRetainedValue()
            thread.result = thread.body()
            return nil
        }, Unmanaged.passRetained(self).toOpaque())
        precondition(started == 0, "pthread_create failed: \(started)")
    }

    func join() -> Int {
        pthread_join(handle, nil)
        return result
    }
}
