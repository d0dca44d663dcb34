/// One configuration parameter: its name, its aliases, its type, its default and whether `CONFIG SET` may change it.
///
/// The full list is ``ConfigStore/parameters``; it follows Redis 7.0's, without the `tls-*` parameters (Neptune has
/// no TLS yet) and Redis's hidden debugging ones.
public struct ConfigParameter: Sendable {
    /// The value type of a parameter, with what its values may be.
    public enum Kind: Sendable {
        /// `yes` or `no`, any case.
        case bool
        /// A number; see ``NumericRule``.
        case numeric(NumericRule)
        /// Text. `emptyIsUnset` parameters report an empty value as not set (`pidfile`, `requirepass`...).
        case string(emptyIsUnset: Bool)
        /// One of a fixed set of words, any case. A `flags` enumeration takes several words (`shutdown-on-sigint`).
        case enumeration(names: [String], flags: Bool)
        /// A parameter with its own syntax: `save`, `bind`, `dir`, `client-output-buffer-limit`,
        /// `notify-keyspace-events`, `replicaof`, `oom-score-adj-values`, `latency-tracking-info-percentiles`.
        case special
    }

    /// How a numeric parameter is written and bounded.
    public struct NumericRule: Sendable {
        /// How values are written.
        public enum Format: Sendable {
            /// A plain integer (`string2ll`: no blanks, no `+`, no leading zeros).
            case integer
            /// Bytes with an optional unit: `b`, `k`, `kb`, `m`, `mb`, `g`, `gb`; reported as a plain number of bytes.
            case memory
            /// Like ``memory``, or a percentage `N%` (reported as `N%`).
            case memoryOrPercent
            /// An octal integer (`unixsocketperm`).
            case octal
        }

        /// How values are written.
        public let format: Format
        /// The smallest value allowed.
        public let lowerBound: Int64
        /// The largest value allowed; for an unsigned parameter, the bit pattern of the unsigned bound.
        public let upperBound: Int64
        /// Whether the bounds are compared as unsigned numbers (so `-1` is above any bound).
        public let isUnsigned: Bool

        init(format: Format, lowerBound: Int64, upperBound: Int64, isUnsigned: Bool) {
            self.format = format
            self.lowerBound = lowerBound
            self.upperBound = upperBound
            self.isUnsigned = isUnsigned
        }

        /// A rule allowing `range` (compared as signed numbers unless `isUnsigned`).
        init(_ format: Format, _ range: ClosedRange<Int64>, isUnsigned: Bool = false) {
            self.init(
                format: format, lowerBound: range.lowerBound, upperBound: range.upperBound, isUnsigned: isUnsigned
            )
        }
    }

    /// The name, in lower case.
    public let name: String
    /// Other names that refer to the same value (Redis 7.0 keeps `slave*` and `*-ziplist-*` names this way).
    public let aliases: [String]
    /// The value type.
    public let kind: Kind
    /// Whether `CONFIG SET` may change it.
    public let isMutable: Bool
    /// Whether `CONFIG SET` needs `enable-protected-configs` to change it (`dir`, `dbfilename`).
    public let isProtected: Bool
    /// Whether its value is a secret (`requirepass`, `masterauth`, `masteruser`).
    public let isSensitive: Bool
    /// The default, written as in a configuration file.
    public let defaultArgument: String

    let special: Special?
    let stringRule: StringRule
    let enumCases: [EnumCase]
    let restriction: Restriction?

    /// Special parameters and their own syntax.
    enum Special: Sendable {
        case save
        case dir
        case bind
        case clientOutputBufferLimit
        case oomScoreAdjValues
        case notifyKeyspaceEvents
        case replicaOf
        case latencyTrackingInfoPercentiles
    }

    /// Extra checks of some text parameters.
    enum StringRule: Sendable {
        case any
        case binary
        case databaseFilename
        case appendFilename
        case appendDirectoryName
        case hostname
        case processTitleTemplate
    }

    /// One word of an enumeration and its value (several words may share a value).
    struct EnumCase: Sendable {
        let name: String
        let value: Int
    }

    /// Values Neptune refuses although Redis accepts them, with the reason given.
    enum Restriction: Sendable {
        case mustBeNo(String)
        case shutdownFlags
    }

    /// Whether a single value holds several words (`save 3600 1 300 100`).
    var takesSeveralArguments: Bool {
        switch self.special {
        case .save, .bind, .clientOutputBufferLimit, .oomScoreAdjValues, .replicaOf, .latencyTrackingInfoPercentiles:
            return true
        case .dir, .notifyKeyspaceEvents:
            return false
        case nil:
            if case .enumeration(_, let flags) = self.kind {
                return flags
            }
            return false
        }
    }

    var numericRule: NumericRule? {
        if case .numeric(let rule) = self.kind {
            return rule
        }
        return nil
    }

    private init(
        name: String,
        alias: String?,
        kind: Kind,
        mutable: Bool,
        default defaultArgument: String,
        protected: Bool = false,
        sensitive: Bool = false,
        special: Special? = nil,
        stringRule: StringRule = .any,
        enumCases: [EnumCase] = [],
        restriction: Restriction? = nil
    ) {
        self.name = name
        self.aliases = alias.map { [$0] } ?? []
        self.kind = kind
        self.isMutable = mutable
        self.isProtected = protected
        self.isSensitive = sensitive
        self.defaultArgument = defaultArgument
        self.special = special
        self.stringRule = stringRule
        self.enumCases = enumCases
        self.restriction = restriction
    }

    static func bool(
        _ name: String,
        alias: String? = nil,
        mutable: Bool = true,
        default value: Bool,
        restriction: Restriction? = nil
    ) -> ConfigParameter {
        ConfigParameter(
            name: name,
            alias: alias,
            kind: .bool,
            mutable: mutable,
            default: value ? "yes" : "no",
            restriction: restriction
        )
    }

    static func integer(
        _ name: String,
        alias: String? = nil,
        mutable: Bool = true,
        _ range: ClosedRange<Int64>,
        default value: Int64
    ) -> ConfigParameter {
        let rule = NumericRule(.integer, range)
        return ConfigParameter(name: name, alias: alias, kind: .numeric(rule), mutable: mutable, default: "\(value)")
    }

    static func unsignedInteger(
        _ name: String,
        mutable: Bool = true,
        format: NumericRule.Format = .integer,
        _ range: ClosedRange<UInt64>,
        default value: String
    ) -> ConfigParameter {
        let rule = NumericRule(
            format: format,
            lowerBound: Int64(bitPattern: range.lowerBound),
            upperBound: Int64(bitPattern: range.upperBound),
            isUnsigned: true
        )
        return ConfigParameter(name: name, alias: nil, kind: .numeric(rule), mutable: mutable, default: value)
    }

    static func sizeCount(_ name: String, alias: String? = nil, default value: Int64) -> ConfigParameter {
        let rule = NumericRule(.integer, 0...Int64.max, isUnsigned: true)
        return ConfigParameter(name: name, alias: alias, kind: .numeric(rule), mutable: true, default: "\(value)")
    }

    static func memory(
        _ name: String,
        alias: String? = nil,
        _ range: ClosedRange<Int64>,
        unsigned: Bool = false,
        default value: String
    ) -> ConfigParameter {
        let rule = NumericRule(.memory, range, isUnsigned: unsigned)
        return ConfigParameter(name: name, alias: alias, kind: .numeric(rule), mutable: true, default: value)
    }

    static func memoryOrPercent(_ name: String, _ range: ClosedRange<Int64>, default value: String) -> ConfigParameter {
        let rule = NumericRule(.memoryOrPercent, range)
        return ConfigParameter(name: name, alias: nil, kind: .numeric(rule), mutable: true, default: value)
    }

    static func string(
        _ name: String,
        alias: String? = nil,
        mutable: Bool = true,
        emptyIsUnset: Bool,
        default value: String,
        rule: StringRule = .any,
        protected: Bool = false,
        sensitive: Bool = false
    ) -> ConfigParameter {
        ConfigParameter(
            name: name,
            alias: alias,
            kind: .string(emptyIsUnset: emptyIsUnset),
            mutable: mutable,
            default: value,
            protected: protected,
            sensitive: sensitive,
            stringRule: rule
        )
    }

    static func enumeration(
        _ name: String,
        mutable: Bool = true,
        _ cases: [(String, Int)],
        default value: String,
        flags: Bool = false,
        restriction: Restriction? = nil
    ) -> ConfigParameter {
        ConfigParameter(
            name: name,
            alias: nil,
            kind: .enumeration(names: cases.map(\.0), flags: flags),
            mutable: mutable,
            default: value,
            enumCases: cases.map { EnumCase(name: $0.0, value: $0.1) },
            restriction: restriction
        )
    }

    static func special(
        _ name: String,
        alias: String? = nil,
        _ special: Special,
        mutable: Bool = true,
        protected: Bool = false,
        default value: String
    ) -> ConfigParameter {
        ConfigParameter(
            name: name,
            alias: alias,
            kind: .special,
            mutable: mutable,
            default: value,
            protected: protected,
            special: special
        )
    }
}
