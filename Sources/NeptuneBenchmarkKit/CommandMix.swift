/// A deterministic, evenly interleaved order of commands that honours integer weights (`--ratio 1:10`).
///
/// Weights are reduced by their greatest common divisor and spread with smooth weighted round-robin, so `1:3`
/// becomes `B A B B` rather than `A B B B`: writes are spread over the cycle instead of arriving in bursts.
public struct CommandMix: Sendable, Hashable {
    /// Template indices in sending order; the sequence repeats.
    public let cycle: [Int]

    /// The largest cycle accepted; finer ratios are rejected.
    public static let maximumCycleLength = 1_000_000

    /// Creates a mix.
    /// - Parameter weights: One non-negative weight per template; at least one must be positive.
    /// - Throws: ``BenchmarkError`` with code ``BenchmarkError/Code/invalidConfiguration`` when every weight is 0,
    ///   a weight is negative, or the reduced weights sum to more than ``maximumCycleLength``.
    public init(weights: [Int]) throws(BenchmarkError) {
        guard weights.allSatisfy({ $0 >= 0 }), weights.contains(where: { $0 > 0 }) else {
            throw .invalidConfiguration("the command ratio needs non-negative weights, at least one of them positive")
        }
        let divisor = weights.filter { $0 > 0 }.reduce(0, greatestCommonDivisor)
        let reduced = weights.map { $0 / divisor }
        let total = reduced.reduce(0, +)
        guard total <= Self.maximumCycleLength else {
            throw .invalidConfiguration("the command ratio is too fine: its reduced weights sum to more than 1000000")
        }
        var current = [Int](repeating: 0, count: reduced.count)
        var cycle: [Int] = []
        cycle.reserveCapacity(total)
        for _ in 0..<total {
            var best = -1
            for index in reduced.indices where reduced[index] > 0 {
                current[index] += reduced[index]
                if best < 0 || current[index] > current[best] {
                    best = index
                }
            }
            current[best] -= total
            cycle.append(best)
        }
        self.cycle = cycle
    }
}

private func greatestCommonDivisor(_ a: Int, _ b: Int) -> Int {
    var (x, y) = (a, b)
    while y != 0 {
        (x, y) = (y, x % y)
    }
    return x
}
