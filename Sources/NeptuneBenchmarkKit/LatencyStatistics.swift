public import Histogram

/// Completed requests, error replies and a latency histogram for one command (or for all of them).
///
/// Latencies are recorded in microseconds in an HdrHistogram with three significant digits, so values are exact
/// to 1 µs up to 2 ms and within 0.1% above; the histogram grows as needed, so no latency is dropped.
public struct LatencyStatistics: Sendable {
    /// Completed requests (replies received).
    public private(set) var requests: UInt64 = 0
    /// Replies that were errors.
    public private(set) var errors: UInt64 = 0
    /// Latencies in microseconds.
    public private(set) var histogram: Histogram<UInt64>

    /// Creates empty statistics.
    public init() {
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1,
            highestTrackableValue: 60_000_000,
            numberOfSignificantValueDigits: .three
        )
        histogram.autoResize = true
        self.histogram = histogram
    }

    /// Records one completed request.
    /// - Parameters:
    ///   - microseconds: Its latency.
    ///   - isError: Whether the reply was an error.
    @inline(__always)
    public mutating func record(microseconds: UInt64, isError: Bool) {
        self.requests &+= 1
        if isError {
            self.errors &+= 1
        }
        self.histogram.record(microseconds)
    }

    /// Adds another set of statistics to this one.
    /// - Parameter other: The statistics to add.
    public mutating func merge(_ other: LatencyStatistics) {
        self.requests &+= other.requests
        self.errors &+= other.errors
        self.histogram.add(other.histogram)
    }

    /// The recorded latencies as histogram buckets: each non-empty bucket's highest equivalent value in microseconds
    /// and its count, in increasing order.
    ///
    /// Reports of several runs recorded with the same precision merge exactly by adding the counts of equal values, so
    /// a percentile over several runs can be taken from their buckets.
    /// - Returns: One `(microseconds, count)` pair per non-empty bucket.
    public func buckets() -> [(microseconds: UInt64, count: UInt64)] {
        self.histogram.recordedValues().map { value in
            (self.histogram.highestEquivalentForValue(value.value), UInt64(value.count))
        }
    }

    /// The latency at a percentile, in milliseconds.
    /// - Parameter percentile: A percentile in `0 ... 100`.
    /// - Returns: The latency that `percentile`% of requests did not exceed; 0 when nothing was recorded.
    public func milliseconds(atPercentile percentile: Double) -> Double {
        guard self.histogram.totalCount > 0 else {
            return 0
        }
        return Double(self.histogram.valueAtPercentile(percentile)) / 1000
    }

    /// The highest latency recorded, in milliseconds.
    public var maximumMilliseconds: Double {
        self.histogram.totalCount > 0 ? Double(self.histogram.maxRecorded) / 1000 : 0
    }

    /// The lowest latency recorded, in milliseconds.
    public var minimumMilliseconds: Double {
        self.histogram.totalCount > 0 ? Double(self.histogram.min) / 1000 : 0
    }

    /// The mean latency, in milliseconds.
    public var meanMilliseconds: Double {
        self.histogram.totalCount > 0 ? self.histogram.mean / 1000 : 0
    }

    /// The latency distribution as (percentile, milliseconds) points, denser towards 100%, for plots.
    /// - Parameter ticksPerHalfDistance: Points per halving of the distance to 100%.
    /// - Returns: Points in increasing percentile order, ending at 100.
    public func percentileCurve(ticksPerHalfDistance: Int = 5) -> [(percentile: Double, milliseconds: Double)] {
        guard self.histogram.totalCount > 0 else {
            return []
        }
        let maximum = self.histogram.maxRecorded
        return self.histogram.percentiles(ticksPerHalfDistance: ticksPerHalfDistance).map { value in
            (value.percentileLevelIteratedTo, Double(min(value.value, maximum)) / 1000)
        }
    }
}
