@testable import NeptuneIndex
import Testing

/// The NUMERIC field's blocks (ordered between blocks, unordered inside): random moves of documents between values,
/// with many equal values, checked against a sorted model: the partition invariants, counts and entries of ranges
/// with inclusive, exclusive and infinite bounds, and ascending and descending streaming.
@Suite struct NumericBlocksTests {
    static func randomRange(_ rng: inout SplitMix) -> NumericRange {
        let a = Double(Int(rng.next() % 120) - 10)
        let b = a + Double(rng.next() % 40)
        return NumericRange(
            min: rng.next() % 8 == 0 ? -.infinity : a, minInclusive: rng.next() % 2 == 0,
            max: rng.next() % 8 == 0 ? .infinity : b, maxInclusive: rng.next() % 2 == 0
        )
    }

    @Test(arguments: [1, 2, 3])
    func randomMovesMatchASortedModel(seed: UInt64) {
        var rng = SplitMix(seed: seed)
        var blocks = NumericBlocks()
        var values: [UInt32: Double] = [:]
        let documents: UInt64 = seed == 3 ? 5000 : 600
        for step in 0..<20_000 {
            let document = UInt32(rng.next() % documents)
            // Few distinct values (many equal ones), some halves, and negative zero beside zero.
            let value = rng.next() % 50 == 0 ? -0.0 : Double(Int(rng.next() % 100)) / (rng.next() % 3 == 0 ? 2 : 1)
            if let old = values[document] {
                let removed = blocks.remove(NumericEntry(value: old, document: document))
                #expect(removed)
            }
            if rng.next() % 7 == 0 {
                values[document] = nil
            } else {
                values[document] = value
                blocks.insert(NumericEntry(value: value, document: document))
            }
            if step % 500 == 0 {
                #expect(blocks.isConsistent, "step \(step)")
                #expect(blocks.count == values.count)
                for _ in 0..<10 {
                    let range = Self.randomRange(&rng)
                    let expected = values.filter { range.contains($0.value) }.map(\.key).sorted()
                    var found: [UInt32] = []
                    blocks.forEach(in: range) { found.append($0.document) }
                    #expect(blocks.count(in: range) == expected.count, "\(range)")
                    #expect(found.sorted() == expected, "\(range)")
                }
            }
        }
        let removedAbsent = blocks.remove(NumericEntry(value: 1000, document: 0))
        #expect(!removedAbsent, "an absent entry is not removed")
        let sorted = values.map { NumericEntry(value: $0.value, document: $0.key) }.sorted()
        #expect(blocks.elements == sorted)
        var descending: [NumericEntry] = []
        blocks.forEachDescending {
            descending.append($0)
            return true
        }
        #expect(descending == sorted.reversed())
        // Streaming stops when asked.
        var firstFive: [NumericEntry] = []
        blocks.forEachAscending {
            firstFive.append($0)
            return firstFive.count < 5
        }
        #expect(firstFive == Array(sorted.prefix(5)))
        // Emptied, the blocks go.
        for (document, value) in values { blocks.remove(NumericEntry(value: value, document: document)) }
        #expect(blocks.isEmpty && blocks.blockCount == 0 && blocks.isConsistent)
    }

    /// Many blocks (several summary runs): ascending inserts (each above every bound, so the last block's bound
    /// rises and it splits), then random moves that split and merge blocks all over, checked against a model, with
    /// blocks emptied and their slots reused.
    /// Entries are packed (a 4-byte ID, then an 8-byte value loaded unaligned, 12 bytes each), so some values cross
    /// a cache line: every value's exact bits survive appends, removals that move the last entry into the hole,
    /// changes in place and the split of a full block.
    @Test func packedEntriesKeepEveryValuesBits() {
        var blocks = NumericBlocks(positions: DocumentBytes())
        blocks.positions?.reserve(ids: 600)
        // Values whose bytes all differ, so that a misplaced or torn 8-byte load shows.
        func value(_ d: UInt32, _ round: Int) -> Double { Double(d) * 1.000_000_123_456_7 + Double(round) * 1e-7 }
        var model: [UInt32: Double] = [:]
        for d in UInt32(0)..<UInt32(NumericBlocks.maxBlock) {
            blocks.insert(NumericEntry(value: value(d, 0), document: d))
            model[d] = value(d, 0)
        }
        #expect(blocks.blockCount == 1)
        #expect(Set(blocks.entries(ofBlock: 0).map(\.document)) == Set(model.keys))
        // Past a full block: splits; then removals and changes in place all over the blocks.
        for d in UInt32(NumericBlocks.maxBlock)..<500 {
            blocks.insert(NumericEntry(value: value(d, 0), document: d))
            model[d] = value(d, 0)
        }
        #expect(blocks.blockCount > 3)
        for d in stride(from: UInt32(0), to: 500, by: 3) {
            let removed = blocks.remove(NumericEntry(value: model[d]!, document: d))
            #expect(removed)
            model[d] = nil
        }
        for d in stride(from: UInt32(1), to: 500, by: 3) {
            let new = NumericEntry(value: model[d]! + 1e-9, document: d)
            if !blocks.replaceInPlace(NumericEntry(value: model[d]!, document: d), with: new) {
                let removed = blocks.remove(NumericEntry(value: model[d]!, document: d))
                #expect(removed)
                blocks.insert(new)
            }
            model[d] = new.value
        }
        #expect(blocks.isConsistent)
        var seen: [UInt32: Double] = [:]
        for b in 0..<blocks.blockCount {
            for entry in blocks.entries(ofBlock: b) { seen[entry.document] = entry.value }
        }
        #expect(seen == model)
    }

    @Test func manyBlocksKeepTheSummaryAndSlots() {
        var rng = SplitMix(seed: 7)
        var blocks = NumericBlocks()
        var values: [UInt32: Double] = [:]
        for document in 0..<UInt32(20_000) {
            values[document] = Double(document)
            blocks.insert(NumericEntry(value: Double(document), document: document))
        }
        #expect(blocks.isConsistent)
        #expect(blocks.blockCount > 4 * NumericBlocks.run, "several summary runs")
        for step in 0..<60_000 {
            let document = UInt32(rng.next() % 20_000)
            if let old = values[document] {
                let removed = blocks.remove(NumericEntry(value: old, document: document))
                #expect(removed)
                values[document] = nil
            }
            // Moves concentrate on a band that drifts, so whole regions empty and others fill.
            if rng.next() % 4 != 0 {
                let value = Double((step / 100 + Int(rng.next() % 3_000)) % 20_000)
                values[document] = value
                blocks.insert(NumericEntry(value: value, document: document))
            }
            if step % 5_000 == 0 { #expect(blocks.isConsistent, "step \(step)") }
        }
        #expect(blocks.isConsistent)
        #expect(blocks.count == values.count)
        for _ in 0..<50 {
            let low = Double(rng.next() % 20_000)
            let range = NumericRange(min: low, max: low + Double(rng.next() % 500))
            let expected = values.filter { range.contains($0.value) }.map(\.key).sorted()
            var found: [UInt32] = []
            blocks.forEach(in: range) { found.append($0.document) }
            #expect(found.sorted() == expected)
            #expect(blocks.count(in: range) == expected.count)
        }
        #expect(blocks.elements == values.map { NumericEntry(value: $0.value, document: $0.key) }.sorted())
    }

    /// The median selection a split uses puts the k-th entry of the sorted order at k, with only smaller entries
    /// before it and only larger ones after, for orders that defeat a naive pivot (sorted, reversed, organ pipe,
    /// one value with many documents) and random ones.
    @Test func selectionPlacesTheKthEntry() {
        var rng = SplitMix(seed: 11)
        var cases: [[NumericEntry]] = []
        for n in [1, 2, 3, 5, 64, 127, 128, 200] {
            let ascending = (0..<n).map { NumericEntry(value: Double($0), document: UInt32($0)) }
            cases.append(ascending)
            cases.append(ascending.reversed())
            cases.append((0..<n).map { NumericEntry(value: Double(min($0, n - $0)), document: UInt32($0)) })
            cases.append((0..<n).map { NumericEntry(value: 5, document: UInt32(n - $0)) })
            for _ in 0..<20 {
                cases.append((0..<n).map { NumericEntry(value: Double(rng.next() % 10), document: UInt32($0)) })
            }
        }
        for entries in cases {
            let sorted = entries.sorted()
            let n = entries.count
            for k in Set([0, n / 2 - 1, n / 2, n - 1, Int(rng.next() % UInt64(n))]) where entries.indices.contains(k) {
                var selected = entries
                NumericBlocks.select(&selected, k)
                #expect(selected[k] == sorted[k], "n \(entries.count) k \(k)")
                #expect(selected[..<k].allSatisfy { $0 < selected[k] })
                #expect(selected[(k + 1)...].allSatisfy { selected[k] < $0 })
                #expect(selected.sorted() == sorted, "a permutation")
            }
        }
    }

    /// Splits by median keep every block's entries above the previous bound and at most its own (the check reads
    /// every entry), whatever the order the entries come in: ascending and descending values, one value with
    /// ascending or descending documents, and alternating ends.
    @Test(arguments: 0..<5)
    func splitsKeepEveryBlockBetweenItsBounds(order: Int) {
        var blocks = NumericBlocks()
        var inserted: [NumericEntry] = []
        let n = 5_000
        for i in 0..<n {
            let entry: NumericEntry
            switch order {
            case 0: entry = NumericEntry(value: Double(i), document: UInt32(i))
            case 1: entry = NumericEntry(value: Double(n - i), document: UInt32(i))
            case 2: entry = NumericEntry(value: 1, document: UInt32(i))
            case 3: entry = NumericEntry(value: 1, document: UInt32(n - i))
            default: entry = NumericEntry(value: Double(i % 2 == 0 ? i : -i), document: UInt32(i))
            }
            blocks.insert(entry)
            inserted.append(entry)
            if i % 500 == 0 { #expect(blocks.isConsistent, "order \(order), entry \(i)") }
        }
        #expect(blocks.isConsistent)
        #expect(blocks.count == n)
        #expect(blocks.blockCount >= n / NumericBlocks.maxBlock, "the inserts split blocks")
        #expect(blocks.elements == inserted.sorted())
    }

    /// The invariant check catches a broken structure: a bound out of order, a count that does not match its
    /// block, and two blocks sharing a slot.
    @Test func consistencyCheckCatchesDamage() {
        var blocks = NumericBlocks()
        for document in 0..<UInt32(1_000) {
            blocks.insert(NumericEntry(value: Double(document % 97), document: document))
        }
        #expect(blocks.isConsistent)
        #expect(blocks.blockCount > 2)
        let bounds = blocks.bounds
        blocks.bounds[1].entry = NumericEntry(value: -1, document: 0)
        #expect(!blocks.isConsistent, "bounds out of order")
        blocks.bounds = bounds
        blocks.bounds[0].count -= 1
        #expect(!blocks.isConsistent, "a count that misses an entry")
        blocks.bounds = bounds
        blocks.bounds[1].packed = blocks.bounds[0].packed
        #expect(!blocks.isConsistent, "two blocks in one slot")
        blocks.bounds = bounds
        #expect(blocks.isConsistent)
    }

    /// With positions in a byte per document (as the search index keeps them), removals go straight to the entry:
    /// random moves with splits and merges keep every position right, and a wrong position is caught by the check.
    @Test func positionsFollowEveryMove() {
        let positions = DocumentBytes()
        positions.reserve(ids: 3_000 * 7)
        var blocks = NumericBlocks(positions: positions)
        var values: [UInt32: Double] = [:]
        var rng = SplitMix(seed: 11)
        for step in 0..<30_000 {
            // Sparse IDs, so that the positions' storage grows while entries move.
            let document = UInt32(rng.next() % 3_000) * 7
            if let old = values[document] {
                let removed = blocks.remove(NumericEntry(value: old, document: document))
                #expect(removed)
                values[document] = nil
            }
            if rng.next() % 6 != 0 {
                let value = Double(Int(rng.next() % 400)) / 4
                values[document] = value
                blocks.insert(NumericEntry(value: value, document: document))
            }
            if step % 3_000 == 0 { #expect(blocks.isConsistent, "step \(step)") }
        }
        #expect(blocks.isConsistent)
        #expect(blocks.elements == values.map { NumericEntry(value: $0.value, document: $0.key) }.sorted())
        // An entry whose position is off is neither consistent nor removable by its position.
        let (document, value) = values.first!
        positions[document] = (positions[document] + 1) % NumericBlocks.maxBlock
        #expect(!blocks.isConsistent)
        let removed = blocks.remove(NumericEntry(value: value, document: document))
        #expect(!removed, "a stale position does not remove another document's entry")
    }

    /// The per-document bytes: unset IDs read 0, each ID keeps its own byte (neighbours untouched) across growth,
    /// values are bytes, and a prefetch of any ID (a stale hint far beyond the storage) is harmless.
    @Test func documentBytesKeepEachIDsByte() {
        let bytes = DocumentBytes()
        #expect(bytes[5] == 0)
        #expect(bytes[1_000_000] == 0, "beyond the storage reads 0")
        var model: [UInt32: Int] = [:]
        var rng = SplitMix(seed: 3)
        bytes.reserve(ids: 300_000)
        for _ in 0..<20_000 {
            let id = UInt32(rng.next() % 300_000)
            let value = Int(rng.next() % 256)
            bytes[id] = value
            model[id] = value
        }
        bytes.prefetch(.max)
        bytes.prefetch(7)
        #expect(bytes.capacity > 299_999)
        #expect(model.allSatisfy { bytes[$0.key] == $0.value })
        #expect(bytes[299_999] == model[299_999] ?? 0)
        bytes[9] = 300
        #expect(bytes[9] == 300 & 0xFF, "a byte keeps the low eight bits")
        // Room is kept across reservations of fewer IDs.
        bytes.reserve(ids: 10)
        #expect(bytes.capacity > 299_999 && bytes[299_999] == model[299_999] ?? 0)
        bytes.reset()
        #expect(bytes[9] == 0 && bytes[UInt32(model.keys.first!)] == 0)
    }

    /// An index with more indexed NUMERIC fields than a row's spare bytes held (three, when positions lived in the
    /// rows): every field keeps positions, and all five stay exact.
    @Test func everyIndexedFieldKeepsPositions() throws {
        let fields = (0..<5).map { IndexField("n\($0)", .numeric) }
        let index = SearchIndex(definition: IndexDefinition(name: Array("i".utf8), fields: fields))
        var rng = SplitMix(seed: 5)
        var model: [Int: [Double]] = [:]
        for _ in 0..<6_000 {
            let key = Int(rng.next() % 700)
            if rng.next() % 9 == 0 {
                index.remove(key: Array("k\(key)".utf8))
                model[key] = nil
            } else {
                let values = (0..<5).map { _ in Double(rng.next() % 50) }
                index.index(key: Array("k\(key)".utf8), values: values.map { Array("\(Int($0))".utf8) })
                model[key] = values
            }
        }
        var positioned = 0
        for store in index.stores {
            guard case .numeric(let numeric) = store else { continue }
            #expect(numeric.tree.isConsistent)
            if numeric.tree.positions != nil { positioned += 1 }
        }
        #expect(positioned == 5)
        for field in 0..<5 {
            let range = NumericRange(min: 10, max: 20)
            let expected = Set(model.filter { range.contains($0.value[field]) }.keys.map { Array("k\($0)".utf8) })
            let found = try index.search(.numericRange(field: Array("n\(field)".utf8), range: range), limit: Int.max)
            #expect(Set(found.keys) == expected, "field \(field)")
        }
    }

    /// A change in place (``NumericBlocks/replaceInPlace(_:with:hint:)``) happens only when the new entry lies
    /// between the bounds of the old entry's block: random changes, small (mostly in place) and large (moves), each
    /// tried in place first as the store does, keep every invariant (no value outside its block's bounds, positions
    /// right) and match a model; a change just above a block's bound is refused and changes nothing.
    @Test(arguments: [0, 1])
    func changesInPlaceStayInsideTheirBlock(positioned: Int) {
        let positions = positioned == 1 ? DocumentBytes() : nil
        positions?.reserve(ids: 4_000)
        var blocks = NumericBlocks(positions: positions)
        var values: [UInt32: Double] = [:]
        var rng = SplitMix(seed: 21)
        for document in 0..<UInt32(4_000) {
            let value = Double(rng.next() % 100_000)
            values[document] = value
            blocks.insert(NumericEntry(value: value, document: document))
        }
        var inPlace = 0
        for step in 0..<40_000 {
            let document = UInt32(rng.next() % 4_000)
            let old = NumericEntry(value: values[document]!, document: document)
            let delta = rng.next() % 4 == 0 ? Double(rng.next() % 100_000) - 50_000 : Double(rng.next() % 21) - 10
            let new = NumericEntry(value: old.value + delta, document: document)
            // A hint that is sometimes right, sometimes stale, sometimes absent: the answer must not depend on it.
            let hint = rng.next() % 3 == 0 ? -1 : Int(rng.next() % UInt64(blocks.blockCount + 2))
            if blocks.replaceInPlace(old, with: new, hint: hint) {
                inPlace += 1
            } else {
                let removed = blocks.remove(old, hint: hint)
                #expect(removed)
                blocks.insert(new, hint: hint)
            }
            values[document] = new.value
            if step % 2_000 == 0 { #expect(blocks.isConsistent, "step \(step)") }
        }
        #expect(blocks.isConsistent)
        #expect(blocks.count == values.count)
        #expect(blocks.elements == values.map { NumericEntry(value: $0.value, document: $0.key) }.sorted())
        #expect(inPlace > 10_000, "small changes mostly stay in their block (\(inPlace))")

        // Just above the first block's bound: refused, nothing changed. At the bound: in place.
        let bound = blocks.bounds[0].entry
        let inside = blocks.entries(ofBlock: 0).first { $0 != bound }!
        let above = NumericEntry(value: bound.value + 0.5, document: inside.document)
        if above < blocks.bounds[1].entry {
            let before = blocks.elements
            let changed = blocks.replaceInPlace(inside, with: above)
            #expect(!changed, "above the bound: not in place")
            #expect(blocks.elements == before)
        }
        let atBound = NumericEntry(value: bound.value, document: inside.document)
        if !(atBound > bound) {
            let changed = blocks.replaceInPlace(inside, with: atBound)
            #expect(changed, "at the bound: in place")
            #expect(blocks.isConsistent)
        }
        // An absent entry is not changed.
        let changedAbsent = blocks.replaceInPlace(NumericEntry(value: -1, document: 3), with: NumericEntry(value: -0.5, document: 3))
        #expect(!changedAbsent)
    }

    /// Block searches given a hint (the write path passes what its prefetch found) answer as the plain search
    /// does, whatever the hint: right, off by one, out of range.
    @Test func blockHintsNeverChangeTheAnswer() {
        var blocks = NumericBlocks()
        var rng = SplitMix(seed: 5)
        for document in 0..<UInt32(30_000) {
            blocks.insert(NumericEntry(value: Double(rng.next() % 1_000), document: document))
        }
        #expect(blocks.blockCount > 2 * NumericBlocks.run, "several summary runs")
        for _ in 0..<5_000 {
            let entry = NumericEntry(value: Double(Int(rng.next() % 1_100)) - 50, document: UInt32(rng.next() % 40_000))
            let expected = blocks.blockIndex(atLeast: entry)
            let linear = blocks.bounds.firstIndex { !($0.entry < entry) } ?? blocks.blockCount
            #expect(expected == linear)
            for hint in [-5, -1, 0, expected - 1, expected, expected + 1, blocks.blockCount, blocks.blockCount + 3] {
                #expect(blocks.blockIndex(atLeast: entry, hint: hint) == expected, "hint \(hint)")
            }
        }
    }
}
