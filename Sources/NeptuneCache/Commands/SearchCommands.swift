import NIOConcurrencyHelpers
import NIOCore
import NeptuneIndex
import NeptuneRESP

/// RediSearch-compatible FT.* commands over hashes of database 0 (see DESIGN.md §5 and the README's "Secondary
/// indexes" section for what is supported).
extension Engine {
    static var searchCommands: [CommandSpec] {
        func spec(_ name: String, _ arity: Int, _ flags: Set<String>, _ summary: String, _ body: @escaping CommandBody)
            -> CommandSpec
        {
            CommandSpec(
                name,
                arity: arity,
                flags: flags,
                categories: flags.contains("write") ? ["write", "search", "slow"] : ["read", "search", "slow"],
                group: "search",
                summary: summary,
                since: "1.0.0",
                complexity: "O(log N + K)",
                body: body
            )
        }
        return [
            spec("ft.create", -5, ["write", "denyoom"], "Creates an index with the given spec", ftCreate),
            spec("ft.search", -3, ["readonly"], "Searches the index with a textual query", ftSearch),
            spec("ft.info", 2, ["readonly"], "Returns information and statistics on the index", ftInfo),
            spec("ft.dropindex", -2, ["write"], "Deletes the index", ftDropIndex),
            spec("ft._list", 1, ["readonly"], "Returns a list of all existing indexes", ftList),
        ]
    }

    // MARK: FT.CREATE

    static func ftCreate(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard c.db == SearchIndexes.database else { throw CommandError("Cannot create index on db != 0") }
        var parser = ArgumentCursor(a, from: 1)
        let (definition, skipInitialScan) = try SearchArguments.parseCreate(&parser)
        let registry = engine.searchIndexes
        guard registry.handle(named: definition.name) == nil else { throw CommandError("Index already exists") }
        if !registry.observing {
            engine.addObserver(registry)  // every shard is locked by the dispatcher: reentrant
            registry.observing = true
        }
        let handle = IndexHandle(definition: definition)
        registry.add(handle)
        if skipInitialScan {
            handle.lock.withLock { handle.scannedShards = Engine.shardCount }
        } else {
            let inline = c.replaying || engine.isLoading || registry.databaseKeyCount() <= registry.inlineBuildLimit
            registry.startBuild(handle, inline: inline)
        }
        c.reply.writeRESPSimpleString("OK")
    }

    // MARK: FT.DROPINDEX

    static func ftDropIndex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var deleteDocuments = false
        if a.count == 3 {
            guard SearchArguments.equals(a[2], "DD") else { throw CommandError("Unknown argument `\(SearchArguments.text(a[2]))`") }
            deleteDocuments = true
        } else if a.count > 3 {
            throw CommandError.wrongArity("ft.dropindex")
        }
        let name = SearchArguments.bytes(a[1])
        guard let handle = engine.searchIndexes.remove(named: name) else { throw CommandError("Unknown Index name") }
        guard deleteDocuments else {
            c.reply.writeRESPSimpleString("OK")
            return
        }
        // DD: delete the indexed keys too, journaled as DEL so replay needs no index.
        let keys: [[UInt8]] = handle.withIndex { $0.documentKeys }
        var deleted: [ByteBuffer] = [ByteBuffer(string: "DEL")]
        let now = c.now
        for key in keys {
            let buffer = ByteBuffer(bytes: key)
            engine.withKey(buffer) { k, hash, shard in
                let slot = shard.find(SearchIndexes.database, k, hash, now: now)
                if slot >= 0 {
                    shard.remove(SearchIndexes.database, slot)
                    deleted.append(buffer)
                }
            }
        }
        var records = [[ByteBuffer(string: "FT.DROPINDEX"), a[1]]]
        if deleted.count > 1 { records.append(deleted) }
        c.journal = .commands(records)
        c.reply.writeRESPSimpleString("OK")
    }

    // MARK: FT._LIST

    static func ftList(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let names = engine.searchIndexes.names
        c.reply.writeRESPArrayHeader(names.count)
        for name in names { c.reply.writeRESPBulkString(name) }
    }

    // MARK: FT.SEARCH

    static func ftSearch(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let name = SearchArguments.bytes(a[1])
        guard let handle = engine.searchIndexes.handle(named: name) else {
            throw CommandError("\(SearchArguments.text(a[1])): no such index")
        }
        var cursor = ArgumentCursor(a, from: 3)
        let request = try SearchArguments.parseSearch(&cursor, query: SearchArguments.bytes(a[2]))
        let result: SearchResult = try handle.withIndex { index in
            handle.uses += 1
            do {
                return try index.search(request.query, sort: request.sort, offset: request.offset, limit: request.limit)
            } catch let error as IndexError {
                throw CommandError(error.message)
            }
        }
        // Load the page's documents (outside the index lock: shard locks are never taken under it).
        let definition = handle.definition
        var documents: [[(name: [UInt8], value: [UInt8])]?] = []
        if request.withContent {
            documents.reserveCapacity(result.keys.count)
            for key in result.keys {
                documents.append(
                    engine.loadDocument(key, db: c.db, definition: definition, returning: request.returnFields, now: c.now)
                )
            }
        }
        writeSearchReply(result, documents, request, &c)
    }

    /// The fields of the hash at `key` in `db` (all, or those named by RETURN), or nil if it is not a hash there.
    ///
    /// FT.SEARCH reads documents from the client's selected database, as RediSearch does (its index registry is
    /// global and its loader opens keys in the caller's database), so a search issued while another database is
    /// selected answers null for documents absent from it.
    func loadDocument(
        _ key: [UInt8],
        db: Int = SearchIndexes.database,
        definition: IndexDefinition,
        returning: [(name: [UInt8], field: [UInt8])]?,
        now: Int64
    ) -> [(name: [UInt8], value: [UInt8])]? {
        withKey(ByteBuffer(bytes: key)) { k, hash, shard in
            let slot = shard.find(db, k, hash, now: now)
            guard slot >= 0 else { return nil }
            let e = shard.entry(shard.tables[db], slot)
            guard e.type == .hash else { return nil }
            let object = unsafeDowncast(e.object, to: HashObject.self)
            guard let returning else { return object.pairs.map { (name: $0.field, value: $0.value) } }
            var fields: [(name: [UInt8], value: [UInt8])] = []
            for item in returning {
                if let value = item.field.withUnsafeBytes({ object.value($0) }) { fields.append((item.name, value)) }
            }
            return fields
        }
    }

    static func writeSearchReply(
        _ result: SearchResult,
        _ documents: [[(name: [UInt8], value: [UInt8])]?],
        _ request: SearchRequest,
        _ c: inout CommandContext
    ) {
        if c.protocolVersion == .v2 {
            let perDocument = 1 + (request.withScores ? 1 : 0) + (request.withContent ? 1 : 0)
            c.reply.writeRESPArrayHeader(1 + result.keys.count * perDocument)
            c.reply.writeRESPInteger(result.total)
            for (i, key) in result.keys.enumerated() {
                // (The raw-bytes writer reserves once and copies with memcpy; the array one copies through a generic path.)
                key.withUnsafeBytes { c.reply.writeRESPBulkString($0) }
                if request.withScores { c.reply.writeRESPBulkString("1") }
                if request.withContent {
                    // A document gone since the search (or absent from the selected database): null, as
                    // RediSearch answers for a document it cannot load.
                    guard let fields = documents[i] else {
                        c.reply.writeRESPNull(.v2)
                        continue
                    }
                    c.reply.writeRESPArrayHeader(fields.count * 2)
                    for field in fields {
                        field.name.withUnsafeBytes { c.reply.writeRESPBulkString($0) }
                        field.value.withUnsafeBytes { c.reply.writeRESPBulkString($0) }
                    }
                }
            }
            return
        }
        let version = c.protocolVersion
        c.reply.writeRESPMapHeader(5, version)
        c.reply.writeRESPBulkString("attributes")
        c.reply.writeRESPArrayHeader(0)
        c.reply.writeRESPBulkString("format")
        c.reply.writeRESPBulkString("STRING")
        c.reply.writeRESPBulkString("results")
        c.reply.writeRESPArrayHeader(result.keys.count)
        for (i, key) in result.keys.enumerated() {
            c.reply.writeRESPMapHeader(2 + (request.withScores ? 1 : 0) + (request.withContent ? 1 : 0), version)
            c.reply.writeRESPBulkString("id")
            key.withUnsafeBytes { c.reply.writeRESPBulkString($0) }
            if request.withScores {
                c.reply.writeRESPBulkString("score")
                c.reply.writeRESPDouble(1, version)
            }
            if request.withContent {
                c.reply.writeRESPBulkString("extra_attributes")
                if let fields = documents[i] {
                    c.reply.writeRESPMapHeader(fields.count, version)
                    for field in fields {
                        field.name.withUnsafeBytes { c.reply.writeRESPBulkString($0) }
                        field.value.withUnsafeBytes { c.reply.writeRESPBulkString($0) }
                    }
                } else {
                    c.reply.writeRESPNull(version)
                }
            }
            c.reply.writeRESPBulkString("values")
            c.reply.writeRESPArrayHeader(0)
        }
        c.reply.writeRESPBulkString("total_results")
        c.reply.writeRESPInteger(result.total)
        c.reply.writeRESPBulkString("warning")
        c.reply.writeRESPArrayHeader(0)
    }

    // MARK: FT.INFO

    static func ftInfo(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let handle = engine.searchIndexes.handle(named: SearchArguments.bytes(a[1])) else {
            throw CommandError("Unknown index name")
        }
        struct Snapshot {
            var documents = 0
            var maxID = 0
            var records = 0
            var failures = 0
            var building = false
            var scanned = 0
            var uses = 0
            var milliseconds = 0.0
        }
        let definition = handle.definition
        let s: Snapshot = handle.withIndex { index in
            var records = 0
            for i in definition.fields.indices { records += index.distinctValueCount(field: i) }
            return Snapshot(
                documents: index.documentCount,
                maxID: index.documentIDBound,
                records: records,
                failures: index.indexingFailures,
                building: handle.building,
                scanned: handle.scannedShards,
                uses: handle.uses,
                milliseconds: handle.indexingMilliseconds
            )
        }
        let version = c.protocolVersion
        var out = c.reply
        defer { c.reply = out }
        let pairs = 13
        if version == .v2 { out.writeRESPArrayHeader(pairs * 2) } else { out.writeRESPMapHeader(pairs, version) }
        out.writeRESPBulkString("index_name")
        out.writeRESPBulkString(definition.name)
        out.writeRESPBulkString("index_options")
        out.writeRESPArrayHeader(0)
        out.writeRESPBulkString("index_definition")
        if version == .v2 { out.writeRESPArrayHeader(6) } else { out.writeRESPMapHeader(3, version) }
        out.writeRESPBulkString("key_type")
        out.writeRESPBulkString("HASH")
        out.writeRESPBulkString("prefixes")
        let prefixes = definition.prefixes.isEmpty ? [[UInt8]()] : definition.prefixes
        out.writeRESPArrayHeader(prefixes.count)
        for prefix in prefixes { out.writeRESPBulkString(prefix) }
        out.writeRESPBulkString("default_score")
        out.writeRESPBulkString(SearchArguments.format(definition.defaultScore))
        out.writeRESPBulkString("attributes")
        out.writeRESPArrayHeader(definition.fields.count)
        for field in definition.fields {
            var pairs: [(String, String)] = [("type", field.type.rawValue)]
            var flags: [String] = []
            switch field.type {
            case .tag: pairs.append(("SEPARATOR", String(decoding: [field.separator], as: UTF8.self)))
            case .text: pairs.append(("WEIGHT", SearchArguments.format(field.weight)))
            case .numeric: break
            }
            if field.sortable { flags.append("SORTABLE") }
            if field.noIndex { flags.append("NOINDEX") }
            if field.caseSensitive { flags.append("CASESENSITIVE") }
            if version == .v2 {
                out.writeRESPArrayHeader(4 + pairs.count * 2 + flags.count)
            } else {
                out.writeRESPMapHeader(3 + pairs.count, version)
            }
            out.writeRESPBulkString("identifier")
            out.writeRESPBulkString(field.identifier)
            out.writeRESPBulkString("attribute")
            out.writeRESPBulkString(field.name)
            for (k, v) in pairs {
                out.writeRESPBulkString(k)
                out.writeRESPBulkString(v)
            }
            if version == .v2 {
                for flag in flags { out.writeRESPBulkString(flag) }
            } else {
                out.writeRESPBulkString("flags")
                out.writeRESPArrayHeader(flags.count)
                for flag in flags { out.writeRESPBulkString(flag) }
            }
        }
        func number(_ key: StaticString, _ value: Int) {
            out.writeRESPBulkString(key)
            out.writeRESPInteger(value)
        }
        number("num_docs", s.documents)
        number("max_doc_id", s.maxID)
        number("num_terms", 0)
        number("num_records", s.records)
        number("hash_indexing_failures", s.failures)
        out.writeRESPBulkString("total_indexing_time")
        out.writeRESPBulkString(SearchArguments.format(s.milliseconds))
        number("indexing", s.building ? 1 : 0)
        out.writeRESPBulkString("percent_indexed")
        out.writeRESPBulkString(SearchArguments.format(s.building ? Double(s.scanned) / Double(Engine.shardCount) : 1))
        number("number_of_uses", s.uses)
    }
}

/// FT.SEARCH's parsed options.
struct SearchRequest {
    var query: IndexQuery
    var withContent = true
    var withScores = false
    var returnFields: [(name: [UInt8], field: [UInt8])]? = nil
    var sort: IndexSort? = nil
    var offset = 0
    var limit = 10
}

/// Reads command arguments left to right.
struct ArgumentCursor {
    let arguments: [ByteBuffer]
    var position: Int

    init(_ arguments: [ByteBuffer], from position: Int) {
        self.arguments = arguments
        self.position = position
    }

    var atEnd: Bool { position >= arguments.count }

    mutating func next() -> ByteBuffer? {
        guard position < arguments.count else { return nil }
        defer { position += 1 }
        return arguments[position]
    }

    /// The next argument, or the error RediSearch gives when an option's value is missing.
    mutating func value(for option: String) throws -> ByteBuffer {
        guard let argument = next() else { throw CommandError("Bad arguments for \(option): Expected an argument") }
        return argument
    }

    mutating func integer(for option: String) throws -> Int {
        let argument = try value(for: option)
        guard let n = Int(SearchArguments.text(argument)) else {
            throw CommandError("Bad arguments for \(option): Could not convert argument to expected type")
        }
        return n
    }
}

enum SearchArguments {
    static func bytes(_ b: ByteBuffer) -> [UInt8] { Array(b.readableBytesView) }

    static func text(_ b: ByteBuffer) -> String { String(decoding: b.readableBytesView, as: UTF8.self) }

    static func equals(_ b: ByteBuffer, _ keyword: StaticString) -> Bool {
        let view = b.readableBytesView
        guard view.count == keyword.utf8CodeUnitCount else { return false }
        return keyword.withUTF8Buffer { k in
            zip(view, k).allSatisfy { a, b in (a >= 0x61 && a <= 0x7A ? a - 0x20 : a) == b }
        }
    }

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }

    // MARK: FT.CREATE

    static func parseCreate(_ cursor: inout ArgumentCursor) throws -> (IndexDefinition, skipInitialScan: Bool) {
        let name = bytes(cursor.next()!)
        var prefixes: [[UInt8]] = []
        var score = 1.0
        var language = Array("english".utf8)
        var skipInitialScan = false
        options: while let argument = cursor.next() {
            if equals(argument, "SCHEMA") { break options }
            if equals(argument, "ON") {
                let type = try cursor.value(for: "ON")
                if equals(type, "JSON") {
                    throw CommandError("ON JSON is not supported: Neptune indexes hashes only (ON HASH)")
                }
                guard equals(type, "HASH") else { throw CommandError("Invalid `ON` argument: \(text(type))") }
            } else if equals(argument, "PREFIX") {
                let count = try cursor.integer(for: "PREFIX")
                guard count >= 0 else { throw CommandError("Bad arguments for PREFIX: Invalid count") }
                for _ in 0..<count { prefixes.append(bytes(try cursor.value(for: "PREFIX"))) }
            } else if equals(argument, "FILTER") {
                throw CommandError("FILTER is not supported: select documents with PREFIX")
            } else if equals(argument, "SCORE") {
                let value = try cursor.value(for: "SCORE")
                guard let s = Double(text(value)), s >= 0, s <= 1 else { throw CommandError("Invalid score") }
                score = s
            } else if equals(argument, "LANGUAGE") {
                language = bytes(try cursor.value(for: "LANGUAGE"))
            } else if equals(argument, "STOPWORDS") {
                let count = try cursor.integer(for: "STOPWORDS")
                for _ in 0..<max(0, count) { _ = try cursor.value(for: "STOPWORDS") }
            } else if equals(argument, "SKIPINITIALSCAN") {
                skipInitialScan = true
            } else if equals(argument, "MAXTEXTFIELDS") || equals(argument, "NOOFFSETS") || equals(argument, "NOHL")
                || equals(argument, "NOFIELDS") || equals(argument, "NOFREQS")
            {
                continue
            } else if equals(argument, "LANGUAGE_FIELD") || equals(argument, "SCORE_FIELD") || equals(argument, "PAYLOAD_FIELD")
                || equals(argument, "TEMPORARY")
            {
                throw CommandError("\(text(argument).uppercased()) is not supported")
            } else {
                throw CommandError("Unknown argument `\(text(argument))`")
            }
        }
        var fields: [IndexField] = []
        while let identifier = cursor.next() {
            var field = IndexField(identifier: bytes(identifier), type: .text)
            guard var type = cursor.next() else { throw CommandError("Field `\(text(identifier))` has no type") }
            if equals(type, "AS") {
                field.name = bytes(try cursor.value(for: "AS"))
                guard let t = cursor.next() else { throw CommandError("Field `\(text(identifier))` has no type") }
                type = t
            }
            if equals(type, "NUMERIC") {
                field.type = .numeric
            } else if equals(type, "TAG") {
                field.type = .tag
            } else if equals(type, "TEXT") {
                field.type = .text
            } else if equals(type, "GEO") || equals(type, "VECTOR") || equals(type, "GEOSHAPE") {
                throw CommandError("\(text(type).uppercased()) fields are not supported: use NUMERIC, TAG or TEXT")
            } else {
                throw CommandError("Invalid field type for field `\(text(identifier))`")
            }
            // Field options, until the next field's identifier.
            while let option = cursor.next() {
                if equals(option, "SORTABLE") {
                    field.sortable = true
                    if let next = cursor.arguments.dropFirst(cursor.position).first, equals(next, "UNF") { cursor.position += 1 }
                } else if equals(option, "NOINDEX") {
                    field.noIndex = true
                } else if field.type == .tag && equals(option, "SEPARATOR") {
                    let separator = bytes(try cursor.value(for: "SEPARATOR"))
                    guard separator.count == 1 else { throw CommandError("Tag separator must be a single character") }
                    field.separator = separator[0]
                } else if field.type == .tag && equals(option, "CASESENSITIVE") {
                    field.caseSensitive = true
                } else if field.type == .text && equals(option, "WEIGHT") {
                    let value = try cursor.value(for: "WEIGHT")
                    guard let weight = Double(text(value)) else { throw CommandError("Could not parse field spec") }
                    field.weight = weight
                } else if field.type == .text && equals(option, "PHONETIC") {
                    _ = try cursor.value(for: "PHONETIC")
                } else if (field.type == .text && equals(option, "NOSTEM")) || equals(option, "WITHSUFFIXTRIE") {
                    continue
                } else if equals(option, "INDEXEMPTY") || equals(option, "INDEXMISSING") {
                    throw CommandError("\(text(option).uppercased()) is not supported")
                } else {
                    cursor.position -= 1
                    break
                }
            }
            if fields.contains(where: { $0.name == field.name }) {
                throw CommandError("Duplicate field in schema - \(String(decoding: field.name, as: UTF8.self))")
            }
            fields.append(field)
        }
        guard !fields.isEmpty else { throw CommandError("Fields arguments are missing") }
        return (IndexDefinition(name: name, prefixes: prefixes, fields: fields, defaultScore: score, language: language), skipInitialScan)
    }

    // MARK: FT.SEARCH

    static func parseNumber(_ b: ByteBuffer, option: String) throws -> (Double, inclusive: Bool) {
        var t = text(b)
        var inclusive = true
        if t.hasPrefix("(") {
            inclusive = false
            t.removeFirst()
        }
        switch t.lowercased() {
        case "inf", "+inf": return (.infinity, inclusive)
        case "-inf": return (-.infinity, inclusive)
        default:
            guard let v = Double(t), !v.isNaN else { throw CommandError("Bad upper range: \(text(b))") }
            return (v, inclusive)
        }
    }

    static func parseSearch(_ cursor: inout ArgumentCursor, query: [UInt8]) throws -> SearchRequest {
        var request = SearchRequest(query: .empty)
        var parameters: [[UInt8]: [UInt8]] = [:]
        var filters: [IndexQuery] = []
        var inKeys: [[UInt8]]? = nil
        while let argument = cursor.next() {
            if equals(argument, "NOCONTENT") {
                request.withContent = false
            } else if equals(argument, "WITHSCORES") {
                request.withScores = true
            } else if equals(argument, "VERBATIM") || equals(argument, "NOSTOPWORDS") || equals(argument, "INORDER")
                || equals(argument, "EXPLAINSCORE")
            {
                continue
            } else if equals(argument, "LANGUAGE") || equals(argument, "SCORER") || equals(argument, "EXPANDER")
                || equals(argument, "SLOP") || equals(argument, "TIMEOUT")
            {
                _ = try cursor.value(for: text(argument).uppercased())
            } else if equals(argument, "INFIELDS") {
                let n = try cursor.integer(for: "INFIELDS")
                for _ in 0..<max(0, n) { _ = try cursor.value(for: "INFIELDS") }
            } else if equals(argument, "RETURN") {
                let n = try cursor.integer(for: "RETURN")
                guard n >= 0 else { throw CommandError("Bad arguments for RETURN: Invalid count") }
                let end = cursor.position + n
                guard end <= cursor.arguments.count else { throw CommandError("Bad arguments for RETURN: Not enough arguments") }
                var fields: [(name: [UInt8], field: [UInt8])] = []
                while cursor.position < end {
                    var name = bytes(cursor.next()!)
                    if name.first == UInt8(ascii: "@") { name.removeFirst() }
                    var output = name
                    if cursor.position + 1 < end, equals(cursor.arguments[cursor.position], "AS") {
                        output = bytes(cursor.arguments[cursor.position + 1])
                        cursor.position += 2
                    }
                    fields.append((output, name))
                }
                if n == 0 { request.withContent = false } else { request.returnFields = fields }
            } else if equals(argument, "SORTBY") {
                var field = bytes(try cursor.value(for: "SORTBY"))
                if field.first == UInt8(ascii: "@") { field.removeFirst() }
                var ascending = true
                if let next = cursor.arguments.dropFirst(cursor.position).first {
                    if equals(next, "ASC") {
                        cursor.position += 1
                    } else if equals(next, "DESC") {
                        ascending = false
                        cursor.position += 1
                    }
                }
                request.sort = IndexSort(field: field, ascending: ascending)
            } else if equals(argument, "LIMIT") {
                let offset = try cursor.integer(for: "LIMIT")
                let limit = try cursor.integer(for: "LIMIT")
                guard offset >= 0, limit >= 0 else { throw CommandError("LIMIT: offset and number must be non-negative") }
                guard limit <= 1_000_000 else { throw CommandError("LIMIT exceeds maximum of 1000000") }
                request.offset = offset
                request.limit = limit
            } else if equals(argument, "PARAMS") {
                let n = try cursor.integer(for: "PARAMS")
                guard n > 0, n % 2 == 0 else { throw CommandError("Parameters must be specified in PARAM VALUE pairs") }
                for _ in 0..<(n / 2) {
                    let key = bytes(try cursor.value(for: "PARAMS"))
                    let value = bytes(try cursor.value(for: "PARAMS"))
                    guard parameters.updateValue(value, forKey: key) == nil else {
                        throw CommandError("Duplicate parameter `\(String(decoding: key, as: UTF8.self))`")
                    }
                }
            } else if equals(argument, "DIALECT") {
                let n = try cursor.integer(for: "DIALECT")
                guard (1...4).contains(n) else {
                    throw CommandError("DIALECT requires a non negative integer >=1 and <= 4")
                }
            } else if equals(argument, "INKEYS") {
                let n = try cursor.integer(for: "INKEYS")
                guard n >= 0 else { throw CommandError("Bad arguments for INKEYS: Invalid count") }
                var keys: [[UInt8]] = []
                for _ in 0..<n { keys.append(bytes(try cursor.value(for: "INKEYS"))) }
                inKeys = keys
            } else if equals(argument, "FILTER") {
                var field = bytes(try cursor.value(for: "FILTER"))
                if field.first == UInt8(ascii: "@") { field.removeFirst() }
                let low = try parseNumber(try cursor.value(for: "FILTER"), option: "FILTER")
                let high = try parseNumber(try cursor.value(for: "FILTER"), option: "FILTER")
                filters.append(
                    .numericRange(
                        field: field,
                        range: NumericRange(min: low.0, minInclusive: low.inclusive, max: high.0, maxInclusive: high.inclusive)
                    )
                )
            } else {
                let option = text(argument).uppercased()
                if ["WITHPAYLOADS", "WITHSORTKEYS", "GEOFILTER", "HIGHLIGHT", "SUMMARIZE", "PAYLOAD"].contains(option) {
                    throw CommandError("\(option) is not supported")
                }
                throw CommandError("Unknown argument `\(text(argument))`")
            }
        }
        var parsed: IndexQuery
        do {
            parsed = try QueryParser(parameters: parameters).parse(query)
        } catch {
            throw CommandError(error.message)
        }
        if let inKeys { filters.append(.keys(inKeys)) }
        if !filters.isEmpty { parsed = .and([parsed] + filters) }
        request.query = parsed
        return request
    }
}
