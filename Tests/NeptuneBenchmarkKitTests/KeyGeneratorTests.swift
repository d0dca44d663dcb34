import Foundation
import NeptuneBenchmarkKit
import Testing

@Suite struct KeyGeneratorTests {
    @Test func zipfFrequenciesFallWithRank() {
        var random = BenchmarkRandom(seed: 42)
        var keys = KeyGenerator(pattern: .zipf, keyspace: 1000, zipfExponent: 0.99)
        var counts = [Int](repeating: 0, count: 1000)
        let samples = 200_000
        for _ in 0..<samples {
            counts[keys.next(using: &random)] += 1
        }
        // The hottest ranks are strictly ordered, and the head dominates the tail.
        for rank in 0..<5 {
            #expect(counts[rank] > counts[rank + 1], "rank \(rank) should be drawn more often than rank \(rank + 1)")
        }
        let head: Int = counts[0..<10].reduce(0, +)
        let tail: Int = counts[500..<1000].reduce(0, +)
        #expect(head > tail / 2)
        // Rank 1's share matches 1 / H(1000, 0.99) within a few percent.
        let harmonic = (1...1000).reduce(0.0) { $0 + 1 / pow(Double($1), 0.99) }
        let expected = Double(samples) / harmonic
        #expect(abs(Double(counts[0]) - expected) < expected * 0.05)
        // Rank 2's share is about 2^-0.99 of rank 1's.
        let ratio = Double(counts[1]) / Double(counts[0])
        #expect(abs(ratio - 1 / pow(2.0, 0.99)) < 0.05)
    }

    @Test(arguments: [0.5, 1.0, 1.5])
    func zipfStaysInRangeForAnySkew(skew: Double) {
        var random = BenchmarkRandom(seed: 7)
        var keys = KeyGenerator(pattern: .zipf, keyspace: 50, zipfExponent: skew)
        var counts = [Int](repeating: 0, count: 50)
        for _ in 0..<50_000 {
            let key = keys.next(using: &random)
            #expect((0..<50).contains(key))
            counts[key] += 1
        }
        #expect(counts[0] > counts[1])
        #expect(counts[1] > counts[10])
        #expect(counts[10] >= counts[49])
    }

    @Test func zipfWithOneKeyAlwaysReturnsIt() {
        var random = BenchmarkRandom(seed: 1)
        var keys = KeyGenerator(pattern: .zipf, keyspace: 1, zipfExponent: 0.99)
        for _ in 0..<100 {
            #expect(keys.next(using: &random) == 0)
        }
    }

    @Test func uniformCoversTheKeyspaceEvenly() {
        var random = BenchmarkRandom(seed: 3)
        var keys = KeyGenerator(pattern: .uniform, keyspace: 10)
        var counts = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 {
            counts[keys.next(using: &random)] += 1
        }
        for count in counts {
            #expect(abs(count - 10_000) < 600)
        }
    }

    @Test func sequentialStartsAtItsOffsetAndWraps() {
        var random = BenchmarkRandom(seed: 0)
        var keys = KeyGenerator(pattern: .sequential, keyspace: 5, sequentialStart: 3)
        let drawn = (0..<7).map { _ in keys.next(using: &random) }
        #expect(drawn == [3, 4, 0, 1, 2, 3, 4])
    }

    @Test func sameSeedGivesSameKeys() {
        func draw(seed: UInt64) -> [Int] {
            var random = BenchmarkRandom(seed: seed)
            var keys = KeyGenerator(pattern: .zipf, keyspace: 1_000_000)
            return (0..<100).map { _ in keys.next(using: &random) }
        }
        #expect(draw(seed: 9) == draw(seed: 9))
        #expect(draw(seed: 9) != draw(seed: 10))
    }
}
