@testable import NeptuneIndex
import Testing

/// Random documents, random mutations and random queries, checked against a brute-force evaluator over a plain
/// dictionary of documents: totals, key sets, sort order and pages.
@Suite struct SearchIndexOracleTests {
    static let definition = IndexDefinition(
        name: Array("idx".utf8),
        fields: [
            IndexField(identifier: Array("price".utf8), type: .numeric),
            IndexField(identifier: Array("q".utf8), name: Array("qty".utf8), type: .numeric, sortable: true),
            IndexField(identifier: Array("color".utf8), type: .tag, sortable: true),
            IndexField(identifier: Array("labels".utf8), type: .tag, separator: UInt8(ascii: ";"), caseSensitive: true),
            IndexField(identifier: Array("title".utf8), type: .text, sortable: true),
        ]
    )

    static let colors = ["red", "Red", "blue", "green", " dark blue ", "x,y", ""]
    static let labels = ["a", "A", "b", "ab", "abc"]

    struct Model {
        var documents: [[UInt8]: [[UInt8]?]] = [:]
        var failures = 0

        mutating func index(_ key: [UInt8], _ values: [[UInt8]?]) {
            if let price = values[0], FieldValues.parseNumber(price) == nil {
                documents[key] = nil
                failures += 1
                return
            }
            if let qty = values[1], FieldValues.parseNumber(qty) == nil {
                documents[key] = nil
                failures += 1
                return
            }
            documents[key] = values
        }
    }

    static func number(_ v: [UInt8]?) -> Double? { v.flatMap { FieldValues.parseNumber($0) } }

    static func tags(_ v: [UInt8]?, separator: UInt8, caseSensitive: Bool) -> Set<[UInt8]> {
        guard let v else { return [] }
        return Set(FieldValues.tags(v, separator: separator, caseSensitive: caseSensitive))
    }

    /// The brute-force meaning of a query over one document.
    static func matches(_ q: IndexQuery, _ doc: [[UInt8]?]) -> Bool {
        switch q {
        case .all: return true
        case .empty: return false
        case .numericRange(let field, let range):
            let position = definition.fieldIndex(named: field)
            guard let position, position < 2, let value = number(doc[position]) else { return false }
            return range.contains(value)
        case .tags(let field, let patterns):
            guard let position = definition.fieldIndex(named: field), position == 2 || position == 3 else { return false }
            let caseSensitive = position == 3
            let set = tags(doc[position], separator: position == 2 ? 44 : 59, caseSensitive: caseSensitive)
            return patterns.contains { pattern in
                switch pattern {
                case .exact(let t):
                    var trimmed = t
                    while let f = trimmed.first, FieldValues.isSpace(f) { trimmed.removeFirst() }
                    while let l = trimmed.last, FieldValues.isSpace(l) { trimmed.removeLast() }
                    return set.contains(caseSensitive ? trimmed : FieldValues.lowercase(trimmed))
                case .prefix(let p):
                    let p = caseSensitive ? p : FieldValues.lowercase(p)
                    return set.contains { $0.starts(with: p) }
                }
            }
        case .keys: return false  // not generated
        case .and(let children): return children.allSatisfy { matches($0, doc) }
        case .or(let children): return children.contains { matches($0, doc) }
        case .not(let child): return !matches(child, doc)
        }
    }

    static func randomValue(_ field: Int, _ rng: inout SplitMix) -> [UInt8]? {
        if rng.next() % 6 == 0 { return nil }
        switch field {
        case 0, 1:
            if rng.next() % 40 == 0 { return Array("notanumber".utf8) }
            let v = Double(Int(rng.next() % 200) - 50) / (rng.next() % 2 == 0 ? 1 : 4)
            return Array((rng.next() % 10 == 0 ? " \(v)" : "\(v)").utf8)
        case 2:
            let n = Int(rng.next() % 3)
            return Array((0..<n).map { _ in colors[Int(rng.next() % UInt64(colors.count))] }.joined(separator: ",").utf8)
        case 3:
            let n = Int(rng.next() % 3)
            return Array((0..<n).map { _ in labels[Int(rng.next() % UInt64(labels.count))] }.joined(separator: ";").utf8)
        default:
            return Array(["Alpha", "beta", "Gamma", "delta"][Int(rng.next() % 4)].utf8)
        }
    }

    static func randomQuery(_ rng: inout SplitMix, depth: Int = 0) -> IndexQuery {
        let choice = depth > 2 ? rng.next() % 3 : rng.next() % 7
        switch choice {
        case 0:
            let a = Double(Int(rng.next() % 220) - 60) / 2
            let b = a + Double(rng.next() % 80)
            let field = ["price", "qty", "color", "nosuch"][Int(rng.next() % 4)]
            return .numericRange(
                field: Array(field.utf8),
                range: NumericRange(
                    min: rng.next() % 10 == 0 ? -.infinity : a, minInclusive: rng.next() % 2 == 0,
                    max: rng.next() % 10 == 0 ? .infinity : b, maxInclusive: rng.next() % 2 == 0
                )
            )
        case 1:
            let field = ["color", "labels", "price"][Int(rng.next() % 3)]
            let pool = field == "labels" ? labels : ["red", "RED", "blue", "dark blue", "green", "x", "nope"]
            let n = 1 + Int(rng.next() % 2)
            return .tags(
                field: Array(field.utf8),
                patterns: (0..<n).map { _ in
                    let t = Array(pool[Int(rng.next() % UInt64(pool.count))].utf8)
                    return rng.next() % 5 == 0 ? .prefix(Array(t.prefix(1))) : .exact(t)
                }
            )
        case 2:
            return rng.next() % 4 == 0 ? .all : randomQuery(&rng, depth: depth + 3)
        case 3, 4:
            return .and((0..<(2 + Int(rng.next() % 2))).map { _ in randomQuery(&rng, depth: depth + 1) })
        case 5:
            return .or((0..<2).map { _ in randomQuery(&rng, depth: depth + 1) })
        default:
            return .not(randomQuery(&rng, depth: depth + 1))
        }
    }

    @Test(arguments: [1, 2, 3, 4])
    func randomMutationsAndQueriesMatchBruteForce(seed: UInt64) throws {
        var rng = SplitMix(seed: seed)
        let index = SearchIndex(definition: Self.definition)
        var model = Model()
        let keyCount = seed == 4 ? 1500 : 200
        // Even seeds write through the hinted form, as the engine does, with the hint each key got last time
        // (stale once the key was removed and its ID reused) or now and then a random one.
        var hints: [[UInt8]: UInt32] = [:]
        for round in 0..<25 {
            for _ in 0..<(keyCount / 4) {
                let key = Array("doc:\(rng.next() % UInt64(keyCount))".utf8)
                if rng.next() % 5 == 0 {
                    #expect(index.remove(key: key) == (model.documents.removeValue(forKey: key) != nil))
                } else {
                    let values = (0..<5).map { Self.randomValue($0, &rng) }
                    if seed % 2 == 0 {
                        var hint = rng.next() % 8 == 0 ? UInt32(rng.next() % UInt64(keyCount + 8)) : hints[key, default: .max]
                        _ = key.withUnsafeBytes { key in
                            index.index(key: key, hint: &hint) { position, body in
                                if let value = values[position] { value.withUnsafeBytes { body($0) } } else { body(nil) }
                            }
                        }
                        hints[key] = hint
                        if let id = index.id(of: key) { #expect(hint == id, "the hint is the document's ID after a write") }
                    } else {
                        index.index(key: key, values: values)
                    }
                    model.index(key, values)
                }
            }
            #expect(index.documentCount == model.documents.count)
            #expect(index.indexingFailures == model.failures)
            for store in index.stores {
                if case .numeric(let numeric) = store { #expect(numeric.tree.isConsistent, "round \(round)") }
            }
            for _ in 0..<20 {
                let query = Self.randomQuery(&rng)
                let expected = Set(model.documents.filter { Self.matches(query, $0.value) }.keys)
                let all = try index.search(query, limit: Int.max)
                #expect(all.total == expected.count, "round \(round) query \(query)")
                #expect(Set(all.keys) == expected, "round \(round) query \(query)")
                let counted = try index.search(query, limit: 0)
                #expect(counted.total == expected.count && counted.keys.isEmpty, "\(query)")
                // Sorted pages agree with the full sorted order, and the order follows the field's values.
                let field = ["qty", "price", "color", "title"][Int(rng.next() % 4)]
                let sort = IndexSort(field, ascending: rng.next() % 2 == 0)
                let sorted = try index.search(query, sort: sort, limit: Int.max)
                #expect(Set(sorted.keys) == expected)
                checkOrder(sorted.keys, sort, model)
                let offset = Int(rng.next() % 20)
                let page = try index.search(query, sort: sort, offset: offset, limit: 7)
                #expect(page.total == expected.count)
                #expect(page.keys == Array(sorted.keys.dropFirst(offset).prefix(7)))
            }
        }
    }

    func checkOrder(_ keys: [[UInt8]], _ sort: IndexSort, _ model: Model) {
        let position = Self.definition.fieldIndex(named: sort.field)!
        var seenMissing = false
        var previous: SortValue? = nil
        for key in keys {
            let raw = model.documents[key]![position]
            let value: SortValue?
            switch position {
            case 0, 1: value = Self.number(raw).map { .number($0) }
            case 2: value = raw.map { .bytes(FieldValues.lowercase($0)) }
            default: value = raw.map { .bytes(FieldValues.lowercase($0)) }
            }
            guard let value else {
                seenMissing = true
                continue
            }
            #expect(!seenMissing, "documents without the field come last")
            if let previous {
                #expect(sort.ascending ? !(value < previous) : !(previous < value), "\(previous) then \(value)")
            }
            previous = value
        }
    }

    enum SortValue: Comparable {
        case number(Double)
        case bytes([UInt8])
        static func < (a: SortValue, b: SortValue) -> Bool {
            switch (a, b) {
            case (.number(let x), .number(let y)): x < y
            case (.bytes(let x), .bytes(let y)): x.lexicographicallyPrecedes(y)
            default: false
            }
        }
    }

    @Test func parsedQueriesAgreeWithTypedOnes() throws {
        let index = SearchIndex(definition: Self.definition)
        index.index(key: Array("a".utf8), values: [Array("10".utf8), Array("1".utf8), Array("Red, Blue".utf8), Array("x;Y".utf8), nil])
        index.index(key: Array("b".utf8), values: [Array("20".utf8), Array("2".utf8), Array("green".utf8), Array("y".utf8), nil])
        index.index(key: Array("c".utf8), values: [Array("30".utf8), nil, Array("dark blue".utf8), nil, nil])
        func keys(_ text: String) throws -> [String] {
            let query = try QueryParser().parse(Array(text.utf8))
            return try index.search(query, sort: IndexSort("price"), limit: 100).keys.map { String(decoding: $0, as: UTF8.self) }
        }
        #expect(try keys("@price:[15 +inf]") == ["b", "c"])
        #expect(try keys("@price:[(10 30]") == ["b", "c"])
        #expect(try keys("@price:[-inf (30]") == ["a", "b"])
        #expect(try keys("@color:{red}") == ["a"])
        #expect(try keys("@color:{RED | green}") == ["a", "b"])
        #expect(try keys(#"@color:{dark\ blue}"#) == ["c"])
        #expect(try keys("@labels:{Y}") == ["a"])
        #expect(try keys("@labels:{y}") == ["b"])
        #expect(try keys("-@color:{blue}") == ["b", "c"])
        #expect(try keys("@price:[0 100] -@qty:[2 2]") == ["a", "c"])
        #expect(try keys("@color:{gr*} | @price:[30 30]") == ["b", "c"])
        #expect(try keys("@nosuch:[0 100]") == [])
        #expect(try keys("*") == ["a", "b", "c"])
        #expect(try index.search(.all, sort: IndexSort("price", ascending: false)).keys == [Array("c".utf8), Array("b".utf8), Array("a".utf8)])
    }

    @Test func unparsableNumericLeavesTheDocumentOut() throws {
        let index = SearchIndex(definition: Self.definition)
        let key = Array("k".utf8)
        #expect(index.index(key: key, values: [Array("5".utf8), nil, Array("red".utf8), nil, nil]))
        #expect(try index.search(.tag("color", ["red"])).total == 1)
        #expect(!index.index(key: key, values: [Array("five".utf8), nil, Array("red".utf8), nil, nil]))
        #expect(index.indexingFailures == 1)
        #expect(index.documentCount == 0)
        #expect(try index.search(.tag("color", ["red"])).total == 0)
        #expect(try index.search(.all).total == 0)
    }

    @Test func sortByUnknownOrUnsortableTextFieldIsAnError() {
        let definition = IndexDefinition(name: Array("i".utf8), fields: [IndexField("body", .text)])
        let index = SearchIndex(definition: definition)
        #expect(throws: IndexError("Property `nope` not loaded nor in schema")) { try index.search(.all, sort: IndexSort("nope")) }
        #expect(throws: IndexError.self) { try index.search(.all, sort: IndexSort("body")) }
    }

    @Test func largeSortedPagesStreamTheNumericIndex() throws {
        let definition = IndexDefinition(name: Array("i".utf8), fields: [IndexField("n", .numeric), IndexField("t", .tag)])
        let index = SearchIndex(definition: definition)
        var rng = SplitMix(seed: 99)
        var values: [String: Double] = [:]
        for i in 0..<20_000 {
            let v = Double(rng.next() % 1000)
            values["k\(i)"] = v
            index.index(key: Array("k\(i)".utf8), values: [Array("\(v)".utf8), Array((i % 3 == 0 ? "x" : "y").utf8)])
        }
        for ascending in [true, false] {
            let page = try index.search(.tag("t", ["y"]), sort: IndexSort("n", ascending: ascending), offset: 5, limit: 20)
            let full = try index.search(.tag("t", ["y"]), limit: Int.max).keys.map { String(decoding: $0, as: UTF8.self) }
            let expectedValues = full.map { values[$0]! }.sorted(by: ascending ? (<) : (>))
            #expect(page.total == full.count)
            #expect(page.keys.map { values[String(decoding: $0, as: UTF8.self)]! } == Array(expectedValues[5..<25]))
        }
    }
}
