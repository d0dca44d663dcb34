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
    /// An evaluation plan: the query with fields resolved to their stores.
    indirect enum Plan {
        case all
        case empty
        case numeric(NumericStore, NumericRange)
        case tags(TagStore, [TagPattern])
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
                store.indexed, !range.min.isNaN, !range.max.isNaN
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
            return .tags(store, normalized)
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

    /// Upper bound of the number of documents a plan matches, cheap to compute.
    func estimate(_ plan: Plan) -> Int {
        switch plan {
        case .all: return documentCount
        case .empty: return 0
        case .numeric(let store, let range): return store.count(range)
        case .tags(let store, let patterns): return store.lists(patterns).reduce(0) { $0 + $1.count }
        case .documents(let list): return list.count
        case .and(let children): return children.map(estimate).min() ?? 0
        case .or(let children): return min(documentCount, children.reduce(0) { $0 + estimate($1) })
        case .not: return documentCount
        }
    }

    /// Whether document `id` matches a plan.
    func matches(_ plan: Plan, _ id: UInt32) -> Bool {
        switch plan {
        case .all: return true
        case .empty: return false
        case .numeric(let store, let range):
            guard let value = store.value(id) else { return false }
            return range.contains(value)
        case .tags(let store, let patterns): return store.matches(id, patterns)
        case .documents(let list): return Self.binarySearch(list, id)
        case .and(let children): return children.allSatisfy { matches($0, id) }
        case .or(let children): return children.contains { matches($0, id) }
        case .not(let child): return !matches(child, id)
        }
    }

    /// The matching document IDs, ascending.
    func evaluate(_ plan: Plan) -> [UInt32] {
        switch plan {
        case .all:
            return allDocuments()
        case .empty:
            return []
        case .numeric(let store, let range):
            return store.documents(range)
        case .documents(let list):
            return list
        case .tags(let store, let patterns):
            let lists = store.lists(patterns)
            if lists.count == 1 { return lists[0].documents }
            var result: [UInt32] = []
            result.reserveCapacity(lists.reduce(0) { $0 + $1.count })
            for list in lists { list.append(to: &result) }
            return Self.sortedUnique(&result)
        case .and(let children):
            // Most selective first: materialize the cheapest positive clause, test the others per document.
            var best: Int? = nil
            var bestEstimate = Int.max
            for (i, child) in children.enumerated() {
                if case .not = child { continue }
                let e = estimate(child)
                if e < bestEstimate {
                    best = i
                    bestEstimate = e
                }
            }
            let seed = best.map { evaluate(children[$0]) } ?? allDocuments()
            if seed.isEmpty { return [] }
            let rest = children.enumerated().filter { $0.offset != best }.map(\.element)
            return seed.filter { id in rest.allSatisfy { matches($0, id) } }
        case .or(let children):
            var result: [UInt32] = []
            for child in children { result.append(contentsOf: evaluate(child)) }
            return Self.sortedUnique(&result)
        case .not(let child):
            return allDocuments().filter { !matches(child, $0) }
        }
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

    func allDocuments() -> [UInt32] {
        var result: [UInt32] = []
        result.reserveCapacity(documentCount)
        documents.forEachLive { result.append($0) }
        return result
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
        // Counting a single range needs no materialization.
        if limit == 0 {
            if case .numeric(let store, let range) = plan { return SearchResult(total: store.count(range), keys: []) }
            if case .all = plan { return SearchResult(total: documentCount, keys: []) }
        }
        let matched = evaluate(plan)
        var page: [UInt32]
        if let sort, limit > 0, offset < matched.count {
            page = sorted(matched, by: sort, upTo: offset + limit)
        } else {
            page = matched
        }
        let end = min(page.count, offset + limit)
        let slice = offset < end ? page[offset..<end] : []
        return SearchResult(total: matched.count, keys: slice.map { documents.bytes($0)! })
    }

    /// The first `count` of `ids` (ascending IDs) in `sort` order; documents without the field come last, ties in ID
    /// order.
    func sorted(_ ids: [UInt32], by sort: IndexSort, upTo count: Int) -> [UInt32] {
        guard let position = definition.fieldIndex(named: sort.field) else { return ids }
        switch stores[position] {
        case .numeric(let store):
            if store.indexed && ids.count > 4096 && ids.count * 4 > documentCount && count < ids.count / 8 {
                return streamSorted(ids, store: store, ascending: sort.ascending, upTo: count)
            }
            let present = ids.filter { store.value($0) != nil }
            var missing = ids.filter { store.value($0) == nil }
            var ordered = present.sorted { a, b in
                let va = store.number(a)
                let vb = store.number(b)
                if va != vb { return sort.ascending ? va < vb : va > vb }
                return a < b
            }
            missing.sort()
            ordered.append(contentsOf: missing)
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

    /// Sorted output for a large result set: walk the field's ordered entries and keep the matching documents, so
    /// the cost is proportional to how far the page lies, not to the number of matches.
    func streamSorted(_ ids: [UInt32], store: NumericStore, ascending: Bool, upTo count: Int) -> [UInt32] {
        var member = [Bool](repeating: false, count: documentIDBound)
        for id in ids { member[Int(id)] = true }
        var result: [UInt32] = []
        result.reserveCapacity(count)
        if ascending {
            store.tree.forEachAscending { entry in
                if member[Int(entry.document)] { result.append(entry.document) }
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
                if member[Int(entry.document)] { run.append(entry.document) }
                return true
            }
            result.append(contentsOf: run.reversed())
        }
        if result.count < count {
            for id in ids where store.value(id) == nil {
                result.append(id)
                if result.count >= count { break }
            }
        }
        return result
    }
}
