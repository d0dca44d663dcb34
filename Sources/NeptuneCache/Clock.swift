#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The wall clock the engine reads for expiry, in Unix milliseconds. Inject ``ManualClock`` in tests.
public protocol NeptuneClock: Sendable {
    /// The current time in milliseconds since the Unix epoch.
    func milliseconds() -> Int64
    /// The current time in microseconds since the Unix epoch (for TIME).
    func microseconds() -> Int64
    /// The current time in milliseconds since the Unix epoch, possibly a few milliseconds behind: good enough for
    /// the per-key access clock (seconds), and cheaper where reading the precise time is a system call.
    func coarseMilliseconds() -> Int64
}

extension NeptuneClock {
    public func microseconds() -> Int64 { milliseconds() * 1000 }
    public func coarseMilliseconds() -> Int64 { milliseconds() }
}

/// The system's real-time clock.
public struct SystemClock: NeptuneClock {
    public init() {}

    public func milliseconds() -> Int64 {
        microseconds() / 1000
    }

    public func microseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
    }

    /// The time of the last timer tick (a few milliseconds of resolution), read without a system call.
    public func coarseMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
