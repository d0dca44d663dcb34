/// One secondary index: the documents (hash keys) it covers, and per schema field an index structure.
///
/// Documents get dense integer IDs (reused after removal), kept in a key-to-ID table. NUMERIC fields keep an
/// ordered block list of (value, ID); TAG fields an inverted map from tag to a sorted ID set; both also keep each
/// document's values so that updates touch only what changed and predicates are O(1).
///
/// Not thread-safe: the owner serializes access (the engine holds it under a lock).
///
/// - Complexity: ``index(key:values:)`` and ``remove(key:)`` are O(fields · log n) (plus the size of a tag list).
public final class SearchIndex {
    /// The definition this index was created with.
    public let definition: IndexDefinition
    var keys: [[UInt8]?] = []
    var ids: [[UInt8]: UInt32] = [:]
    var freeIDs: [UInt32] = []
    var stores: [FieldStore]
    /// Documents that could not be indexed because a NUMERIC value did not parse (cumulative, as RediSearch's
    /// `hash_indexing_failures`).
    public private(set) var indexingFailures = 0

    /// Creates an empty index.
    public init(definition: IndexDefinition) {
        self.definition = definition
        self.stores = definition.fields.map { field in
            switch field.type {
            case .numeric: .numeric(NumericStore(indexed: !field.noIndex))
            case .tag: .tag(TagStore(separator: field.separator, caseSensitive: field.caseSensitive, indexed: !field.noIndex))
            case .text: .text(TextStore(sortable: field.sortable))
            }
        }
    }

    /// Number of documents indexed.
    public var documentCount: Int { ids.count }

    /// Largest document ID plus one (the size of per-document tables).
    public var documentIDBound: Int { keys.count }

    /// The keys of every indexed document, in document-ID order.
    public var documentKeys: [[UInt8]] { keys.compactMap { $0 } }

    /// Whether `key` is indexed.
    public func contains(key: [UInt8]) -> Bool { ids[key] != nil }

    /// Number of distinct values indexed in the field at `position` (tags for TAG fields, entries for NUMERIC).
    public func distinctValueCount(field position: Int) -> Int {
        switch stores[position] {
        case .numeric(let store): store.tree.count
        case .tag(let store): store.postings.count
        case .text: 0
        }
    }

    /// Indexes (or re-indexes) a document.
    ///
    /// - Parameters:
    ///   - key: The document's key.
    ///   - values: The value of each schema field, in schema order (nil when the hash lacks the field).
    /// - Returns: False if a NUMERIC value did not parse: the document is then left out of the index (removed if it
    ///   was there) and counted in ``indexingFailures``.
    @discardableResult
    public func index(key: [UInt8], values: [[UInt8]?]) -> Bool {
        precondition(values.count == stores.count, "one value per schema field")
        // Validate every NUMERIC value before touching anything (parsed again below: cheaper than an array per write).
        for (position, store) in stores.enumerated() {
            guard case .numeric = store, let raw = values[position] else { continue }
            if FieldValues.parseNumber(raw) == nil {
                remove(key: key)
                indexingFailures += 1
                return false
            }
        }
        let id: UInt32
        if let existing = ids[key] {
            id = existing
        } else if let free = freeIDs.popLast() {
            id = free
            keys[Int(id)] = key
            ids[key] = id
        } else {
            id = UInt32(keys.count)
            keys.append(key)
            ids[key] = id
        }
        for (position, store) in stores.enumerated() {
            switch store {
            case .numeric(let numeric): numeric.set(id, values[position].flatMap { FieldValues.parseNumber($0) })
            case .tag(let tag): tag.set(id, values[position])
            case .text(let text): text.set(id, values[position])
            }
        }
        checkInvariants()
        return true
    }

    /// Removes a document; returns false if it was not indexed.
    @discardableResult
    public func remove(key: [UInt8]) -> Bool {
        guard let id = ids.removeValue(forKey: key) else { return false }
        for store in stores {
            switch store {
            case .numeric(let numeric): numeric.set(id, nil)
            case .tag(let tag): tag.set(id, nil)
            case .text(let text): text.set(id, nil)
            }
        }
        keys[Int(id)] = nil
        freeIDs.append(id)
        checkInvariants()
        return true
    }

    /// Removes every document (FLUSHDB), keeping the definition and the failure count.
    public func removeAll() {
        keys = []
        ids = [:]
        freeIDs = []
        stores = SearchIndex(definition: definition).stores
    }

    /// The key of a document ID.
    public func key(of id: UInt32) -> [UInt8]? {
        Int(id) < keys.count ? keys[Int(id)] : nil
    }

    func checkInvariants() {
        #if NEPTUNE_INTERNAL_CHECKS
        precondition(ids.count + freeIDs.count == keys.count)
        for store in stores {
            switch store {
            case .numeric(let numeric) where numeric.tree.count < 512: numeric.tree.checkInvariants()
            case .numeric: break
            case .tag, .text: break
            }
        }
        #endif
    }
}
