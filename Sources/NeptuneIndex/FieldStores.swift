/// A numeric index entry, ordered by value then document.
struct NumericEntry: Comparable {
    var value: Double
    var document: UInt32

    static func < (a: NumericEntry, b: NumericEntry) -> Bool {
        a.value < b.value || (a.value == b.value && a.document < b.document)
    }

    static func == (a: NumericEntry, b: NumericEntry) -> Bool {
        a.value == b.value && a.document == b.document
    }
}

/// A NUMERIC field: an ordered structure of (value, document) for ranges and sorted streaming, plus each
/// document's value (NaN when absent) for O(1) predicate checks and removal.
final class NumericStore {
    var tree = SortedBlockList<NumericEntry>()
    var values: [Double] = []
    let indexed: Bool

    init(indexed: Bool) {
        self.indexed = indexed
    }

    func value(_ document: UInt32) -> Double? {
        let i = Int(document)
        guard i < values.count else { return nil }
        let value = values[i]
        return value.isNaN ? nil : value
    }

    func set(_ document: UInt32, _ newValue: Double?) {
        let i = Int(document)
        if i >= values.count { values.append(contentsOf: repeatElement(.nan, count: i + 1 - values.count)) }
        let old = values[i]
        let new = newValue ?? .nan
        if old.bitPattern == new.bitPattern { return }
        if indexed {
            if !old.isNaN { tree.remove(NumericEntry(value: old, document: document)) }
            if !new.isNaN { tree.insert(NumericEntry(value: new, document: document)) }
        }
        values[i] = new
    }

    /// Positions bounding the entries whose value lies in `range`.
    func bounds(_ range: NumericRange) -> (SortedBlockList<NumericEntry>.Position, SortedBlockList<NumericEntry>.Position) {
        let lower = range.minInclusive
            ? tree.position(atLeast: NumericEntry(value: range.min, document: 0))
            : tree.position(above: NumericEntry(value: range.min, document: .max))
        let upper = range.maxInclusive
            ? tree.position(above: NumericEntry(value: range.max, document: .max))
            : tree.position(atLeast: NumericEntry(value: range.max, document: 0))
        return (lower, upper)
    }

    func count(_ range: NumericRange) -> Int {
        guard indexed, range.min <= range.max else { return 0 }
        let (lower, upper) = bounds(range)
        return tree.distance(from: lower, to: upper)
    }

    func documents(_ range: NumericRange) -> [UInt32] {
        guard indexed, range.min <= range.max else { return [] }
        let (lower, upper) = bounds(range)
        var result: [UInt32] = []
        result.reserveCapacity(tree.distance(from: lower, to: upper))
        tree.forEach(from: lower, to: upper) { entry in
            result.append(entry.document)
            return true
        }
        result.sort()
        return result
    }
}

/// A TAG field: tag to sorted document-ID set, plus each document's tags (sorted) and raw value (for SORTBY).
final class TagStore {
    var postings: [[UInt8]: SortedBlockList<UInt32>] = [:]
    var documentTags: [[[UInt8]]] = []
    var rawValues: [[UInt8]?] = []
    let separator: UInt8
    let caseSensitive: Bool
    let indexed: Bool

    init(separator: UInt8, caseSensitive: Bool, indexed: Bool) {
        self.separator = separator
        self.caseSensitive = caseSensitive
        self.indexed = indexed
    }

    func normalize(_ tag: [UInt8]) -> [UInt8] {
        var lo = 0
        var hi = tag.count
        while lo < hi && FieldValues.isSpace(tag[lo]) { lo += 1 }
        while hi > lo && FieldValues.isSpace(tag[hi - 1]) { hi -= 1 }
        let trimmed = Array(tag[lo..<hi])
        return caseSensitive ? trimmed : FieldValues.lowercase(trimmed)
    }

    func tags(_ document: UInt32) -> [[UInt8]] {
        let i = Int(document)
        return i < documentTags.count ? documentTags[i] : []
    }

    func set(_ document: UInt32, _ raw: [UInt8]?) {
        let i = Int(document)
        if i >= documentTags.count {
            documentTags.append(contentsOf: repeatElement([], count: i + 1 - documentTags.count))
            rawValues.append(contentsOf: repeatElement(nil, count: i + 1 - rawValues.count))
        }
        // The same raw value gives the same tags: nothing to do (a rewrite of the other fields).
        if raw == rawValues[i] && (raw != nil || documentTags[i].isEmpty) { return }
        let new = raw.map { FieldValues.tags($0, separator: separator, caseSensitive: caseSensitive) } ?? []
        let old = documentTags[i]
        rawValues[i] = raw
        if old == new { return }
        if indexed {
            // Both lists are sorted: walk them together and touch only the tags that changed.
            var a = 0
            var b = 0
            while a < old.count || b < new.count {
                if b == new.count || (a < old.count && old[a].lexicographicallyPrecedes(new[b])) {
                    removePosting(old[a], document)
                    a += 1
                } else if a == old.count || new[b].lexicographicallyPrecedes(old[a]) {
                    postings[new[b], default: SortedBlockList()].insert(document)
                    b += 1
                } else {
                    a += 1
                    b += 1
                }
            }
        }
        documentTags[i] = new
    }

    private func removePosting(_ tag: [UInt8], _ document: UInt32) {
        guard var list = postings.removeValue(forKey: tag) else { return }
        list.remove(document)
        if !list.isEmpty { postings[tag] = list }
    }

    /// The posting lists for the patterns (already normalized).
    func lists(_ patterns: [TagPattern]) -> [SortedBlockList<UInt32>] {
        guard indexed else { return [] }
        var result: [SortedBlockList<UInt32>] = []
        var prefixes: [[UInt8]] = []
        var seen: Set<[UInt8]> = []
        for pattern in patterns {
            switch pattern {
            case .exact(let tag):
                if seen.insert(tag).inserted, let list = postings[tag] { result.append(list) }
            case .prefix(let prefix):
                prefixes.append(prefix)
            }
        }
        if !prefixes.isEmpty {
            for (tag, list) in postings where !seen.contains(tag) && prefixes.contains(where: { tag.starts(with: $0) }) {
                result.append(list)
            }
        }
        return result
    }

    /// Whether the document has a tag matching one of the patterns (already normalized).
    func matches(_ document: UInt32, _ patterns: [TagPattern]) -> Bool {
        guard indexed else { return false }
        let tags = self.tags(document)
        if tags.isEmpty { return false }
        for pattern in patterns {
            switch pattern {
            case .exact(let tag):
                if tags.contains(tag) { return true }
            case .prefix(let prefix):
                if tags.contains(where: { $0.starts(with: prefix) }) { return true }
            }
        }
        return false
    }
}

/// A TEXT field: accepted in schemas; values are kept only when SORTABLE (lowercased, for SORTBY).
final class TextStore {
    var sortValues: [[UInt8]?] = []
    let sortable: Bool

    init(sortable: Bool) {
        self.sortable = sortable
    }

    func set(_ document: UInt32, _ raw: [UInt8]?) {
        guard sortable else { return }
        let i = Int(document)
        if i >= sortValues.count { sortValues.append(contentsOf: repeatElement(nil, count: i + 1 - sortValues.count)) }
        sortValues[i] = raw.map(FieldValues.lowercase)
    }

    func value(_ document: UInt32) -> [UInt8]? {
        let i = Int(document)
        return i < sortValues.count ? sortValues[i] : nil
    }
}

enum FieldStore {
    case numeric(NumericStore)
    case tag(TagStore)
    case text(TextStore)
}
