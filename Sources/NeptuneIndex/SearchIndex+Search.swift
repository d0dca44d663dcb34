/// The result of a search: how many documents matched, and the requested page of them.
public struct SearchResult: Sendable, Hashable {
    /// Number of matching documents (before LIMIT).
    public var total: Int
    /// Keys of the requested page, in result order.
    public var keys: [[UInt8]]

    /// Creates a result.
    public init(total: Int, keys: [[UInt8]]) {
        self.total = total
        self.keys = keys
    }
}

extension SearchIndex {
    /// An evaluation plan: the query with fields resolved to their stores and tags to their postings.
    indirect enum Plan {
        case all
        case empty
        case numeric(NumericStore, NumericRange)
        /// The documents holding one of the tags matched by `patterns` (normalized), whose postings are given.
        case tags(TagStore, [TagPattern], [TagPosting])
        case documents([UInt32])
        case and([Plan])
        case or([Plan])
        case not(Plan)
    }

    func plan(_ query: IndexQuery) -> Plan {
        switch query {
        case .all: return .all
        case .empty: return .empty
        case .numericRange(let field, let range):
            guard let position = definition.fieldIndex(named: field), case .numeric(let store) = stores[position],
                store.indexed, !range.min.isNaN, !range.max.isNaN, range.min <= range.max
            else { return .empty }
            return .numeric(store, range)
        case .tags(let field, let patterns):
            guard let position = definition.fieldIndex(named: field), case .tag(let store) = stores[position], store.indexed
            else { return .empty }
            let normalized = patterns.map { pattern -> TagPattern in
                switch pattern {
                case .exact(let tag): .exact(store.normalize(tag))
                case .prefix(let prefix): .prefix(store.caseSensitive ? prefix : FieldValues.lowercase(prefix))
                }
            }
            let postings = store.lists(normalized)
            return postings.isEmpty ? .empty : .tags(store, normalized, postings)
        case .keys(let keys):
            var found = keys.compactMap { id(of: $0) }
            return .documents(Self.sortedUnique(&found))
        case .and(let children):
            let plans = children.map(plan)
            if plans.contains(where: { if case .empty = $0 { true } else { false } }) { return .empty }
            let rest = plans.filter { if case .all = $0 { false } else { true } }
            if rest.isEmpty { return .all }
            return rest.count == 1 ? rest[0] : .and(rest)
        case .or(let children):
            let plans = children.map(plan)
            if plans.contains(where: { if case .all = $0 { true } else { false } }) { return .all }
            let rest = plans.filter { if case .empty = $0 { false } else { true } }
            if rest.isEmpty { return .empty }
            return rest.count == 1 ? rest[0] : .or(rest)
        case .not(let child):
            switch plan(child) {
            case .all: return .empty
            case .empty: return .all
            case let p: return .not(p)
            }
        }
    }

    /// Whether the postings of a TAG store never share a document: no document holds two tags.
    static func disjoint(_ store: TagStore) -> Bool { store.multipleTags.isEmpty }

    /// The exact number of documents a plan matches, when it is cheap to know without walking them: a posting's
    /// size (or a disjoint union's), a range's count, and their complements.
    func cheapCount(_ plan: Plan) -> Int? {
        switch plan {
        case .all: return documentCount
        case .empty: return 0
        case .numeric(let store, let range): return store.count(range)
        case .tags(let store, _, let postings):
            guard postings.count == 1 || Self.disjoint(store) || postings.allSatisfy(\.isBitmap) else { return nil }
            return TagPosting.unionCount(postings, disjoint: Self.disjoint(store))
        case .documents(let list): return list.count
        // Every document a plan matches is indexed, so a complement's count is the rest.
        case .not(let child): return cheapCount(child).map { documentCount - $0 }
        case .and, .or: return nil
        }
    }

    /// Estimated number of documents a plan matches, cheap to compute (clauses taken as independent).
    func estimate(_ plan: Plan) -> Int {
        switch plan {
        case .all: return documentCount
        case .empty: return 0
        case .numeric(let store, let range): return store.count(range)
        case .tags(_, _, let postings): return Swift.min(documentCount, postings.reduce(0) { $0 + $1.count })
        case .documents(let list): return list.count
        case .and(let children):
            let n = Double(Swift.max(documentCount, 1))
            let fraction = children.reduce(1.0) { $0 * Double(estimate($1)) / n }
            return Int((fraction * n).rounded(.up))
        case .or(let children): return Swift.min(documentCount, children.reduce(0) { $0 + estimate($1) })
        case .not(let child): return documentCount - Swift.min(documentCount, estimate(child))
        }
    }

    /// What testing one document against a plan costs (a bitmap bit test is 1; reading the document's row, as a
    /// numeric test does, about 4).
    func probeCost(_ plan: Plan) -> Int {
        switch plan {
        case .all, .empty: return 0
        case .numeric: return 4
        case .tags(_, _, let postings):
            return postings.count > Self.probedPostings ? 6 : postings.reduce(0) { $0 + $1.probeCost }
        case .documents: return 2
        case .and(let children), .or(let children): return children.reduce(1) { $0 + probeCost($1) }
        case .not(let child): return probeCost(child)
        }
    }

    /// What producing one document of a plan costs in ``forEachUnordered(_:_:)``.
    func walkCost(_ plan: Plan) -> Double {
        switch plan {
        case .all, .empty: return 1
        case .numeric: return 1
        case .tags(_, _, let postings):
            return postings.count == 1 ? postings[0].walkCost : 2 + postings.reduce(0) { $0 + $1.walkCost }
        case .documents: return 0.5
        // Materialized first.
        case .and, .or: return 4
        case .not(let child): return 1 + Double(probeCost(child))
        }
    }

    /// Beyond this many postings, a tag test reads the document's tags instead of testing each posting.
    static let probedPostings = 4

    /// A test of whether a document matches a plan, built once for the many documents an intersection, a
    /// negation or a sorted walk tests: each posting's test holds its storage (``TagPosting/membership()``).
    func tester(_ plan: Plan) -> DocumentTest {
        switch plan {
        case .all: return DocumentTest(constant: true)
        case .empty: return DocumentTest(constant: false)
        case .numeric(let store, let range): return DocumentTest(store: store, range: range)
        case .tags(let store, let patterns, let postings):
            if postings.count > Self.probedPostings { return DocumentTest { store.matches($0, patterns) } }
            if postings.count == 1 { return postings[0].membership() }
            let tests = postings.map { $0.membership() }
            return DocumentTest { id in tests.contains { $0(id) } }
        case .documents(let list): return DocumentTest { Self.binarySearch(list, $0) }
        case .and(let children):
            let tests = children.map(tester)
            return DocumentTest { id in tests.allSatisfy { $0(id) } }
        case .or(let children):
            let tests = children.map(tester)
            return DocumentTest { id in tests.contains { $0(id) } }
        case .not(let child):
            let test = tester(child)
            return DocumentTest { !test($0) }
        }
    }

    /// Calls `body` with each live document ID, ascending, until it returns false.
    @discardableResult
    func forEachDocument(while body: (UInt32) -> Bool) -> Bool {
        var id: UInt32 = 0
        let bound = UInt32(documents.idBound)
        while id < bound {
            if documents.isLive(id) && !body(id) { return false }
            id += 1
        }
        return true
    }

    /// Calls `body` with each matching document once, in no particular order (ascending unless the plan is a
    /// numeric range); what an intersection's most selective clause feeds the others' tests.
    func forEachUnordered(_ plan: Plan, _ body: (UInt32) -> Void) {
        switch plan {
        case .all: forEachDocument { body($0); return true }
        case .empty: return
        case .numeric(let store, let range): store.tree.forEach(in: range) { body($0.document) }
        case .tags(let store, _, let postings):
            if Self.disjoint(store) {
                for posting in postings { posting.forEach { body($0); return true } }
            } else {
                TagPosting.forEachUnion(postings) { body($0); return true }
            }
        case .documents(let list): for id in list { body(id) }
        case .and, .or: for id in evaluate(plan) { body(id) }
        case .not(let child):
            let test = tester(child)
            forEachDocument { if !test($0) { body($0) }; return true }
        }
    }

    /// Calls `body` with each matching document, ascending, until it returns false: a LIMIT page's walk, which
    /// stops after its last document.
    @discardableResult
    func forEachAscending(_ plan: Plan, while body: (UInt32) -> Bool) -> Bool {
        switch plan {
        case .all: return forEachDocument(while: body)
        case .empty: return true
        case .tags(_, _, let postings): return TagPosting.forEachUnion(postings, while: body)
        case .documents(let list):
            for id in list where !body(id) { return false }
            return true
        case .not(let child):
            let test = tester(child)
            return forEachDocument { test($0) || body($0) }
        case .numeric, .and, .or:
            for id in evaluate(plan) where !body(id) { return false }
            return true
        }
    }

    /// The matching document IDs, ascending.
    func evaluate(_ plan: Plan) -> [UInt32] {
        switch plan {
        case .all, .not, .documents:
            var result: [UInt32] = []
            forEachAscending(plan) { result.append($0); return true }
            return result
        case .empty:
            return []
        case .numeric(let store, let range):
            return store.documents(range)
        case .tags(let store, _, let postings):
            var result: [UInt32] = []
            result.reserveCapacity(postings.reduce(0) { $0 + $1.count })
            if postings.count <= Self.probedPostings {
                TagPosting.forEachUnion(postings) { result.append($0); return true }
                return result
            }
            // Many tags (a prefix): concatenate, then sort.
            for posting in postings { posting.append(to: &result) }
            return Self.disjoint(store) ? result.sorted() : Self.sortedUnique(&result)
        case .and(let children):
            // Walk the clause whose walk and the others' tests cost least, and test the others per document, most
            // selective first.
            let estimates = children.map(estimate)
            let probes = children.map(probeCost)
            let probeTotal = probes.reduce(0, +)
            var seed = 0
            var seedCost = Double.infinity
            for i in children.indices {
                let cost = Double(estimates[i]) * (walkCost(children[i]) + Double(probeTotal - probes[i]))
                if cost < seedCost {
                    seed = i
                    seedCost = cost
                }
            }
            let rest = children.indices.filter { $0 != seed }.sorted { estimates[$0] < estimates[$1] }.map { tester(children[$0]) }
            var result: [UInt32] = []
            if rest.count == 1 {
                let test = rest[0]
                forEachUnordered(children[seed]) { id in if test(id) { result.append(id) } }
            } else {
                forEachUnordered(children[seed]) { id in if rest.allSatisfy({ $0(id) }) { result.append(id) } }
            }
            // A range's walk, or a disjoint union's, is not in ID order.
            if !Self.isAscending(result) { result.sort() }
            return result
        case .or(let children):
            var result: [UInt32] = []
            for child in children { result = Self.mergeUnique(result, evaluate(child)) }
            return result
        }
    }

    /// The union of two ascending lists, ascending.
    static func mergeUnique(_ a: [UInt32], _ b: [UInt32]) -> [UInt32] {
        if a.isEmpty { return b }
        if b.isEmpty { return a }
        var result: [UInt32] = []
        result.reserveCapacity(a.count + b.count)
        var i = 0
        var j = 0
        while i < a.count && j < b.count {
            let x = a[i]
            let y = b[j]
            result.append(Swift.min(x, y))
            if x <= y { i += 1 }
            if y <= x { j += 1 }
        }
        result.append(contentsOf: a[i...])
        result.append(contentsOf: b[j...])
        return result
    }

    static func isAscending(_ list: [UInt32]) -> Bool {
        var i = 1
        while i < list.count {
            if list[i - 1] >= list[i] { return false }
            i += 1
        }
        return true
    }

    static func binarySearch(_ list: [UInt32], _ id: UInt32) -> Bool {
        var low = 0
        var high = list.count
        while low < high {
            let mid = (low + high) >> 1
            if list[mid] < id { low = mid + 1 } else { high = mid }
        }
        return low < list.count && list[low] == id
    }

    static func sortedUnique(_ values: inout [UInt32]) -> [UInt32] {
        values.sort()
        var write = 0
        for read in values.indices where read == 0 || values[read] != values[read - 1] {
            values[write] = values[read]
            write += 1
        }
        values.removeSubrange(write...)
        return values
    }

    /// Checks that `sort` names a field that can be sorted by.
    /// - Throws: ``IndexError`` as RediSearch words it when the field is not in the schema.
    public func validate(sort: IndexSort) throws(IndexError) {
        guard let position = definition.fieldIndex(named: sort.field) else {
            throw IndexError("Property `\(String(decoding: sort.field, as: UTF8.self))` not loaded nor in schema")
        }
        if case .text(let store) = stores[position], !store.sortable {
            throw IndexError(
                "Property `\(String(decoding: sort.field, as: UTF8.self))` is a TEXT field without SORTABLE: SORTBY needs SORTABLE on TEXT fields"
            )
        }
    }

    /// Runs a query.
    /// - Parameters:
    ///   - query: The query.
    ///   - sort: Optional order; otherwise results come in document-ID order.
    ///   - offset: Results to skip (LIMIT offset).
    ///   - limit: Results to return (LIMIT num).
    /// - Returns: The total number of matches and the keys of the requested page.
    /// - Throws: ``IndexError`` if `sort` names a field that cannot be sorted by.
    public func search(_ query: IndexQuery, sort: IndexSort? = nil, offset: Int = 0, limit: Int = 10)
        throws(IndexError) -> SearchResult
    {
        if let sort { try validate(sort: sort) }
        let plan = plan(query)
        let offset = max(0, offset)
        let limit = max(0, limit)
        let (total, page) = run(plan, sort: sort, offset: offset, limit: limit)
        var keys: [[UInt8]] = []
        keys.reserveCapacity(page.count)
        forEachRow(of: page) { id in
            // (Typed bytes: an array of them is copied by `memcpy`, while one of raw bytes is copied byte by byte.)
            keys.append(documents.withBytes(id) { Array($0.assumingMemoryBound(to: UInt8.self)) })
        }
        return SearchResult(total: total, keys: keys)
    }

    /// The total and the page's document IDs of a plan.
    ///
    /// When the total is cheap to know (``cheapCount(_:)``), the page is the start of a walk that stops after it:
    /// in ID order, or, sorted by an indexed NUMERIC field, along the field's order testing each document against
    /// the plan, when that walk is expected to be shorter than collecting the matches and sorting them. Otherwise
    /// the matches are collected (``evaluate(_:)``) and the page taken from them, sorted by partial selection.
    func run(_ plan: Plan, sort: IndexSort?, offset: Int, limit: Int) -> (total: Int, page: [UInt32]) {
        let (end, overflow) = offset.addingReportingOverflow(limit)
        let wanted = overflow ? Int.max : end
        // A total known beforehand lets a page walk stop after the page; a range's walk cannot (its documents are
        // not kept in ID order), so unsorted pages of a range count the documents they collect instead.
        var isRange = false
        if case .numeric = plan { isRange = true }
        let known = isRange && sort == nil && limit > 0 ? nil : cheapCount(plan)
        if let total = known, limit == 0 || offset >= total { return (total, []) }
        if let sort, limit > 0 {
            if let total = known, let page = streamSorted(plan, total: total, by: sort, upTo: wanted) {
                return (total, Array(page.dropFirst(offset)))
            }
            let matched = evaluate(plan)
            guard offset < matched.count else { return (matched.count, []) }
            let page = sorted(matched, by: sort, upTo: wanted)
            return (matched.count, Array(page[offset..<min(page.count, wanted)]))
        }
        if let total = known {
            var page: [UInt32] = []
            page.reserveCapacity(min(limit, total - offset))
            var skip = offset
            forEachAscending(plan) { id in
                if skip > 0 {
                    skip -= 1
                    return true
                }
                page.append(id)
                return page.count < limit
            }
            return (total, page)
        }
        let matched = evaluate(plan)
        let stop = min(matched.count, wanted)
        return (matched.count, offset < stop ? Array(matched[offset..<stop]) : [])
    }

    /// Calls `body` with each of `ids` in turn, having requested the row of the document a few places ahead: the
    /// rows of a result are scattered over the index, and reading them one after the other would wait for each
    /// miss in turn.
    func forEachRow(of ids: [UInt32], _ body: (UInt32) -> Void) {
        let ahead = 16
        for id in ids.prefix(ahead) { documents.prefetchRow(id) }
        for i in ids.indices {
            if i + ahead < ids.count { documents.prefetchRow(ids[i + ahead]) }
            body(ids[i])
        }
    }

    /// The first `count` of `ids` (ascending IDs) in `sort` order; documents without the field come last, ties in ID
    /// order.
    func sorted(_ ids: [UInt32], by sort: IndexSort, upTo count: Int) -> [UInt32] {
        guard let position = definition.fieldIndex(named: sort.field) else { return ids }
        switch stores[position] {
        case .numeric(let store):
            var present: [(value: Double, id: UInt32)] = []
            present.reserveCapacity(ids.count)
            var missing: [UInt32] = []
            forEachRow(of: ids) { id in
                if let value = store.value(id) { present.append((value, id)) } else { missing.append(id) }
            }
            let ascending = sort.ascending
            var ordered = Self.smallest(count, of: present) { a, b in
                if a.value != b.value { return ascending ? a.value < b.value : a.value > b.value }
                return a.id < b.id
            }.map(\.id)
            if ordered.count < count { ordered.append(contentsOf: missing.prefix(count - ordered.count)) }
            return ordered
        case .tag(let store):
            return Self.sortBytes(ids, ascending: sort.ascending) { id in
                guard let raw = store.rawValue(id) else { return nil }
                return store.caseSensitive ? raw : FieldValues.lowercase(raw)
            }
        case .text(let store):
            return Self.sortBytes(ids, ascending: sort.ascending) { store.value($0) }
        }
    }

    /// The `count` first elements of `elements` in the order `precedes` (a strict total order), in that order:
    /// a bounded heap when `count` is small against the elements (O(n log count)), a full sort otherwise.
    static func smallest<Element>(_ count: Int, of elements: [Element], by precedes: (Element, Element) -> Bool)
        -> [Element]
    {
        if count <= 0 { return [] }
        if count >= elements.count / 8 { return Array(elements.sorted(by: precedes).prefix(count)) }
        // A max-heap (by `precedes`) of the `count` first seen so far: its root is the one to evict.
        var heap: [Element] = []
        heap.reserveCapacity(count)
        func siftDown(_ start: Int) {
            var i = start
            while true {
                let left = 2 * i + 1
                if left >= heap.count { return }
                var largest = left
                if left + 1 < heap.count && precedes(heap[left], heap[left + 1]) { largest = left + 1 }
                if !precedes(heap[i], heap[largest]) { return }
                heap.swapAt(i, largest)
                i = largest
            }
        }
        for element in elements {
            if heap.count < count {
                heap.append(element)
                var i = heap.count - 1
                while i > 0 {
                    let parent = (i - 1) / 2
                    if !precedes(heap[parent], heap[i]) { break }
                    heap.swapAt(parent, i)
                    i = parent
                }
            } else if precedes(element, heap[0]) {
                heap[0] = element
                siftDown(0)
            }
        }
        return heap.sorted(by: precedes)
    }

    static func sortBytes(_ ids: [UInt32], ascending: Bool, _ value: (UInt32) -> [UInt8]?) -> [UInt32] {
        var present: [(UInt32, [UInt8])] = []
        var missing: [UInt32] = []
        for id in ids {
            if let v = value(id) { present.append((id, v)) } else { missing.append(id) }
        }
        present.sort { a, b in
            if a.1 != b.1 { return ascending ? a.1.lexicographicallyPrecedes(b.1) : b.1.lexicographicallyPrecedes(a.1) }
            return a.0 < b.0
        }
        return present.map(\.0) + missing
    }

    /// Sorted output by walking an indexed NUMERIC field's entries in order and keeping the documents that match
    /// the plan, so the cost is proportional to how far the page lies, not to the number of matches; nil when that
    /// walk is expected to cost more than collecting the `total` matches and sorting them (or the field is not an
    /// indexed NUMERIC one).
    func streamSorted(_ plan: Plan, total: Int, by sort: IndexSort, upTo count: Int) -> [UInt32]? {
        guard let position = definition.fieldIndex(named: sort.field), case .numeric(let store) = stores[position],
            store.indexed
        else { return nil }
        // Walked entries: about `count` pages of the field's entries per matching document among them.
        let entries = store.tree.count
        let walked = Double(min(count, total)) * Double(entries) / Double(max(total, 1))
        let streamCost = walked * (2 + Double(probeCost(plan)))
        let collectCost = Double(estimate(plan)) * (walkCost(plan) + 4) + Double(total) * 2
        guard streamCost < collectCost else { return nil }
        let matches = tester(plan)
        var result: [UInt32] = []
        result.reserveCapacity(min(count, total))
        if sort.ascending {
            store.tree.forEachAscending { entry in
                if matches(entry.document) { result.append(entry.document) }
                return result.count < count
            }
        } else {
            // Descending: equal values keep ascending IDs, so collect each run of equal values and reverse it.
            var run: [UInt32] = []
            var runValue = Double.nan
            store.tree.forEachDescending { entry in
                if entry.value != runValue {
                    result.append(contentsOf: run.reversed())
                    run.removeAll(keepingCapacity: true)
                    runValue = entry.value
                    if result.count >= count { return false }
                }
                if matches(entry.document) { run.append(entry.document) }
                return true
            }
            result.append(contentsOf: run.reversed())
            if result.count > count { result.removeSubrange(count...) }
        }
        if result.count < count {
            forEachAscending(plan) { id in
                if store.value(id) == nil { result.append(id) }
                return result.count < count
            }
        }
        return result
    }
}
