#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Samples ranks `1 ... count` with probability proportional to `1 / rank^exponent`.
///
/// Sampling is rejection-inversion (W. Hörmann and G. Derflinger, "Rejection-inversion to generate variates from
/// monotone discrete distributions", 1996): constant time and memory per sample for any key count, with no table of
/// harmonic numbers, and valid for every positive exponent (including 1 and above).
///
/// - Complexity: O(1) setup, O(1) expected time per sample (a few `log`/`exp` calls).
public struct ZipfDistribution: Sendable {
    /// The number of ranks; samples are in `1 ... count`.
    public let count: Int
    /// The skew `s`: rank `k` has weight `k^-s`.
    public let exponent: Double

    private let lowerArea: Double
    private let upperArea: Double
    private let squeeze: Double

    /// Creates a distribution.
    /// - Parameters:
    ///   - count: The number of ranks, at least 1.
    ///   - exponent: The skew, greater than 0 (0.99 is the usual "hot keys" workload).
    public init(count: Int, exponent: Double) {
        precondition(count >= 1, "a Zipf distribution needs at least one rank")
        precondition(exponent > 0 && exponent.isFinite, "the Zipf exponent must be positive")
        self.count = count
        self.exponent = exponent
        // The hat function is h(x) = x^-s, with H its integral from 1. Rank k owns the area
        // [H(k + 1/2) - h(k), H(k + 1/2)], so the first rank starts at H(3/2) - h(1).
        self.lowerArea = Self.integral(1.5, exponent) - 1
        self.upperArea = Self.integral(Double(count) + 0.5, exponent)
        self.squeeze = 2 - Self.integralInverse(Self.integral(2.5, exponent) - Self.hat(2, exponent), exponent)
    }

    /// Draws one rank.
    /// - Parameter random: The generator to draw from.
    /// - Returns: A rank in `1 ... count`; rank 1 is the most frequent.
    @inline(__always)
    public func sample(using random: inout BenchmarkRandom) -> Int {
        while true {
            let u = self.upperArea + random.nextUnitInterval() * (self.lowerArea - self.upperArea)
            let x = Self.integralInverse(u, self.exponent)
            var k = Int(x + 0.5)
            if k < 1 {
                k = 1
            } else if k > self.count {
                k = self.count
            }
            let rank = Double(k)
            if rank - x <= self.squeeze {
                return k
            }
            if u >= Self.integral(rank + 0.5, self.exponent) - Self.hat(rank, self.exponent) {
                return k
            }
        }
    }

    /// h(x) = x^-s.
    @inline(__always)
    private static func hat(_ x: Double, _ s: Double) -> Double {
        exp(-s * log(x))
    }

    /// H(x) = (x^(1-s) - 1) / (1 - s), written so that it stays exact when s is close to 1 (where H(x) = log x).
    @inline(__always)
    private static func integral(_ x: Double, _ s: Double) -> Double {
        let logX = log(x)
        return expm1OverX((1 - s) * logX) * logX
    }

    /// The inverse of H: (1 + (1 - s) y)^(1 / (1 - s)), again stable near s = 1.
    @inline(__always)
    private static func integralInverse(_ y: Double, _ s: Double) -> Double {
        var t = y * (1 - s)
        if t < -1 {
            // Only reachable through rounding at the far end of the range.
            t = -1
        }
        return exp(log1pOverX(t) * y)
    }

    /// log(1 + x) / x, with its Taylor series near 0.
    @inline(__always)
    private static func log1pOverX(_ x: Double) -> Double {
        if abs(x) > 1e-8 {
            return log1p(x) / x
        }
        return 1 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }

    /// (e^x - 1) / x, with its Taylor series near 0.
    @inline(__always)
    private static func expm1OverX(_ x: Double) -> Double {
        if abs(x) > 1e-8 {
            return expm1(x) / x
        }
        return 1 + x * 0.5 * (1 + x / 3 * (1 + 0.25 * x))
    }
}
