#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The stored value of one parameter.
enum ConfigValue: Sendable {
    case bool(Bool)
    /// A number as Redis keeps it in a `long long`; unsigned parameters keep the bit pattern.
    case number(Int64)
    /// Text; `nil` for an unset parameter whose empty value means "none".
    case text([UInt8]?)
    /// The value of an enumeration (an OR of values for a flags enumeration).
    case enumeration(Int)
    case saveRules([ConfigStore.SaveRule])
    case addresses([[UInt8]])
    /// Indexed by ``ConfigStore/ClientClass/rawValue``.
    case outputBufferLimits([ConfigStore.ClientOutputBufferLimit])
    case integers([Int64])
    case percentiles([Double])
    case keyspaceEvents(ConfigStore.KeyspaceEvents)
    /// The primary's host and port, or `nil` for none.
    case replicaOf(ConfigStore.Primary?)
    case path(String)
}

/// A refused value, with Redis's reason.
struct ConfigParseFailure: Error {
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }
}

/// State carried through one load of configuration text (and the files it includes).
struct ConfigParseContext {
    /// Whether the text being read is a configuration file (or command line options) rather than `CONFIG SET`.
    var loading: Bool
    /// Whether a `save` line was read yet: the first one replaces the default rules, the next ones add to them.
    var saveRulesLoaded = false
}

extension ConfigParameter {
    /// Parses the arguments of one setting into a new value.
    ///
    /// - Parameters:
    ///   - arguments: The words of the value: exactly one, except for ``takesSeveralArguments`` parameters.
    ///   - current: The value now, for the parameters whose new value builds on it.
    ///   - context: Loading state.
    /// - Returns: The new value.
    func parse(
        _ arguments: [[UInt8]],
        current: ConfigValue,
        context: inout ConfigParseContext
    ) throws(ConfigParseFailure) -> ConfigValue {
        if let special = self.special {
            return try self.parseSpecial(special, arguments, current: current, context: &context)
        }
        let argument = arguments.first ?? []
        switch self.kind {
        case .bool:
            let value: Bool
            if ConfigSyntax.equalsIgnoringCase(argument, "yes") {
                value = true
            } else if ConfigSyntax.equalsIgnoringCase(argument, "no") {
                value = false
            } else {
                throw ConfigParseFailure("argument must be 'yes' or 'no'")
            }
            if value, case .mustBeNo(let reason) = self.restriction {
                throw ConfigParseFailure(reason)
            }
            return .bool(value)
        case .numeric(let rule):
            var value = try Self.parseNumber(argument, rule: rule)
            if self.name == "hz" {
                // Redis takes any hz but runs (and reports) it within 1...500.
                value = min(max(value, 1), 500)
            }
            return .number(value)
        case .string(let emptyIsUnset):
            var text = argument
            if self.stringRule != .binary, let end = text.firstIndex(of: 0) {
                // Redis keeps these as C strings.
                text = Array(text[..<end])
            }
            try self.validateText(text)
            return .text(emptyIsUnset && text.isEmpty ? nil : text)
        case .enumeration(let names, let flags):
            guard let value = self.enumValue(arguments, flags: flags) else {
                throw ConfigParseFailure("argument(s) must be one of the following: " + names.joined(separator: ", "))
            }
            if case .shutdownFlags = self.restriction, value & 1 != 0, value & 2 != 0 {
                throw ConfigParseFailure("shutdown options SAVE and NOSAVE can't be used simultaneously")
            }
            return .enumeration(value)
        case .special:
            preconditionFailure("special parameter \(self.name) without syntax")
        }
    }

    /// The value as `CONFIG GET` reports it.
    func format(_ value: ConfigValue) -> String {
        switch value {
        case .bool(let flag):
            return flag ? "yes" : "no"
        case .number(let number):
            guard let rule = self.numericRule else {
                return "\(number)"
            }
            switch rule.format {
            case .memoryOrPercent where number < 0:
                return "\(-number)%"
            case .memory, .memoryOrPercent:
                return "\(UInt64(bitPattern: number))"
            case .octal:
                return String(UInt64(bitPattern: number), radix: 8)
            case .integer:
                return "\(number)"
            }
        case .text(let bytes):
            return String(decoding: bytes ?? [], as: UTF8.self)
        case .enumeration(let number):
            return self.enumName(number)
        case .saveRules(let rules):
            return rules.map { "\($0.seconds) \($0.changes)" }.joined(separator: " ")
        case .addresses(let addresses):
            return addresses.map { String(decoding: $0, as: UTF8.self) }.joined(separator: " ")
        case .outputBufferLimits(let limits):
            return ConfigStore.ClientClass.allCases.map { clientClass in
                let limit = limits[clientClass.rawValue]
                return "\(clientClass.configName) \(limit.hardLimitBytes) \(limit.softLimitBytes) "
                    + "\(limit.softLimitSeconds)"
            }.joined(separator: " ")
        case .integers(let numbers):
            return numbers.map { "\($0)" }.joined(separator: " ")
        case .percentiles(let percentiles):
            return percentiles.map { ConfigSyntax.formatDouble($0) }.joined(separator: " ")
        case .keyspaceEvents(let events):
            return events.configString
        case .replicaOf(let primary):
            guard let primary else {
                return ""
            }
            return String(decoding: primary.host, as: UTF8.self) + " \(primary.port)"
        case .path(let path):
            return path
        }
    }

    // MARK: Numbers

    static func parseNumber(_ argument: [UInt8], rule: NumericRule) throws(ConfigParseFailure) -> Int64 {
        var parsed: Int64?
        if rule.format == .memory || rule.format == .memoryOrPercent, let bytes = ConfigSyntax.memory(argument) {
            parsed = Int64(bitPattern: bytes)
        }
        if parsed == nil, rule.format == .memoryOrPercent, argument.count > 1, argument.last == UInt8(ascii: "%"),
            let percent = ConfigSyntax.strictInteger(argument.dropLast()), percent >= 0
        {
            // Redis keeps a percentage as a negative number.
            parsed = -percent
        }
        if parsed == nil, rule.format == .octal {
            parsed = Self.octal(argument)
        }
        if parsed == nil, rule.format == .integer {
            parsed = ConfigSyntax.strictInteger(argument)
        }
        guard let value = parsed else {
            switch rule.format {
            case .memoryOrPercent: throw ConfigParseFailure("argument must be a memory or percent value")
            case .memory: throw ConfigParseFailure("argument must be a memory value")
            case .octal: throw ConfigParseFailure("argument couldn't be parsed as an octal number")
            case .integer: throw ConfigParseFailure("argument couldn't be parsed into an integer")
            }
        }
        if rule.isUnsigned {
            let unsigned = UInt64(bitPattern: value)
            let lower = UInt64(bitPattern: rule.lowerBound)
            let upper = UInt64(bitPattern: rule.upperBound)
            if unsigned < lower || unsigned > upper {
                if rule.format == .octal {
                    throw ConfigParseFailure(
                        "argument must be between \(String(lower, radix: 8)) and \(String(upper, radix: 8)) inclusive"
                    )
                }
                throw ConfigParseFailure("argument must be between \(lower) and \(upper) inclusive")
            }
        } else if rule.format == .memoryOrPercent && value < 0 {
            if value < rule.lowerBound {
                throw ConfigParseFailure("percentage argument must be less or equal to \(-rule.lowerBound)")
            }
        } else if value < rule.lowerBound || value > rule.upperBound {
            throw ConfigParseFailure("argument must be between \(rule.lowerBound) and \(rule.upperBound) inclusive")
        }
        return value
    }

    /// C's `strtoll(text, &end, 8)` that must consume the whole text without overflow.
    private static func octal(_ argument: [UInt8]) -> Int64? {
        var index = 0
        while index < argument.count, ConfigSyntax.isSpace(argument[index]) {
            index += 1
        }
        var negative = false
        if index < argument.count, argument[index] == UInt8(ascii: "+") || argument[index] == UInt8(ascii: "-") {
            negative = argument[index] == UInt8(ascii: "-")
            index += 1
        }
        var value: Int64 = 0
        var sawDigit = false
        while index < argument.count, argument[index] >= UInt8(ascii: "0"), argument[index] <= UInt8(ascii: "7") {
            sawDigit = true
            let (times8, overflow1) = value.multipliedReportingOverflow(by: 8)
            let (next, overflow2) = times8.addingReportingOverflow(Int64(argument[index] - UInt8(ascii: "0")))
            if overflow1 || overflow2 {
                return nil
            }
            value = next
            index += 1
        }
        if !sawDigit {
            return argument.isEmpty ? 0 : nil
        }
        return index == argument.count ? (negative ? -value : value) : nil
    }

    // MARK: Text

    private func validateText(_ text: [UInt8]) throws(ConfigParseFailure) {
        let isPath = text.contains(UInt8(ascii: "/")) || text.contains(UInt8(ascii: "\\"))
        switch self.stringRule {
        case .any, .binary:
            return
        case .databaseFilename:
            if isPath {
                throw ConfigParseFailure("dbfilename can't be a path, just a filename")
            }
        case .appendFilename:
            if text.isEmpty {
                throw ConfigParseFailure("appendfilename can't be empty")
            }
            if isPath {
                throw ConfigParseFailure("appendfilename can't be a path, just a filename")
            }
        case .appendDirectoryName:
            if text.isEmpty {
                throw ConfigParseFailure("appenddirname can't be empty")
            }
            if isPath {
                throw ConfigParseFailure("appenddirname can't be a path, just a dirname")
            }
        case .hostname:
            if text.count >= 256 {
                throw ConfigParseFailure("Hostnames must be less than 256 characters")
            }
            let allowed = text.allSatisfy { byte in
                (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
                    || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                    || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
                    || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            }
            if !allowed {
                throw ConfigParseFailure("Hostnames may only contain alphanumeric characters, hyphens or dots")
            }
        case .processTitleTemplate:
            if !Self.isValidProcessTitleTemplate(text) {
                throw ConfigParseFailure("template format is invalid or contains unknown variables")
            }
        }
    }

    /// Redis's check of `proc-title-template`: `{{` stands for `{`, every `{name}` is a known variable, and the
    /// title is not blank once expanded with an empty `{title}`.
    private static func isValidProcessTitleTemplate(_ template: [UInt8]) -> Bool {
        let emptyVariables: Set<String> = ["title", "server-mode", "unixsocket", "config-file"]
        let otherVariables: Set<String> = ["listen-addr", "port", "tls-port"]
        var expandsToText = false
        var index = 0
        while index < template.count {
            let byte = template[index]
            guard byte == UInt8(ascii: "{") else {
                if byte != UInt8(ascii: " ") {
                    expandsToText = true
                }
                index += 1
                continue
            }
            index += 1
            guard index < template.count else {
                return false
            }
            if template[index] == UInt8(ascii: "{") {
                expandsToText = true
                index += 1
                continue
            }
            guard let end = template[index...].firstIndex(of: UInt8(ascii: "}")) else {
                return false
            }
            let variable = String(decoding: template[index..<end], as: UTF8.self)
            if otherVariables.contains(variable) {
                expandsToText = true
            } else if !emptyVariables.contains(variable) {
                return false
            }
            index = end + 1
        }
        return expandsToText
    }

    // MARK: Enumerations

    private func enumValue(_ arguments: [[UInt8]], flags: Bool) -> Int? {
        if arguments.isEmpty || (!flags && arguments.count != 1) {
            return nil
        }
        var value = 0
        for argument in arguments {
            guard let match = self.enumCases.first(where: { ConfigSyntax.equalsIgnoringCase(argument, $0.name) })
            else {
                return nil
            }
            value |= match.value
        }
        return value
    }

    private func enumName(_ value: Int) -> String {
        if let exact = self.enumCases.first(where: { $0.value == value }) {
            return exact.name
        }
        guard case .enumeration(_, true) = self.kind else {
            return "unknown"
        }
        var names: [String] = []
        var unmatched = value
        for enumCase in self.enumCases where enumCase.value != 0 && enumCase.value & unmatched == enumCase.value {
            names.append(enumCase.name)
            unmatched &= ~enumCase.value
        }
        return names.isEmpty || unmatched != 0 ? "unknown" : names.joined(separator: " ")
    }

    // MARK: Special parameters

    private func parseSpecial(
        _ special: Special,
        _ arguments: [[UInt8]],
        current: ConfigValue,
        context: inout ConfigParseContext
    ) throws(ConfigParseFailure) -> ConfigValue {
        switch special {
        case .save:
            return try Self.parseSave(arguments, current: current, context: &context)
        case .dir:
            guard arguments.count == 1 else {
                throw ConfigParseFailure("wrong number of arguments")
            }
            guard case .path(let base) = current else {
                preconditionFailure("dir holds a path")
            }
            return .path(try Self.resolveDirectory(String(decoding: arguments[0], as: UTF8.self), from: base))
        case .bind:
            if arguments.count > 16 {
                throw ConfigParseFailure("Too many bind addresses specified.")
            }
            if arguments.count == 1 && arguments[0].isEmpty {
                return .addresses([])
            }
            return .addresses(arguments)
        case .clientOutputBufferLimit:
            guard case .outputBufferLimits(var limits) = current else {
                preconditionFailure("client-output-buffer-limit holds limits")
            }
            try Self.parseOutputBufferLimits(arguments, into: &limits)
            return .outputBufferLimits(limits)
        case .oomScoreAdjValues:
            guard arguments.count == 3 else {
                throw ConfigParseFailure("wrong number of arguments")
            }
            var values: [Int64] = []
            for argument in arguments {
                guard let value = ConfigSyntax.looseInteger(argument), (-2000...2000).contains(value) else {
                    throw ConfigParseFailure(
                        "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                    )
                }
                values.append(value)
            }
            return .integers(values)
        case .notifyKeyspaceEvents:
            guard arguments.count == 1 else {
                throw ConfigParseFailure("wrong number of arguments")
            }
            guard let events = ConfigStore.KeyspaceEvents(configString: arguments[0]) else {
                throw ConfigParseFailure("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
            }
            return .keyspaceEvents(events)
        case .replicaOf:
            guard arguments.count == 2 else {
                throw ConfigParseFailure("wrong number of arguments")
            }
            if ConfigSyntax.equalsIgnoringCase(arguments[0], "no")
                && ConfigSyntax.equalsIgnoringCase(arguments[1], "one")
            {
                return .replicaOf(nil)
            }
            guard let port = ConfigSyntax.looseInteger(arguments[1]), (0...65535).contains(port) else {
                throw ConfigParseFailure("Invalid master port")
            }
            // Redis would now replicate from arguments[0]:port.
            _ = ConfigStore.Primary(host: arguments[0], port: Int(port))
            throw ConfigParseFailure("replication is not supported by Neptune")
        case .latencyTrackingInfoPercentiles:
            if arguments.count == 1 && arguments[0].isEmpty {
                return .percentiles([])
            }
            var percentiles: [Double] = []
            for argument in arguments {
                guard let value = ConfigSyntax.double(argument) else {
                    throw ConfigParseFailure("Invalid latency-tracking-info-percentiles parameters")
                }
                guard value >= 0, value <= 100 else {
                    throw ConfigParseFailure(
                        "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    )
                }
                percentiles.append(value)
            }
            return .percentiles(percentiles)
        }
    }

    private static func parseSave(
        _ arguments: [[UInt8]],
        current: ConfigValue,
        context: inout ConfigParseContext
    ) throws(ConfigParseFailure) -> ConfigValue {
        var arguments = arguments
        var reset = false
        if arguments.count == 1 && arguments[0].isEmpty {
            // `save ""` removes every rule.
            arguments = []
            reset = true
        }
        if arguments.count % 2 != 0 {
            throw ConfigParseFailure("Invalid save parameters")
        }
        var parsed: [Int64] = []
        for (index, argument) in arguments.enumerated() {
            guard let value = ConfigSyntax.looseInteger(argument), value >= (index % 2 == 0 ? 1 : 0) else {
                throw ConfigParseFailure("Invalid save parameters")
            }
            parsed.append(value)
        }
        var rules: [ConfigStore.SaveRule] = []
        if context.loading && !reset, case .saveRules(let existing) = current, context.saveRulesLoaded {
            // In a configuration file the first `save` line replaces the defaults and the next ones add rules.
            rules = existing
        }
        if context.loading {
            context.saveRulesLoaded = true
        }
        for pair in stride(from: 0, to: parsed.count, by: 2) {
            rules.append(
                ConfigStore.SaveRule(
                    seconds: Int(parsed[pair]),
                    changes: Int(Int32(truncatingIfNeeded: parsed[pair + 1]))
                )
            )
        }
        return .saveRules(rules)
    }

    private static func parseOutputBufferLimits(
        _ arguments: [[UInt8]],
        into limits: inout [ConfigStore.ClientOutputBufferLimit]
    ) throws(ConfigParseFailure) {
        guard arguments.count % 4 == 0 else {
            throw ConfigParseFailure("Wrong number of arguments in buffer limit configuration.")
        }
        var updated = limits
        for group in stride(from: 0, to: arguments.count, by: 4) {
            guard let clientClass = ConfigStore.ClientClass(configName: arguments[group]) else {
                throw ConfigParseFailure("Invalid client class specified in buffer limit configuration.")
            }
            guard let hard = ConfigSyntax.memory(arguments[group + 1]),
                let soft = ConfigSyntax.memory(arguments[group + 2]),
                let seconds = ConfigSyntax.looseInteger(arguments[group + 3]).map({ Int32(truncatingIfNeeded: $0) }),
                seconds >= 0
            else {
                throw ConfigParseFailure("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
            }
            updated[clientClass.rawValue] = ConfigStore.ClientOutputBufferLimit(
                hardLimitBytes: hard,
                softLimitBytes: soft,
                softLimitSeconds: Int(seconds)
            )
        }
        limits = updated
    }

    /// Resolves `path` the way `chdir` followed by `getcwd` would, starting from the directory `base`.
    static func resolveDirectory(_ path: String, from base: String) throws(ConfigParseFailure) -> String {
        let joined = path.hasPrefix("/") ? path : (base.hasSuffix("/") ? base + path : base + "/" + path)
        guard let resolved = realpath(joined, nil) else {
            throw ConfigParseFailure(ConfigSyntax.errorText(errno))
        }
        defer { free(resolved) }
        let result = String(cString: resolved)
        var info = stat()
        guard stat(result, &info) == 0 else {
            throw ConfigParseFailure(ConfigSyntax.errorText(errno))
        }
        guard (info.st_mode & S_IFMT) == S_IFDIR else {
            throw ConfigParseFailure(ConfigSyntax.errorText(ENOTDIR))
        }
        guard access(result, X_OK) == 0 else {
            throw ConfigParseFailure(ConfigSyntax.errorText(errno))
        }
        return result
    }
}
