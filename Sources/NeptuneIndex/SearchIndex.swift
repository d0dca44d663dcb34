import CNeptuneIndex

/// One secondary index: the documents (hash keys) it covers, and per schema field an index structure.
///
/// Documents get dense integer IDs (reused after removal), found by their key bytes in an open-addressing table
/// (``ByteInterner``) without building a key array, or checked against a caller's hint (``index(key:hint:field:)``)
/// without a table probe. NUMERIC fields keep blocks of (value, ID) (``NumericBlocks``); TAG fields intern each tag
/// to a tag ID with its set of IDs (``TagPosting``); both also keep each document's value in a column of the
/// document's row in the key interner (the key, and one word per NUMERIC or TAG field: one cache line for up to
/// four such fields), so that updates touch only what changed, predicates are O(1), and an update reads one row.
///
/// Not thread-safe: the owner serializes access (the engine holds it under a lock).
///
/// - Complexity: ``index(key:values:)`` and ``remove(key:)`` are O(fields · log n) (plus the size of a tag list).
///   The in-place form ``index(key:field:)`` allocates only to remember a key or tag seen for the first time.
public final class SearchIndex {
    /// The definition this index was created with.
    public let definition: IndexDefinition
    /// Document keys interned to document IDs; each row also holds the NUMERIC and TAG fields' per-document words.
    var documents: ByteInterner
    var stores: [FieldStore] = []
    /// The stores again, unretained, for the write path (`stores` keeps them alive). Taking a class out of a
    /// `FieldStore` in an array retains it (and releases it after): an atomic operation, which waits until the
    /// write's earlier stores have reached the cache, a dozen times a write. A fixed buffer of trivial values is
    /// read with no reference counting at all.
    private let writeStores: UnsafeMutableBufferPointer<WriteStore>
    /// NUMERIC values parsed by the write in progress, by schema position (reused: no allocation per write).
    private let parsed: UnsafeMutableBufferPointer<Double>
    /// The field values of the write in progress, by schema position (reused).
    private let values: UnsafeMutableBufferPointer<UnsafeRawBufferPointer?>
    /// A copy of the write's field values (``index(key:hint:field:)``), and where each is in it (count -1: none).
    private var valueBytes = UnsafeMutableRawBufferPointer.allocate(byteCount: 256, alignment: 8)
    private let valueSpans: UnsafeMutableBufferPointer<(offset: Int, count: Int)>
    /// Each TAG field's new tag as its prefetch found it (``TagStore/prefetch(_:_:)``), by schema position, so that
    /// the change does not look the tag up again (reused).
    private let tagLookups: UnsafeMutableBufferPointer<UInt32>
    /// Each schema field's identifier (the hash field it reads), as bytes that live as long as the index.
    public let fieldIdentifiers: UnsafeBufferPointer<UnsafeRawBufferPointer>
    private let identifierBytes: UnsafeMutableRawBufferPointer

    /// A store as an unretained reference (see `writeStores`).
    private enum WriteStore {
        case numeric(Unmanaged<NumericStore>)
        case tag(Unmanaged<TagStore>)
        case text(Unmanaged<TextStore>)
    }
    /// Documents that could not be indexed because a NUMERIC value did not parse (cumulative, as RediSearch's
    /// `hash_indexing_failures`).
    public private(set) var indexingFailures = 0

    /// Creates an empty index.
    public init(definition: IndexDefinition) {
        self.definition = definition
        self.documents = ByteInterner(payloadWords: definition.fields.count(where: { $0.type != .text }))
        let fields = definition.fields
        writeStores = .allocate(capacity: fields.count)
        parsed = .allocate(capacity: fields.count)
        parsed.initialize(repeating: .nan)
        values = .allocate(capacity: fields.count)
        values.initialize(repeating: nil)
        valueSpans = .allocate(capacity: fields.count)
        valueSpans.initialize(repeating: (0, -1))
        tagLookups = .allocate(capacity: fields.count)
        tagLookups.initialize(repeating: TagStore.unknown)
        identifierBytes = .allocate(byteCount: Swift.max(1, fields.reduce(0) { $0 + $1.identifier.count }), alignment: 1)
        let identifiers = UnsafeMutableBufferPointer<UnsafeRawBufferPointer>.allocate(capacity: fields.count)
        var offset = 0
        for (position, field) in fields.enumerated() {
            let bytes = UnsafeMutableRawBufferPointer(rebasing: identifierBytes[offset..<(offset + field.identifier.count)])
            bytes.copyBytes(from: field.identifier)
            identifiers[position] = UnsafeRawBufferPointer(bytes)
            offset += field.identifier.count
        }
        fieldIdentifiers = UnsafeBufferPointer(identifiers)
        self.stores = makeStores()
        noteStores()
    }

    deinit {
        writeStores.deallocate()
        parsed.deallocate()
        values.deallocate()
        valueSpans.deallocate()
        valueBytes.deallocate()
        tagLookups.deallocate()
        fieldIdentifiers.deallocate()
        identifierBytes.deallocate()
    }

    /// Fills `writeStores` from `stores` (after they are made).
    private func noteStores() {
        for (position, store) in stores.enumerated() {
            switch store {
            case .numeric(let numeric): writeStores[position] = .numeric(Unmanaged.passUnretained(numeric))
            case .tag(let tag): writeStores[position] = .tag(Unmanaged.passUnretained(tag))
            case .text(let text): writeStores[position] = .text(Unmanaged.passUnretained(text))
            }
        }
    }

    /// Empty stores for the definition's fields, their per-document columns in `documents`' rows.
    private func makeStores() -> [FieldStore] {
        var column = 0
        return definition.fields.map { field in
            switch field.type {
            case .numeric:
                column += 1
                // Each indexed NUMERIC field keeps each entry's block position in a byte per document.
                return .numeric(NumericStore(indexed: !field.noIndex, values: RowColumn(documents, column: column - 1),
                                             positions: field.noIndex ? nil : DocumentBytes()))
            case .tag:
                column += 1
                return .tag(TagStore(separator: field.separator, caseSensitive: field.caseSensitive, indexed: !field.noIndex,
                                     documentTags: RowColumn(documents, column: column - 1)))
            case .text:
                return .text(TextStore(sortable: field.sortable))
            }
        }
    }

    /// Number of documents indexed.
    public var documentCount: Int { documents.count }

    /// The ID of the document `key`, if it is indexed.
    @inline(__always)
    func id(of key: UnsafeRawBufferPointer, hash: UInt64) -> UInt32? {
        documents.find(key, hash: hash)
    }

    /// The ID of the document `key`, if it is indexed.
    func id(of key: [UInt8]) -> UInt32? {
        key.withUnsafeBytes { id(of: $0, hash: ByteKeyTable.hash($0)) }
    }

    /// Largest document ID plus one (the size of per-document tables).
    public var documentIDBound: Int { documents.idBound }

    /// The keys of every indexed document, in document-ID order.
    public var documentKeys: [[UInt8]] { (0..<documents.idBound).compactMap { documents.bytes(UInt32($0)) } }

    /// Whether `key` is indexed.
    public func contains(key: [UInt8]) -> Bool { id(of: key) != nil }

    /// Number of distinct values indexed in the field at `position` (tags for TAG fields, entries for NUMERIC).
    public func distinctValueCount(field position: Int) -> Int {
        switch stores[position] {
        case .numeric(let store): store.tree.count
        case .tag(let store): store.tagCount
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
        return key.withUnsafeBytes { key in
            index(key: key) { position, body in
                if let value = values[position] { value.withUnsafeBytes { body($0) } } else { body(nil) }
            }
        }
    }

    /// Indexes (or re-indexes) a document whose field values are read through `field`, without copying them first:
    /// the write path of an engine reads them straight out of the stored hash.
    ///
    /// - Parameters:
    ///   - key: The document's key.
    ///   - field: Calls its second argument with the value of the schema field at the position given as its first
    ///     argument (nil when the hash lacks the field); it is called once per field.
    /// - Returns: False if a NUMERIC value did not parse: the document is then left out of the index (removed if it
    ///   was there) and counted in ``indexingFailures``.
    @discardableResult
    public func index(
        key: UnsafeRawBufferPointer,
        field: (_ position: Int, _ body: (UnsafeRawBufferPointer?) -> Void) -> Void
    ) -> Bool {
        var hint = UInt32.max
        return index(key: key, hint: &hint, field: field)
    }

    /// Indexes (or re-indexes) a document as ``index(key:field:)`` does, given a hint of its document ID: the ID
    /// this index gave the document last time, kept by the caller with the document (an engine keeps it in the
    /// stored hash). A hint is checked against the ID's row (the key bytes), so a stale or foreign one is harmless;
    /// a right one saves the lookup in the key table, a random cache miss on a large index.
    ///
    /// - Parameters:
    ///   - key: The document's key.
    ///   - hint: The document's ID in this index if the caller knows it (any value otherwise); set to the ID the
    ///     document has after the call (unchanged if it is not indexed).
    ///   - field: As in ``index(key:field:)``.
    /// - Returns: False if a NUMERIC value did not parse (see ``index(key:field:)``).
    @discardableResult
    public func index(
        key: UnsafeRawBufferPointer,
        hint: inout UInt32,
        field: (_ position: Int, _ body: (UnsafeRawBufferPointer?) -> Void) -> Void
    ) -> Bool {
        // Each field is read once (reading a field out of a hash walks its listpack), its bytes copied into
        // `valueBytes` so that they stay valid while the document is indexed from them: a few bytes, no allocation
        // once the buffer is large enough.
        let values = self.values
        var used = 0
        for position in values.indices {
            var span = (offset: 0, count: -1)
            field(position) { raw in
                guard let raw else { return }
                if used + raw.count > valueBytes.count { growValueBytes(to: used + raw.count) }
                if raw.count > 0 { (valueBytes.baseAddress! + used).copyMemory(from: raw.baseAddress!, byteCount: raw.count) }
                span = (used, raw.count)
                used += raw.count
            }
            valueSpans[position] = span
        }
        let base = UnsafeRawPointer(valueBytes.baseAddress!)
        for position in values.indices {
            let span = valueSpans[position]
            values[position] = span.count < 0 ? nil : UnsafeRawBufferPointer(start: base + span.offset, count: span.count)
        }
        return index(key: key, hint: &hint, values: UnsafeBufferPointer(values))
    }

    /// Grows `valueBytes` to at least `count` bytes (its contents are not kept: only a write's values live there).
    private func growValueBytes(to count: Int) {
        valueBytes.deallocate()
        valueBytes = .allocate(byteCount: Swift.max(count, 2 * valueBytes.count), alignment: 8)
    }

    /// Indexes (or re-indexes) a document as ``index(key:hint:field:)`` does, given every schema field's value
    /// without a copy: the caller lends bytes that stay valid, unchanged, for the whole call (an engine lends the
    /// stored hash's own bytes while it holds the key's shard lock).
    ///
    /// - Parameters:
    ///   - key: The document's key.
    ///   - hint: As in ``index(key:hint:field:)``.
    ///   - values: The value of each schema field, in schema order (nil when the hash lacks the field).
    /// - Returns: False if a NUMERIC value did not parse (see ``index(key:field:)``).
    @discardableResult
    public func index(key: UnsafeRawBufferPointer, hint: inout UInt32, values: UnsafeBufferPointer<UnsafeRawBufferPointer?>) -> Bool {
        precondition(values.count == writeStores.count, "one value per schema field")
        // The write's cache misses are independent until each structure is changed, so every line is requested
        // first (the row now, each block and bitmap word as soon as its address is known) and the changes come
        // after, instead of each change waiting for its own lines in turn.
        documents.prefetchRow(hint)
        let stores = writeStores
        let parsed = self.parsed
        let tagLookups = self.tagLookups
        let firstHint = hint
        // Parse every NUMERIC value before touching anything: one that does not parse leaves the document out.
        var failed = false
        for position in stores.indices {
            guard case .numeric(let numeric) = stores[position] else { continue }
            if let raw = values[position] {
                if let number = FieldValues.parseNumber(raw) {
                    parsed[position] = number
                    numeric._withUnsafeGuaranteedRef { $0.prefetchBound(number, hint: firstHint) }
                } else {
                    failed = true
                }
            } else {
                parsed[position] = .nan
            }
        }
        // The new values' lines do not depend on the row (requested above, and not arrived yet): requested for the
        // hinted ID before the row is first read, so that its miss overlaps these searches and lookups instead of
        // preceding them. (No hint: a new document, looked up after.)
        if !failed && firstHint != .max {
            for position in stores.indices {
                switch stores[position] {
                case .numeric(let numeric): numeric._withUnsafeGuaranteedRef { $0.prefetchNewBlock(firstHint, parsed[position]) }
                case .tag(let tag): tagLookups[position] = tag._withUnsafeGuaranteedRef { $0.prefetchNew(firstHint, values[position]) }
                case .text: break
                }
            }
        }
        let known = documents.holds(hint, key)
        if failed {
            if known { remove(id: hint, hash: ByteKeyTable.hash(key)) } else { remove(key: key, hash: ByteKeyTable.hash(key)) }
            indexingFailures += 1
            return false
        }
        let id: UInt32
        if known {
            id = hint
        } else {
            let hash = ByteKeyTable.hash(key)
            if let found = self.id(of: key, hash: hash) {
                id = found
            } else {
                id = documents.add(key, hash: hash)
                // A new ID: the NUMERIC fields' positions need room for it (their stores never grow them).
                for position in stores.indices {
                    if case .numeric(let numeric) = stores[position] {
                        numeric._withUnsafeGuaranteedRef { $0.tree.positions?.reserve(ids: Int(id) + 1) }
                    }
                }
            }
            hint = id
        }
        // Second round: the current values' bounds (the row gives them), then the blocks and bitmap words whose
        // addresses the first round's lines give. The new values' lines again when the hint was not the ID.
        for position in stores.indices {
            if case .numeric(let numeric) = stores[position] { numeric._withUnsafeGuaranteedRef { $0.prefetchCurrentBound(id) } }
        }
        for position in stores.indices {
            switch stores[position] {
            case .numeric(let numeric):
                if !known || firstHint == .max { numeric._withUnsafeGuaranteedRef { $0.prefetchBlock(id, parsed[position]) } }
            case .tag(let tag):
                if known && firstHint != .max {
                    tag._withUnsafeGuaranteedRef { $0.prefetchCurrent(id) }
                } else {
                    tagLookups[position] = tag._withUnsafeGuaranteedRef { $0.prefetch(id, values[position]) }
                }
            case .text: break
            }
        }
        for position in stores.indices {
            if case .numeric(let numeric) = stores[position] {
                numeric._withUnsafeGuaranteedRef { $0.prefetchCurrentBlock(id, parsed[position]) }
            }
        }
        // TAG and TEXT fields first: the old NUMERIC blocks were requested last (their address takes the longest
        // chain: row, bounds, block), so the NUMERIC changes come last, giving those lines the most time.
        for position in stores.indices {
            switch stores[position] {
            case .numeric: break
            case .tag(let tag): tag._withUnsafeGuaranteedRef { $0.set(id, values[position], lookup: tagLookups[position]) }
            case .text(let text): text._withUnsafeGuaranteedRef { $0.set(id, values[position]) }
            }
        }
        for position in stores.indices {
            if case .numeric(let numeric) = stores[position] {
                let value = parsed[position]
                numeric._withUnsafeGuaranteedRef { $0.set(id, value.isNaN ? nil : value) }
            }
        }
        checkInvariants()
        return true
    }

    /// Removes a document; returns false if it was not indexed.
    @discardableResult
    public func remove(key: [UInt8]) -> Bool {
        key.withUnsafeBytes { remove(key: $0) }
    }

    /// Removes a document; returns false if it was not indexed.
    @discardableResult
    public func remove(key: UnsafeRawBufferPointer) -> Bool {
        remove(key: key, hash: ByteKeyTable.hash(key))
    }

    @discardableResult
    private func remove(key: UnsafeRawBufferPointer, hash: UInt64) -> Bool {
        guard let id = id(of: key, hash: hash) else { return false }
        remove(id: id, hash: hash)
        return true
    }

    /// Removes the document `id`, whose key hashes to `hash`.
    private func remove(id: UInt32, hash: UInt64) {
        for store in stores {
            switch store {
            case .numeric(let numeric): numeric.set(id, nil)
            case .tag(let tag): tag.set(id, nil)
            case .text(let text): text.set(id, nil)
            }
        }
        documents.remove(id, hash: hash)
        checkInvariants()
    }

    /// Removes every document (FLUSHDB), keeping the definition and the failure count.
    public func removeAll() {
        documents.removeAll()
        stores = makeStores()
        noteStores()
    }

    /// The key of a document ID.
    public func key(of id: UInt32) -> [UInt8]? {
        documents.bytes(id)
    }

    func checkInvariants() {
        #if NEPTUNE_INTERNAL_CHECKS
        precondition(documents.isConsistent)
        for store in stores {
            switch store {
            case .numeric(let numeric) where numeric.tree.count < 512: precondition(numeric.tree.isConsistent)
            case .numeric: break
            case .tag, .text: break
            }
        }
        #endif
    }
}
