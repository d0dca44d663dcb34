@testable import NeptuneIndex
import Testing

/// The oracle of ``SearchIndexOracleTests`` on an index whose tags are large enough to be bitmaps (at least 1,024
/// documents each), with random intersections, unions, negations, pages and sorts over them, and mutations between
/// rounds that move documents between tags. Unsorted pages are checked in document-ID order, sorted ones exactly
/// (value, then ID; documents without the field last), so every evaluation path (LIMIT walks, streamed sorts,
/// partial selection) must give the same page as the brute force.
@Suite struct SearchIndexBitmapOracleTests {
    static let definition = IndexDefinition(
        name: Array("idx".utf8),
        fields: [
            IndexField(identifier: Array("n".utf8), type: .numeric, sortable: true),
            IndexField(identifier: Array("cat".utf8), type: .tag),
            IndexField(identifier: Array("labels".utf8), type: .tag),
            IndexField(identifier: Array("grp".utf8), type: .tag),
        ]
    )
    static let categories = ["a", "b"]
    static let labels = ["x", "y", "z"]
    /// Six small groups (block lists): a query on all of them (the prefix `g`) tests documents by their tags rather
    /// than by six postings.
    static let groups = ["g0", "g1", "g2", "g3", "g4", "g5"]

    /// A document: its number (nil: absent), category (nil: absent), labels (several per document: postings that
    /// overlap) and group.
    struct Document {
        var n: Double?
        var cat: String?
        var labels: Set<String>
        var group: String
    }

    static func randomDocument(_ rng: inout SplitMix) -> Document {
        Document(
            n: rng.next() % 10 == 0 ? nil : Double(rng.next() % 500),
            cat: rng.next() % 12 == 0 ? nil : categories[Int(rng.next() % 2)],
            // One or two labels: each label has about 1,300 documents.
            labels: Set((0..<(rng.next() % 2 == 0 ? 2 : 1)).map { _ in labels[Int(rng.next() % 3)] }),
            group: groups[Int(rng.next() % 6)]
        )
    }

    static func values(_ d: Document) -> [[UInt8]?] {
        [d.n.map { Array("\($0)".utf8) }, d.cat.map { Array($0.utf8) }, Array(d.labels.sorted().joined(separator: ",").utf8),
         Array(d.group.utf8)]
    }

    static func matches(_ q: IndexQuery, _ d: Document) -> Bool {
        switch q {
        case .all: return true
        case .empty: return false
        case .numericRange(_, let range): return d.n.map { range.contains($0) } ?? false
        case .tags(let field, let patterns):
            let tags: Set<String> =
                switch String(decoding: field, as: UTF8.self) {
                case "cat": Set(d.cat.map { [$0] } ?? [])
                case "labels": d.labels
                default: [d.group]
                }
            return patterns.contains { pattern in
                switch pattern {
                case .exact(let t): tags.contains(String(decoding: t, as: UTF8.self))
                case .prefix(let p): tags.contains { $0.utf8.starts(with: p) }
                }
            }
        case .keys: return false
        case .and(let children): return children.allSatisfy { matches($0, d) }
        case .or(let children): return children.contains { matches($0, d) }
        case .not(let child): return !matches(child, d)
        }
    }

    static func randomQuery(_ rng: inout SplitMix, depth: Int = 0) -> IndexQuery {
        switch depth > 1 ? rng.next() % 3 : rng.next() % 7 {
        case 0:
            let low = Double(rng.next() % 520) - 10
            let width = [0.0, 5, 50, 300][Int(rng.next() % 4)]
            return .numeric("n", NumericRange(min: low, minInclusive: rng.next() % 3 != 0, max: low + width))
        case 1:
            let n = 1 + Int(rng.next() % 2)
            return .tag("cat", (0..<n).map { _ in categories[Int(rng.next() % 2)] })
        case 2:
            switch rng.next() % 6 {
            case 0: return .tags(field: Array("labels".utf8), patterns: [.prefix([])])
            case 1: return .tags(field: Array("grp".utf8), patterns: [.prefix(Array("g".utf8))])
            case 2: return .tag("grp", [groups[Int(rng.next() % 6)]])
            default: return .tag("labels", (0..<(1 + Int(rng.next() % 3))).map { _ in labels[Int(rng.next() % 3)] })
            }
        case 3, 4: return .and((0..<(2 + Int(rng.next() % 2))).map { _ in randomQuery(&rng, depth: depth + 1) })
        case 5: return .or((0..<2).map { _ in randomQuery(&rng, depth: depth + 1) })
        default: return .not(randomQuery(&rng, depth: depth + 1))
        }
    }

    @Test(arguments: [1, 2, 3])
    func bitmapTagQueriesMatchBruteForce(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let index = SearchIndex(definition: Self.definition)
        var model: [[UInt8]: Document] = [:]
        let keyCount = 2600
        for i in 0..<keyCount {
            let key = Array("k\(i)".utf8)
            let document = Self.randomDocument(&rng)
            index.index(key: key, values: Self.values(document))
            model[key] = document
        }
        var bitmaps = 0
        var checked = 0
        for round in 0..<4 {
            // Every tag of both fields is a bitmap (the test is about them).
            for position in 1...2 {
                guard case .tag(let store) = index.stores[position] else { continue }
                store.tags.forEachLive { id in
                    #expect(store.postings[Int(id)].isBitmap, "round \(round): tag \(id) of field \(position) is a bitmap")
                    bitmaps += 1
                }
            }
            let ids = model.keys.map { ($0, index.id(of: $0)!) }
            let idOf = Dictionary(uniqueKeysWithValues: ids)
            for _ in 0..<20 {
                let query = Self.randomQuery(&rng)
                let matching = model.filter { Self.matches(query, $0.value) }
                // Unsorted pages come in document-ID order.
                let byID = matching.keys.sorted { idOf[$0]! < idOf[$1]! }
                for (offset, limit) in [(0, 10), (0, 0), (3, 1), (Int(rng.next() % 1000), 25), (0, Int.max)] {
                    let result = try index.search(query, offset: offset, limit: limit)
                    #expect(result.total == byID.count, "round \(round) \(query)")
                    #expect(result.keys == Array(byID.dropFirst(offset).prefix(limit)), "round \(round) \(query) \(offset) \(limit)")
                    checked += 1
                }
                for ascending in [true, false] {
                    let sorted = matching.map { (key: $0.key, n: $0.value.n, id: idOf[$0.key]!) }.sorted { a, b in
                        if let va = a.n, let vb = b.n, va != vb { return ascending ? va < vb : va > vb }
                        if (a.n == nil) != (b.n == nil) { return a.n != nil }
                        return a.id < b.id
                    }.map(\.key)
                    for (offset, limit) in [(0, 10), (Int(rng.next() % 1000), 5), (0, Int.max)] {
                        let result = try index.search(query, sort: IndexSort("n", ascending: ascending), offset: offset, limit: limit)
                        #expect(result.total == sorted.count, "round \(round) \(query)")
                        #expect(result.keys == Array(sorted.dropFirst(offset).prefix(limit)),
                                "round \(round) \(query) sorted \(ascending) \(offset) \(limit)")
                        checked += 1
                    }
                }
            }
            // Mutations: rewrite a tenth of the documents (moving them between tags), remove and re-add a few.
            for _ in 0..<(keyCount / 10) {
                let key = Array("k\(rng.next() % UInt64(keyCount))".utf8)
                if rng.next() % 8 == 0 {
                    index.remove(key: key)
                    model[key] = nil
                } else {
                    let document = Self.randomDocument(&rng)
                    index.index(key: key, values: Self.values(document))
                    model[key] = document
                }
            }
        }
        #expect(bitmaps >= 4 * 5 && checked > 500)
    }
}
