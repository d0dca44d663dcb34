/// A query over an index: what FT.SEARCH's query string parses to, and what Swift callers build directly.
///
/// Fields are named by attribute name; a field that is not in the schema, or not of the kind the clause needs,
/// matches nothing (as in RediSearch).
///
/// ```swift
/// let query: IndexQuery = .and([
///     .numeric("price", NumericRange(min: 10, max: 100)),
///     .tag("color", ["red", "blue"]),
///     .not(.tag("brand", ["acme"])),
/// ])
/// ```
public indirect enum IndexQuery: Sendable, Hashable {
    /// Every document (`*`).
    case all
    /// No document (an empty query).
    case empty
    /// Documents whose numeric field lies in the range (`@f:[min max]`).
    case numericRange(field: [UInt8], range: NumericRange)
    /// Documents with at least one of the tags (`@f:{a | b}`).
    case tags(field: [UInt8], patterns: [TagPattern])
    /// The documents with these keys (FT.SEARCH's INKEYS).
    case keys([[UInt8]])
    /// Documents matching every clause (whitespace).
    case and([IndexQuery])
    /// Documents matching any clause (`|`).
    case or([IndexQuery])
    /// Documents not matching the clause (`-`).
    case not(IndexQuery)

    /// A numeric range clause on the field named `field`.
    public static func numeric(_ field: String, _ range: NumericRange) -> IndexQuery {
        .numericRange(field: Array(field.utf8), range: range)
    }

    /// A tag clause matching any of `values` exactly on the field named `field`.
    public static func tag(_ field: String, _ values: [String]) -> IndexQuery {
        .tags(field: Array(field.utf8), patterns: values.map { .exact(Array($0.utf8)) })
    }
}

/// A numeric interval with inclusive or exclusive bounds (infinite bounds allowed).
public struct NumericRange: Sendable, Hashable {
    public var min: Double
    public var minInclusive: Bool
    public var max: Double
    public var maxInclusive: Bool

    /// Creates a range; both bounds inclusive by default.
    public init(min: Double = -.infinity, minInclusive: Bool = true, max: Double = .infinity, maxInclusive: Bool = true) {
        self.min = min
        self.minInclusive = minInclusive
        self.max = max
        self.maxInclusive = maxInclusive
    }

    /// Whether `value` lies in the range.
    @inlinable
    public func contains(_ value: Double) -> Bool {
        (minInclusive ? value >= min : value > min) && (maxInclusive ? value <= max : value < max)
    }
}

/// One alternative inside a tag clause.
public enum TagPattern: Sendable, Hashable {
    /// The tag equals these bytes (after the field's case folding).
    case exact([UInt8])
    /// The tag starts with these bytes (`{abc*}`).
    case prefix([UInt8])
}

/// How results are ordered.
public struct IndexSort: Sendable, Hashable {
    /// Attribute name of the field to sort by.
    public var field: [UInt8]
    /// Ascending (default) or descending.
    public var ascending: Bool

    /// Creates a sort on the field named `field`.
    public init(field: [UInt8], ascending: Bool = true) {
        self.field = field
        self.ascending = ascending
    }

    /// Convenience for Swift callers.
    public init(_ field: String, ascending: Bool = true) {
        self.init(field: Array(field.utf8), ascending: ascending)
    }
}
