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

/// A TAG field: each distinct tag interned to a dense tag ID with its sorted document-ID set, each document's tag
/// IDs, and each document's raw value (for SORTBY).
///
/// The write path allocates nothing when a value does not change, and when a single-tag value changes it looks the
/// new tag up by its bytes (a ``ByteKeyTable`` probe, no key array built) and moves the document between two
/// posting lists; a tag whose list empties is released and its ID reused.
final class TagStore {
    /// Tags interned to tag IDs.
    var tags = ByteInterner()
    /// Documents of each tag ID.
    var postings: [TagPosting] = []
    /// Each document's tag ID, or ``none``, or ``many`` (the IDs are then in `multipleTags`).
    var documentTag: [UInt32] = []
    var multipleTags: [UInt32: [UInt32]] = [:]
    /// Each document's raw value, kept only where it differs from its single tag's bytes (most values are one tag
    /// already in normal form: no copy kept); see ``rawValue(_:)``.
    var rawValues: [[UInt8]?] = []
    /// The normalized tag of the value being written (reused).
    private var scratch: [UInt8] = []
    let separator: UInt8
    let caseSensitive: Bool
    let indexed: Bool

    static let none = UInt32.max
    static let many = UInt32.max - 1

    init(separator: UInt8, caseSensitive: Bool, indexed: Bool) {
        self.separator = separator
        self.caseSensitive = caseSensitive
        self.indexed = indexed
    }

    /// Number of distinct tags indexed.
    var tagCount: Int { tags.count }

    /// The bytes of a tag ID in use.
    @inline(__always)
    func bytes(_ id: UInt32) -> [UInt8] { tags.bytes[Int(id)]! }

    func normalize(_ tag: [UInt8]) -> [UInt8] {
        var lo = 0
        var hi = tag.count
        while lo < hi && FieldValues.isSpace(tag[lo]) { lo += 1 }
        while hi > lo && FieldValues.isSpace(tag[hi - 1]) { hi -= 1 }
        let trimmed = Array(tag[lo..<hi])
        return caseSensitive ? trimmed : FieldValues.lowercase(trimmed)
    }

    /// The tag ID of `tag`, if indexed.
    func tagID(_ tag: [UInt8]) -> UInt32? {
        tag.withUnsafeBytes { tags.find($0, hash: ByteKeyTable.hash($0)) }
    }

    /// The tag ID of `tag`, interning it if new.
    private func intern(_ tag: UnsafeRawBufferPointer) -> UInt32 {
        let hash = ByteKeyTable.hash(tag)
        if let id = tags.find(tag, hash: hash) { return id }
        let id = tags.add(tag, hash: hash)
        if Int(id) == postings.count { postings.append(.many(SortedBlockList())) }
        return id
    }

    private func release(_ id: UInt32) {
        let hash = bytes(id).withUnsafeBytes { ByteKeyTable.hash($0) }
        tags.remove(id, hash: hash)
        postings[Int(id)] = .many(SortedBlockList())
    }

    /// The tag IDs of a document, ascending.
    func tagIDs(of document: UInt32) -> [UInt32] {
        let i = Int(document)
        guard i < documentTag.count else { return [] }
        switch documentTag[i] {
        case Self.none: return []
        case Self.many: return multipleTags[document] ?? []
        case let id: return [id]
        }
    }

    /// A document's raw value (nil when it has none).
    func rawValue(_ document: UInt32) -> [UInt8]? {
        let i = Int(document)
        guard i < rawValues.count else { return nil }
        if let raw = rawValues[i] { return raw }
        let tag = documentTag[i]
        return tag == Self.none || tag == Self.many ? nil : bytes(tag)
    }

    /// Whether `raw` is the document's current raw value (nil: no value).
    private func isCurrent(_ i: Int, _ raw: UnsafeRawBufferPointer?) -> Bool {
        if let kept = rawValues[i] { return raw.map { r in kept.withUnsafeBytes { $0.elementsEqual(r) } } ?? false }
        let tag = documentTag[i]
        guard tag != Self.none else { return raw == nil }
        guard let raw, tag != Self.many else { return false }
        return bytes(tag).withUnsafeBytes { $0.elementsEqual(raw) }
    }

    func set(_ document: UInt32, _ raw: UnsafeRawBufferPointer?) {
        let i = Int(document)
        if i >= documentTag.count {
            documentTag.append(contentsOf: repeatElement(Self.none, count: i + 1 - documentTag.count))
            rawValues.append(contentsOf: repeatElement(nil, count: i + 1 - rawValues.count))
        }
        // The same raw value gives the same tags: nothing to do (a rewrite of the other fields).
        guard indexed else {
            rawValues[i] = raw.map { Array($0) }
            return
        }
        if isCurrent(i, raw) { return }
        let old = documentTag[i]
        // Fast path: a single ASCII tag (or a blank value) replacing a single tag (or none).
        if old != Self.many, let raw, let kind = normalizeSingle(raw) {
            let new = internSingle(kind, raw)
            let keep = kind != .asIs
            if keep || rawValues[i] != nil { rawValues[i] = keep ? Array(raw) : nil }
            if new == old { return }
            if old != Self.none { removePosting(old, document) }
            if new != Self.none { addPosting(new, document) }
            documentTag[i] = new
            return
        }
        let oldIDs = tagIDs(of: document)
        var newIDs: [UInt32] = []
        if let raw {
            let tags: [[UInt8]]
            if let kind = normalizeSingle(raw) {
                let id = internSingle(kind, raw)
                tags = id == Self.none ? [] : [bytes(id)]
            } else {
                tags = FieldValues.tags(Array(raw), separator: separator, caseSensitive: caseSensitive)
            }
            newIDs = tags.map { tag in tag.withUnsafeBytes { intern($0) } }.sorted()
        }
        for id in oldIDs where !Self.contains(newIDs, id) { removePosting(id, document) }
        for id in newIDs where !Self.contains(oldIDs, id) { addPosting(id, document) }
        if newIDs.count > 1 {
            documentTag[i] = Self.many
            multipleTags[document] = newIDs
        } else {
            if old == Self.many { multipleTags[document] = nil }
            documentTag[i] = newIDs.first ?? Self.none
        }
        let same = newIDs.count == 1 && raw.map { r in bytes(newIDs[0]).withUnsafeBytes { $0.elementsEqual(r) } } == true
        rawValues[i] = same ? nil : raw.map { Array($0) }
    }

    @inline(__always)
    private static func contains(_ sorted: [UInt32], _ id: UInt32) -> Bool {
        SearchIndex.binarySearch(sorted, id)
    }

    /// How a value without the separator and with ASCII bytes only normalizes: to itself, to the (trimmed or
    /// lowercased) copy left in `scratch`, or to no tag (blank).
    enum SingleTag {
        case asIs
        case scratch
        case blank
    }

    /// Normalizes a value holding at most one tag (ASCII, no separator) into a ``SingleTag``; nil when the value
    /// needs the general path.
    @inline(__always)
    private func normalizeSingle(_ raw: UnsafeRawBufferPointer) -> SingleTag? {
        var upper = false
        for byte in raw {
            if byte == separator || byte >= 0x80 { return nil }
            if byte &- 0x41 < 26 { upper = true }
        }
        var lo = 0
        var hi = raw.count
        while lo < hi && FieldValues.isSpace(raw[lo]) { lo += 1 }
        while hi > lo && FieldValues.isSpace(raw[hi - 1]) { hi -= 1 }
        if lo == hi { return .blank }
        let lowercase = upper && !caseSensitive
        if lo == 0 && hi == raw.count && !lowercase { return .asIs }
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[lo..<hi]))
        if lowercase {
            scratch.withUnsafeMutableBufferPointer { buffer in
                for i in buffer.indices where buffer[i] &- 0x41 < 26 { buffer[i] |= 0x20 }
            }
        }
        return .scratch
    }

    /// The tag ID for a value ``normalizeSingle(_:)`` accepted, interning the tag if new (``none`` when blank).
    @inline(__always)
    private func internSingle(_ kind: SingleTag, _ raw: UnsafeRawBufferPointer) -> UInt32 {
        switch kind {
        case .asIs: intern(raw)
        case .scratch: scratch.withUnsafeBytes { intern($0) }
        case .blank: Self.none
        }
    }

    private func addPosting(_ id: UInt32, _ document: UInt32) {
        let t = Int(id)
        switch postings[t] {
        case .one(let existing):
            guard existing != document else { return }
            var list = SortedBlockList<UInt32>()
            list.insert(existing)
            list.insert(document)
            postings[t] = .many(list)
        case .many(var list):
            if list.isEmpty {
                postings[t] = .one(document)
                return
            }
            postings[t] = .one(0)  // drop the array's reference, so that `list` is unique and grows in place
            list.insert(document)
            postings[t] = .many(list)
        }
    }

    private func removePosting(_ id: UInt32, _ document: UInt32) {
        let t = Int(id)
        switch postings[t] {
        case .one(let existing):
            if existing == document { release(id) }
        case .many(var list):
            postings[t] = .one(0)
            list.remove(document)
            postings[t] = .many(list)
            if list.isEmpty { release(id) }
        }
    }

    /// The posting lists for the patterns (already normalized).
    func lists(_ patterns: [TagPattern]) -> [SortedBlockList<UInt32>] {
        guard indexed else { return [] }
        var result: [SortedBlockList<UInt32>] = []
        var prefixes: [[UInt8]] = []
        var seen: Set<UInt32> = []
        for pattern in patterns {
            switch pattern {
            case .exact(let tag):
                if let id = tagID(tag), seen.insert(id).inserted { result.append(postings[Int(id)].list) }
            case .prefix(let prefix):
                prefixes.append(prefix)
            }
        }
        if !prefixes.isEmpty {
            for (id, tag) in tags.bytes.enumerated() {
                guard let tag, !seen.contains(UInt32(id)), prefixes.contains(where: { tag.starts(with: $0) }) else {
                    continue
                }
                result.append(postings[id].list)
            }
        }
        return result
    }

    /// Whether the document has a tag matching one of the patterns (already normalized).
    func matches(_ document: UInt32, _ patterns: [TagPattern]) -> Bool {
        guard indexed else { return false }
        let i = Int(document)
        guard i < documentTag.count else { return false }
        switch documentTag[i] {
        case Self.none: return false
        case Self.many: return (multipleTags[document] ?? []).contains { matches(tag: $0, patterns) }
        case let id: return matches(tag: id, patterns)
        }
    }

    private func matches(tag id: UInt32, _ patterns: [TagPattern]) -> Bool {
        let bytes = bytes(id)
        for pattern in patterns {
            switch pattern {
            case .exact(let tag): if bytes == tag { return true }
            case .prefix(let prefix): if bytes.starts(with: prefix) { return true }
            }
        }
        return false
    }
}

/// The documents of one tag: most tags of a field with many distinct values have a single document, kept inline.
enum TagPosting {
    case one(UInt32)
    case many(SortedBlockList<UInt32>)

    /// The documents as a list (built for a single document).
    var list: SortedBlockList<UInt32> {
        switch self {
        case .one(let document):
            var list = SortedBlockList<UInt32>()
            list.insert(document)
            return list
        case .many(let list):
            return list
        }
    }
}

/// A TEXT field: accepted in schemas; values are kept only when SORTABLE (lowercased, for SORTBY).
final class TextStore {
    var sortValues: [[UInt8]?] = []
    let sortable: Bool

    init(sortable: Bool) {
        self.sortable = sortable
    }

    func set(_ document: UInt32, _ raw: UnsafeRawBufferPointer?) {
        guard sortable else { return }
        let i = Int(document)
        if i >= sortValues.count { sortValues.append(contentsOf: repeatElement(nil, count: i + 1 - sortValues.count)) }
        sortValues[i] = raw.map { FieldValues.lowercase(Array($0)) }
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
