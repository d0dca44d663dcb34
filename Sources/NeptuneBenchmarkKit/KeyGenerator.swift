/// How keys are picked from the keyspace.
public enum KeyPattern: String, Sendable, CaseIterable, Codable {
    /// Every key equally likely.
    case uniform
    /// Keys in index order, wrapping at the end of the keyspace.
    case sequential
    /// Key index `i` drawn with probability proportional to `1 / (i + 1)^skew`: index 0 is the hottest key.
    case zipf
}

/// Produces key indices in `0 ..< keyspace` following a ``KeyPattern``.
public struct KeyGenerator: Sendable {
    private enum Kind: Sendable {
        case uniform
        case sequential
        case zipf(ZipfDistribution)
    }

    /// The number of distinct keys.
    public let keyspace: Int
    private let kind: Kind
    private var nextSequential: Int

    /// Creates a generator.
    /// - Parameters:
    ///   - pattern: The distribution of key indices.
    ///   - keyspace: The number of keys, at least 1.
    ///   - zipfExponent: The skew used by ``KeyPattern/zipf``.
    ///   - sequentialStart: The first index returned by ``KeyPattern/sequential``.
    public init(pattern: KeyPattern, keyspace: Int, zipfExponent: Double = 0.99, sequentialStart: Int = 0) {
        precondition(keyspace >= 1, "the keyspace needs at least one key")
        self.keyspace = keyspace
        self.nextSequential = ((sequentialStart % keyspace) + keyspace) % keyspace
        switch pattern {
        case .uniform:
            self.kind = .uniform
        case .sequential:
            self.kind = .sequential
        case .zipf:
            self.kind = .zipf(ZipfDistribution(count: keyspace, exponent: zipfExponent))
        }
    }

    /// Returns the next key index.
    /// - Parameter random: The generator used by the random patterns.
    /// - Returns: An index in `0 ..< keyspace`.
    @inline(__always)
    public mutating func next(using random: inout BenchmarkRandom) -> Int {
        switch self.kind {
        case .uniform:
            return random.nextIndex(below: self.keyspace)
        case .sequential:
            let index = self.nextSequential
            self.nextSequential = index + 1 == self.keyspace ? 0 : index + 1
            return index
        case .zipf(let distribution):
            return distribution.sample(using: &random) - 1
        }
    }
}
