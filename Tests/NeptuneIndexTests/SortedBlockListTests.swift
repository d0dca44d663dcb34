@testable import NeptuneIndex
import Testing

@Suite struct SortedBlockListTests {
    @Test func randomInsertsAndRemovesMatchASortedSet() {
        var rng = SplitMix(seed: 7)
        var list = SortedBlockList<Int>()
        var reference = Set<Int>()
        for step in 0..<20_000 {
            let value = Int(rng.next() % 3000)
            if rng.next() % 3 == 0 {
                #expect(list.remove(value) == (reference.remove(value) != nil))
            } else {
                #expect(list.insert(value) == reference.insert(value).inserted)
            }
            if step % 997 == 0 {
                list.checkInvariants()
                #expect(list.elements == reference.sorted())
            }
        }
        #expect(list.count == reference.count)
        #expect(list.elements == reference.sorted())
        #expect(list.blocks.count > 1, "enough elements to split blocks")
    }

    @Test func positionsAndDistancesBoundRanges() {
        var list = SortedBlockList<Int>()
        for v in stride(from: 0, to: 5000, by: 2) { list.insert(v) }  // even numbers
        let from = list.position(atLeast: 101)  // 102
        let to = list.position(above: 1999)  // after 1998
        #expect(list.distance(from: from, to: to) == (1998 - 102) / 2 + 1)
        var seen: [Int] = []
        list.forEach(from: from, to: to) { seen.append($0); return true }
        #expect(seen.first == 102 && seen.last == 1998 && seen.count == 949)
        var reversed: [Int] = []
        list.forEachReversed(before: list.position(atLeast: 10)) { reversed.append($0); return true }
        #expect(reversed == [8, 6, 4, 2, 0])
        #expect(list.contains(4000) && !list.contains(4001))
        #expect(list.distance(from: list.position(atLeast: 6000), to: list.endPosition) == 0)
    }
}

/// A small deterministic generator for reproducible random tests.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
