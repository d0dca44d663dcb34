#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The kind of an indexed field, as FT.CREATE's SCHEMA names it.
public enum IndexFieldType: String, Sendable, Hashable {
    /// `NUMERIC`: a double, queried with ranges `@f:[min max]`.
    case numeric = "NUMERIC"
    /// `TAG`: a list of exact values split by a separator, queried with `@f:{a | b}`.
    case tag = "TAG"
    /// `TEXT`: accepted in schemas; full-text queries are not supported yet.
    case text = "TEXT"
}

/// One field of an index schema: `identifier [AS name] TYPE [options]`.
public struct IndexField: Sendable, Hashable {
    /// The hash field the value is read from.
    public var identifier: [UInt8]
    /// The attribute name queries use (`AS name`, otherwise the identifier).
    public var name: [UInt8]
    /// Numeric, tag or text.
    public var type: IndexFieldType
    /// `SORTABLE`: values are kept for SORTBY.
    public var sortable: Bool
    /// `NOINDEX`: stored for SORTBY but not searchable.
    public var noIndex: Bool
    /// Tag separator (`SEPARATOR c`, default `,`).
    public var separator: UInt8
    /// Tags compare case-sensitively (`CASESENSITIVE`); otherwise they are lowercased.
    public var caseSensitive: Bool
    /// Text weight (`WEIGHT w`, default 1).
    public var weight: Double

    /// Creates a field.
    /// - Parameters:
    ///   - identifier: The hash field name.
    ///   - name: The attribute name; the identifier when nil.
    ///   - type: The field type.
    ///   - sortable: Whether SORTBY on this field is fast.
    ///   - noIndex: Whether the field is only sortable, not searchable.
    ///   - separator: Tag separator.
    ///   - caseSensitive: Whether tags keep their case.
    ///   - weight: Text weight.
    public init(
        identifier: [UInt8],
        name: [UInt8]? = nil,
        type: IndexFieldType,
        sortable: Bool = false,
        noIndex: Bool = false,
        separator: UInt8 = UInt8(ascii: ","),
        caseSensitive: Bool = false,
        weight: Double = 1
    ) {
        self.identifier = identifier
        self.name = name ?? identifier
        self.type = type
        self.sortable = sortable
        self.noIndex = noIndex
        self.separator = separator
        self.caseSensitive = caseSensitive
        self.weight = weight
    }

    /// Convenience for Swift callers: a field from strings.
    public init(_ identifier: String, as name: String? = nil, _ type: IndexFieldType, sortable: Bool = false) {
        self.init(identifier: Array(identifier.utf8), name: name.map { Array($0.utf8) }, type: type, sortable: sortable)
    }
}

/// What FT.CREATE defines: the index name, which keys it covers and its schema.
public struct IndexDefinition: Sendable, Hashable {
    /// The index name (FT.SEARCH's first argument).
    public var name: [UInt8]
    /// Key prefixes covered (`PREFIX n p...`); empty means every key.
    public var prefixes: [[UInt8]]
    /// The schema in declaration order.
    public var fields: [IndexField]
    /// `SCORE`: default document score (accepted, reported by FT.INFO).
    public var defaultScore: Double
    /// `LANGUAGE`: default language (accepted, reported by FT.INFO).
    public var language: [UInt8]

    /// Creates a definition.
    /// - Parameters:
    ///   - name: The index name.
    ///   - prefixes: Key prefixes; empty for all keys.
    ///   - fields: The schema.
    ///   - defaultScore: Default document score.
    ///   - language: Default language.
    public init(
        name: [UInt8],
        prefixes: [[UInt8]] = [],
        fields: [IndexField],
        defaultScore: Double = 1,
        language: [UInt8] = Array("english".utf8)
    ) {
        self.name = name
        self.prefixes = prefixes
        self.fields = fields
        self.defaultScore = defaultScore
        self.language = language
    }

    /// Whether a key falls under this index's prefixes (the write path's form: no generic iteration).
    public func covers(key: UnsafeRawBufferPointer) -> Bool {
        Self.covers(prefixes: prefixes, key: key)
    }

    /// Whether a key falls under `prefixes` (every key when there is none).
    public static func covers(prefixes: [[UInt8]], key: UnsafeRawBufferPointer) -> Bool {
        if prefixes.isEmpty { return true }
        for prefix in prefixes where prefix.count <= key.count {
            if prefix.withUnsafeBytes({ p in p.isEmpty || memcmp(p.baseAddress!, key.baseAddress!, p.count) == 0 }) {
                return true
            }
        }
        return false
    }

    /// Whether a key falls under this index's prefixes.
    public func covers<Key: Collection>(key: Key) -> Bool where Key.Element == UInt8 {
        if prefixes.isEmpty { return true }
        for prefix in prefixes where prefix.count <= key.count {
            if prefix.isEmpty || key.starts(with: prefix) { return true }
        }
        return false
    }

    /// Index of the field whose attribute name is `name` (case-sensitive, as RediSearch's schema lookup).
    public func fieldIndex<Name: Collection>(named name: Name) -> Int? where Name.Element == UInt8 {
        fields.firstIndex { $0.name.elementsEqual(name) }
    }
}

extension IndexDefinition {
    /// The FT.CREATE arguments that recreate this definition (after the command name): what the journal and
    /// snapshots record.
    public var createArguments: [[UInt8]] {
        func word(_ s: String) -> [UInt8] { Array(s.utf8) }
        func number(_ d: Double) -> [UInt8] {
            word(d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(d))
        }
        var args: [[UInt8]] = [name, word("ON"), word("HASH")]
        if !prefixes.isEmpty {
            args.append(word("PREFIX"))
            args.append(word(String(prefixes.count)))
            args.append(contentsOf: prefixes)
        }
        args += [word("SCORE"), number(defaultScore), word("LANGUAGE"), language, word("SCHEMA")]
        for field in fields {
            args.append(field.identifier)
            if field.name != field.identifier { args += [word("AS"), field.name] }
            args.append(word(field.type.rawValue))
            switch field.type {
            case .tag:
                args += [word("SEPARATOR"), [field.separator]]
                if field.caseSensitive { args.append(word("CASESENSITIVE")) }
            case .text:
                args += [word("WEIGHT"), number(field.weight)]
            case .numeric:
                break
            }
            if field.sortable { args.append(word("SORTABLE")) }
            if field.noIndex { args.append(word("NOINDEX")) }
        }
        return args
    }
}
