import NeptuneRESP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension ConfigStore {
    /// The version `FATAL CONFIG FILE ERROR` reports when the caller gives none: the Redis version Neptune follows.
    public static let defaultReportedVersion = "7.0.15"

    /// Loads the configuration the way `redis-server` reads its command line.
    ///
    /// The arguments are those after the program name: an optional configuration file path first (any argument not
    /// starting with `-`), then options. `--name value...` sets a parameter (all the words up to the next `--name`
    /// are its value, so `--save 900 1 300 10` works, and `"--port 7000"` as one argument works too). A lone `-` as
    /// the first or last argument reads more configuration from standard input, after the file. The options are
    /// applied after the file, as lines of their own, so they override it.
    ///
    /// The file has redis.conf syntax: one directive per line, `#` comments, quoting as in inline commands,
    /// `include <path or glob>`, repeated `save` lines adding rules (the first one replacing the defaults) and
    /// `save ""` removing them, `rename-command` (collected in ``commandRenames``).
    ///
    /// - Parameters:
    ///   - arguments: The command line without the program name.
    ///   - version: The version to print in error reports.
    ///   - standardInput: Reads all of standard input, for `-`.
    /// - Returns: The loaded configuration.
    /// - Throws: ``ConfigError`` with ``ConfigError/Code/badConfigFile`` and the report `redis-server` prints
    ///   (with "Neptune" for "Redis"), or ``ConfigError/Code/cannotOpenFile``.
    public static func load(
        arguments: [String],
        version: String = ConfigStore.defaultReportedVersion,
        standardInput: () -> [UInt8] = ConfigStore.readStandardInput
    ) throws(ConfigError) -> ConfigStore {
        var configFile: String?
        var index = 0
        if let first = arguments.first, !first.hasPrefix("-") {
            configFile = Self.absolutePath(first)
            index = 1
        }
        var readStandardInput = false
        var options: [UInt8] = []
        var previousOptionHasValue = true
        while index < arguments.count {
            let argument = Array(arguments[index].utf8)
            let isLast = index == arguments.count - 1
            let nextIsOption = !isLast && arguments[index + 1].hasPrefix("--")
            if argument == Array("-".utf8) && (index == 0 || isLast) {
                readStandardInput = true
            } else if previousOptionHasValue && argument.starts(with: Array("--".utf8)) {
                if !options.isEmpty {
                    options.append(UInt8(ascii: "\n"))
                }
                options += argument.dropFirst(2)
                options.append(UInt8(ascii: " "))
                if InlineArguments.split(argument)?.count == 1 {
                    // Only a name: the next arguments are its value, even if they start with "--".
                    previousOptionHasValue = false
                    if ConfigSyntax.equalsIgnoringCase(argument, "--save") && (isLast || nextIsOption) {
                        // `--save` with no value means `save ""`, as before Redis 7.0.1.
                        options += Array(#""""#.utf8)
                        previousOptionHasValue = !isLast
                    } else if ConfigSyntax.equalsIgnoringCase(argument, "--sentinel") && nextIsOption {
                        previousOptionHasValue = true
                    }
                } else {
                    previousOptionHasValue = true
                }
            } else {
                options += ConfigSyntax.quoted(argument)
                options.append(UInt8(ascii: " "))
                previousOptionHasValue = true
            }
            index += 1
        }

        var text: [UInt8] = []
        if let configFile {
            text = try Self.readConfigFile(configFile, reportedAs: configFile)
        }
        if readStandardInput {
            text += standardInput()
        }
        text.append(UInt8(ascii: "\n"))
        text += options

        var loader = Loader(values: Self.defaultValues(), version: version)
        try loader.load(text)
        try loader.checkLogFile()
        return ConfigStore(values: loader.values, configFile: configFile, commandRenames: loader.commandRenames)
    }

    /// Reads all of standard input.
    ///
    /// - Returns: The bytes read until end of file.
    public static func readStandardInput() -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR {
                continue
            }
            if count <= 0 {
                return result
            }
            result += buffer[..<count]
        }
    }

    /// Redis's `getAbsolutePath`: joins a relative path to the working directory, removing leading `../` parts.
    static func absolutePath(_ path: String) -> String {
        var relative = Substring(String(decoding: ConfigSyntax.trimmed(Array(path.utf8)[...]), as: UTF8.self))
        if relative.hasPrefix("/") {
            return String(relative)
        }
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else {
            return String(relative)
        }
        var absolute = String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if !absolute.hasSuffix("/") {
            absolute += "/"
        }
        while relative.hasPrefix("../") {
            relative = relative.dropFirst(3)
            if absolute.count > 1 {
                absolute.removeLast()
                while let last = absolute.last, last != "/" {
                    absolute.removeLast()
                }
            }
        }
        return absolute + relative
    }

    /// Reads a whole configuration file.
    static func readConfigFile(_ path: String, reportedAs name: String) throws(ConfigError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY)
        if descriptor < 0 {
            throw ConfigError.cannotOpenFile(name, reason: ConfigSyntax.errorText(errno))
        }
        defer { close(descriptor) }
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR {
                continue
            }
            // A read error (such as reading a directory) ends the text, as `fgets` failing does.
            if count <= 0 {
                return result
            }
            result += buffer[..<count]
        }
    }
}

/// Reads configuration text into values, line by line, following `include`s.
private struct Loader {
    private static let deprecatedDirectives: Set<String> = [
        "list-max-ziplist-entries", "list-max-ziplist-value", "lua-replicate-commands",
    ]
    private static let maximumIncludeDepth = 32

    var values: [ConfigValue]
    var commandRenames: [ConfigStore.CommandRename] = []
    private let version: String
    private var context = ConfigParseContext(loading: true)
    private var depth = 0

    init(values: [ConfigValue], version: String) {
        self.values = values
        self.version = version
    }

    mutating func load(_ text: [UInt8]) throws(ConfigError) {
        let version = self.version
        let lines = text.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        for (offset, rawLine) in lines.enumerated() {
            let line = Array(ConfigSyntax.trimmed(rawLine))
            if line.isEmpty || line[0] == UInt8(ascii: "#") {
                continue
            }
            let lineNumber = offset + 1
            let failure = { (reason: String) in
                ConfigError.badConfigFile(
                    version: version,
                    reason: reason,
                    lineNumber: lineNumber,
                    line: String(decoding: line, as: UTF8.self)
                )
            }
            guard var words = InlineArguments.split(line) else {
                throw failure("Unbalanced quotes in configuration line")
            }
            if words.isEmpty {
                continue
            }
            words[0] = ConfigSyntax.lowercased(words[0])
            let directive = String(decoding: words[0], as: UTF8.self)

            if let key = ConfigStore.key(named: words[0]) {
                let index = ConfigStore.keys[key].parameterIndex
                let parameter = ConfigParameter.all[index]
                if !parameter.takesSeveralArguments && words.count != 2 {
                    throw failure("wrong number of arguments")
                }
                let arguments: [[UInt8]]
                if parameter.takesSeveralArguments && words.count == 2 && !words[1].isEmpty {
                    // `--save "900 1 300 10"` on the command line: one quoted word holding several.
                    arguments = InlineArguments.split(words[1]) ?? []
                } else {
                    arguments = Array(words.dropFirst())
                }
                do throws(ConfigParseFailure) {
                    self.values[index] = try parameter.parse(
                        arguments,
                        current: self.values[index],
                        context: &self.context
                    )
                } catch {
                    throw failure(error.reason)
                }
                continue
            }
            if Self.deprecatedDirectives.contains(directive) && words.count == 2 {
                continue
            }
            switch directive {
            case "include" where words.count == 2:
                if self.depth >= Self.maximumIncludeDepth {
                    throw failure("include nesting is deeper than \(Self.maximumIncludeDepth) files")
                }
                try self.include(String(decoding: words[1], as: UTF8.self))
            case "rename-command" where words.count == 3:
                self.commandRenames.append(ConfigStore.CommandRename(from: words[1], to: words[2]))
            case "user" where words.count >= 2:
                throw failure("ACL users ('user' directives) are not supported by Neptune")
            case "loadmodule" where words.count >= 2:
                throw failure("modules are not supported by Neptune")
            case _ where directive.contains("."):
                if words.count != 2 {
                    throw failure("Module config specified without value")
                }
                throw failure("module configs are not supported by Neptune")
            case "sentinel":
                throw failure("sentinel mode is not supported by Neptune")
            default:
                throw failure("Bad directive or wrong number of arguments")
            }
        }
    }

    /// Reads an included file, or every file a glob pattern matches (none is fine), relative to `dir` since Redis has
    /// changed into it.
    private mutating func include(_ path: String) throws(ConfigError) {
        guard case .path(let directory) = self.values[ConfigStore.parameterIndex("dir")] else {
            preconditionFailure("dir holds a path")
        }
        let resolved = path.hasPrefix("/") ? path : directory + "/" + path
        var text: [UInt8] = []
        if path.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) {
            var matches = glob_t()
            defer { globfree(&matches) }
            if glob(resolved, 0, nil, &matches) == 0 {
                for index in 0..<Int(matches.gl_pathc) {
                    guard let match = matches.gl_pathv[index] else {
                        continue
                    }
                    let file = String(cString: match)
                    text += try ConfigStore.readConfigFile(file, reportedAs: file)
                }
            }
        } else {
            text = try ConfigStore.readConfigFile(resolved, reportedAs: path)
        }
        self.depth += 1
        defer { self.depth -= 1 }
        try self.load(text)
    }

    /// Redis opens `logfile` once after loading, so that a bad path fails at startup.
    func checkLogFile() throws(ConfigError) {
        guard case .text(let bytes?) = self.values[ConfigStore.parameterIndex("logfile")], !bytes.isEmpty,
            case .path(let directory) = self.values[ConfigStore.parameterIndex("dir")]
        else {
            return
        }
        let name = String(decoding: bytes, as: UTF8.self)
        let path = name.hasPrefix("/") ? name : directory + "/" + name
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        if descriptor < 0 {
            throw ConfigError.badConfigFile(
                version: self.version,
                reason: "Can't open the log file: \(ConfigSyntax.errorText(errno))",
                lineNumber: nil,
                line: nil
            )
        }
        close(descriptor)
    }
}
