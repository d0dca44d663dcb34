import NIOConcurrencyHelpers
public import NeptuneIndex
import NeptuneRESP

/// One search hit: the document's key and the hash fields asked for.
public struct SearchHit: Sendable, Hashable {
    /// The document's key.
    public var key: [UInt8]
    /// Field names and values (all of the hash's fields unless the search named some).
    public var fields: [[UInt8]: [UInt8]]
}

/// A page of search results.
public struct SearchPage: Sendable, Hashable {
    /// Number of matching documents (before offset and limit).
    public var total: Int
    /// The requested page, in result order.
    public var hits: [SearchHit]
}

/// Typed secondary-index queries: the same indexes FT.CREATE/FT.SEARCH use, without query strings.
///
/// ```swift
/// import NeptuneCache
/// import NeptuneIndex
///
/// let store = NeptuneStore()
/// try store.createIndex(IndexDefinition(name: Array("products".utf8), prefixes: [Array("p:".utf8)],
///                                       fields: [IndexField("price", .numeric, sortable: true), IndexField("color", .tag)]))
/// _ = store.execute(["HSET", "p:1", "price", "10", "color", "red"])
/// let page = try store.search("products", .and([.numeric("price", NumericRange(min: 5, max: 50)),
///                                               .tag("color", ["red", "blue"])]),
///                             sortBy: IndexSort("price"), limit: 20)
/// ```
extension NeptuneStore {
    /// Creates an index (journaled as FT.CREATE). Existing hashes are indexed before this returns when the database
    /// is small; otherwise in the background (see ``waitForIndexing(_:)``).
    /// - Throws: ``CommandError`` with FT.CREATE's error (e.g. `Index already exists`).
    public func createIndex(_ definition: IndexDefinition) throws {
        try run([Array("FT.CREATE".utf8)] + definition.createArguments)
    }

    /// Drops an index (journaled as FT.DROPINDEX); with `deleteDocuments`, deletes the indexed keys too.
    /// - Throws: ``CommandError`` `Unknown Index name` when there is no such index.
    public func dropIndex(_ name: String, deleteDocuments: Bool = false) throws {
        var args = [Array("FT.DROPINDEX".utf8), Array(name.utf8)]
        if deleteDocuments { args.append(Array("DD".utf8)) }
        try run(args)
    }

    /// The names of all indexes.
    public var indexNames: [String] {
        engine.searchIndexes.names.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Runs a typed query.
    /// - Parameters:
    ///   - index: The index name.
    ///   - query: The query tree (``IndexQuery``).
    ///   - sortBy: Optional sort field and direction; otherwise results come in index order.
    ///   - offset: Results to skip.
    ///   - limit: Results to return.
    ///   - fields: Hash fields to return; all when nil, none when empty.
    /// - Returns: The total number of matches and the requested page.
    /// - Throws: ``CommandError`` for an unknown index or an unsortable field.
    public func search(
        _ index: String,
        _ query: IndexQuery,
        sortBy: IndexSort? = nil,
        offset: Int = 0,
        limit: Int = 10,
        fields: [String]? = nil
    ) throws -> SearchPage {
        guard let handle = engine.searchIndexes.handle(named: Array(index.utf8)) else {
            throw CommandError("\(index): no such index")
        }
        let result: SearchResult = try handle.withIndex { index in
            handle.uses += 1
            do {
                return try index.search(query, sort: sortBy, offset: offset, limit: limit)
            } catch let error as IndexError {
                throw CommandError(error.message)
            }
        }
        let returning = fields.map { $0.map { (name: Array($0.utf8), field: Array($0.utf8)) } }
        let now = engine.clock.milliseconds()
        var hits: [SearchHit] = []
        hits.reserveCapacity(result.keys.count)
        for key in result.keys {
            var values: [[UInt8]: [UInt8]] = [:]
            if fields?.isEmpty != true {
                for field in engine.loadDocument(key, definition: handle.definition, returning: returning, now: now) ?? [] {
                    values[field.name] = field.value
                }
            }
            hits.append(SearchHit(key: key, fields: values))
        }
        return SearchPage(total: result.total, hits: hits)
    }

    /// Runs a RediSearch query string (dialect 2), with `$name` parameters.
    /// - Throws: ``CommandError`` with the parser's message for a malformed query.
    public func search(
        _ index: String,
        query: String,
        parameters: [String: String] = [:],
        sortBy: IndexSort? = nil,
        offset: Int = 0,
        limit: Int = 10
    ) throws -> SearchPage {
        var params: [[UInt8]: [UInt8]] = [:]
        for (k, v) in parameters { params[Array(k.utf8)] = Array(v.utf8) }
        let parsed: IndexQuery
        do {
            parsed = try QueryParser(parameters: params).parse(Array(query.utf8))
        } catch {
            throw CommandError(error.message)
        }
        return try search(index, parsed, sortBy: sortBy, offset: offset, limit: limit)
    }

    /// Blocks until the index's background build (after FT.CREATE on a large database, or SWAPDB) has finished.
    public func waitForIndexing(_ index: String) {
        guard let handle = engine.searchIndexes.handle(named: Array(index.utf8)) else { return }
        while handle.lock.withLock({ handle.building }) {
            usleepShim(1000)
        }
    }

    private func run(_ arguments: [[UInt8]]) throws {
        if case .error(let message) = execute(arguments) { throw CommandError(message) }
    }
}

#if canImport(Glibc)
import Glibc
private func usleepShim(_ microseconds: UInt32) { _ = usleep(microseconds) }
#elseif canImport(Darwin)
import Darwin
private func usleepShim(_ microseconds: UInt32) { _ = usleep(microseconds) }
#endif
