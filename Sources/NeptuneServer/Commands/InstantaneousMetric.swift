import Synchronization

/// A rate in the manner of Redis's instantaneous metrics (`instantaneous_ops_per_sec`, `..._kbps`): the mean of the
/// last 16 per-second rates, each measured between two readings of a growing counter at least 100 ms apart.
///
/// Whoever reads the rate records a reading first; a periodic task may record more often for a steadier figure.
public final class InstantaneousMetric: Sendable {
    /// The number of rates averaged, as Redis's `STATS_METRIC_SAMPLES`.
    public static let sampleCount = 16
    /// The shortest interval between two readings that makes a sample.
    public static let minimumInterval: Int64 = 100

    private struct State {
        var lastTime: Int64?
        var lastReading = 0
        var samples: [Int] = []
        var next = 0
    }

    private let state = Mutex(State())

    public init() {}

    /// Records a reading of the counter.
    ///
    /// - Parameters:
    ///   - reading: The counter's value now (commands processed, bytes read ...).
    ///   - now: The time of the reading, in milliseconds.
    public func record(_ reading: Int, now: Int64) {
        state.withLock { state in
            guard let lastTime = state.lastTime else {
                state.lastTime = now
                state.lastReading = reading
                return
            }
            let elapsed = now - lastTime
            guard elapsed >= Self.minimumInterval else { return }
            let rate = max(0, reading - state.lastReading) * 1000 / Int(elapsed)
            if state.samples.count < Self.sampleCount {
                state.samples.append(rate)
            } else {
                state.samples[state.next] = rate
            }
            state.next = (state.next + 1) % Self.sampleCount
            state.lastTime = now
            state.lastReading = reading
        }
    }

    /// The mean of the recorded rates, per second (0 before two readings).
    public var perSecond: Int {
        state.withLock { state in
            state.samples.isEmpty ? 0 : state.samples.reduce(0, +) / state.samples.count
        }
    }

    /// Forgets every sample (CONFIG RESETSTAT).
    public func reset() {
        state.withLock { $0 = State() }
    }
}
