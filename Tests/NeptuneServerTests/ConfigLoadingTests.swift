import Foundation
import NeptuneTestSupport
import Testing

@testable import NeptuneServer

/// Loading configuration files and `redis-server`-style command lines. The expected reports were read from
/// redis-server 7.0.15 (with "Neptune" for "Redis").
@Suite struct ConfigLoadingTests {
    private static func report(line: Int, _ text: String, _ reason: String) -> String {
        "*** FATAL CONFIG FILE ERROR (Neptune 7.0.15) ***\nReading the configuration file, at line \(line)\n"
            + ">>> '\(text)'\n\(reason)"
    }

    /// The error report of loading `arguments`, or nil if it loaded.
    private static func failure(_ arguments: [String], standardInput: String = "") -> String? {
        do {
            _ = try ConfigStore.load(arguments: arguments, standardInput: { Array(standardInput.utf8) })
            return nil
        } catch {
            return error.message
        }
    }

    // MARK: Command line

    @Test func optionsAreLinesAfterTheFile() {
        #expect(
            Self.failure(["--port", "abc"])
                == Self.report(line: 2, #"port "abc""#, "argument couldn't be parsed into an integer")
        )
        #expect(
            Self.failure(["--port", "0", "--port", "abc"])
                == Self.report(line: 3, #"port "abc""#, "argument couldn't be parsed into an integer")
        )
        #expect(
            Self.failure(["--foo", "bar"])
                == Self.report(line: 2, #"foo "bar""#, "Bad directive or wrong number of arguments")
        )
        #expect(
            Self.failure(["--port", "1", "2"]) == Self.report(line: 2, #"port "1" "2""#, "wrong number of arguments")
        )
        #expect(Self.failure(["--maxmemory"]) == Self.report(line: 2, "maxmemory", "wrong number of arguments"))
        #expect(
            Self.failure(["--appendonly", "maybe"])
                == Self.report(line: 2, #"appendonly "maybe""#, "argument must be 'yes' or 'no'")
        )
    }

    @Test func optionValuesAreQuoted() throws {
        #expect(
            Self.failure(["--requirepass", #"a"b"#, "x"])
                == Self.report(line: 2, #"requirepass "a\"b" "x""#, "wrong number of arguments")
        )
        #expect(
            Self.failure(["--requirepass", "é\t", "x"])
                == Self.report(line: 2, #"requirepass "\xc3\xa9\t" "x""#, "wrong number of arguments")
        )
        let config = try ConfigStore.load(arguments: ["--requirepass", "é \"quoted\" \\"])
        #expect(config.requirepass == "é \"quoted\" \\")
    }

    @Test func optionWordsUpToTheNextOption() throws {
        let config = try ConfigStore.load(arguments: [
            "--save", "60", "1", "--maxmemory", "1gb", "--bind", "::1", "10.0.0.1",
        ])
        #expect(config.get("save") == "60 1")
        #expect(config.maxmemory == 1 << 30)
        #expect(config.bind == ["::1", "10.0.0.1"])
        // A name and its value in one argument.
        let joined = try ConfigStore.load(arguments: ["--port 7000", "--timeout", "5"])
        #expect(joined.port == 7000)
        #expect(joined.timeout == 5)
        #expect(
            Self.failure(["--maxmemory 5", "x"])
                == Self.report(line: 2, #"maxmemory 5 "x""#, "wrong number of arguments")
        )
        // After a lone name, even "--word" is a value.
        #expect(
            Self.failure(["--loglevel", "--port", "0"])
                == Self.report(line: 2, #"loglevel "--port" "0""#, "wrong number of arguments")
        )
        #expect(
            Self.failure(["--port", "0", "--port", "--x"])
                == Self.report(line: 3, #"port "--x""#, "argument couldn't be parsed into an integer")
        )
    }

    @Test func severalWordsInOneArgument() throws {
        #expect(try ConfigStore.load(arguments: ["--save", "60 1 30 2"]).get("save") == "60 1 30 2")
        #expect(try ConfigStore.load(arguments: ["--save", "60  1"]).get("save") == "60 1")
        #expect(try ConfigStore.load(arguments: ["--save", #""60" 1"#]).get("save") == "60 1")
        #expect(
            try ConfigStore.load(arguments: ["--client-output-buffer-limit", "pubsub 64mb 16mb 90"])
                .clientOutputBufferLimit(for: .pubsub)
                == ConfigStore.ClientOutputBufferLimit(
                    hardLimitBytes: 64 << 20,
                    softLimitBytes: 16 << 20,
                    softLimitSeconds: 90
                )
        )
        #expect(
            Self.failure(["--client-output-buffer-limit", "master 1 2 3"])
                == Self.report(
                    line: 2,
                    #"client-output-buffer-limit "master 1 2 3""#,
                    "Invalid client class specified in buffer limit configuration."
                )
        )
    }

    @Test func saveWithoutValue() throws {
        #expect(try ConfigStore.load(arguments: ["--save"]).saveRules.isEmpty)
        let beforeOption = try ConfigStore.load(arguments: ["--save", "--port", "7000"])
        #expect(beforeOption.saveRules.isEmpty)
        #expect(beforeOption.port == 7000)
        #expect(
            Self.failure(["--save", "--port", "0", "--maxmemory", "x"])
                == Self.report(line: 4, #"maxmemory "x""#, "argument must be a memory value")
        )
        #expect(try ConfigStore.load(arguments: ["--save", "", "--save", "30", "2"]).get("save") == "30 2")
    }

    @Test func repeatedSaveAddsRules() throws {
        #expect(try ConfigStore.load(arguments: ["--save", "60", "1", "--save", "30", "2"]).get("save") == "60 1 30 2")
        #expect(try ConfigStore.load(arguments: []).get("save") == "3600 1 300 100 60 10000")
    }

    @Test func standardInput() throws {
        let config = try ConfigStore.load(
            arguments: ["-", "--port", "7001"],
            standardInput: { Array("port 7000\ntimeout 9\n".utf8) }
        )
        #expect(config.port == 7001)
        #expect(config.timeout == 9)
        #expect(
            Self.failure(["--port", "0", "-"], standardInput: "port x\n")
                == Self.report(line: 1, "port x", "argument couldn't be parsed into an integer")
        )
        // In the middle, "-" is a value.
        #expect(
            Self.failure(["--port", "-", "--timeout", "1"])
                == Self.report(line: 2, #"port "-""#, "argument couldn't be parsed into an integer")
        )
    }

    @Test func eachTypeAtStartup() throws {
        let config = try ConfigStore.load(arguments: [
            "--unixsocketperm", "700", "--databases", "4", "--maxmemory", "100mb", "--maxmemory-clients", "5%",
            "--loglevel", "DEBUG", "--appendfsync", "no", "--notify-keyspace-events", "Kx", "--hz", "100000",
            "--daemonize", "yes", "--pidfile", "/run/neptune.pid", "--io-threads", "4", "--tcp-backlog", "128",
        ])
        #expect(config.unixsocketperm == 0o700)
        #expect(config.get("unixsocketperm") == "700")
        #expect(config.databases == 4)
        #expect(config.maxmemory == 100 << 20)
        #expect(config.get("maxmemory-clients") == "5%")
        #expect(config.loglevel == .debug)
        #expect(config.appendfsync == .no)
        #expect(config.notifyKeyspaceEvents == [.keyspace, .expired])
        #expect(config.hz == 500)
        #expect(config.daemonize)
        #expect(config.pidfile == "/run/neptune.pid")
        #expect(config.ioThreads == 4)
        #expect(config.tcpBacklog == 128)
    }

    @Test func startupOnlyErrors() {
        #expect(
            Self.failure(["--unixsocketperm", "8"])
                == Self.report(line: 2, #"unixsocketperm "8""#, "argument couldn't be parsed as an octal number")
        )
        #expect(
            Self.failure(["--unixsocketperm", "1000"])
                == Self.report(line: 2, #"unixsocketperm "1000""#, "argument must be between 0 and 777 inclusive")
        )
        #expect(
            Self.failure(["--databases", "0"])
                == Self.report(line: 2, #"databases "0""#, "argument must be between 1 and 2147483647 inclusive")
        )
        #expect(
            Self.failure(["--socket-mark-id", "-1"])
                == Self.report(line: 2, #"socket-mark-id "-1""#, "argument must be between 0 and 4294967295 inclusive")
        )
        #expect(
            Self.failure(["--dir", "/nonexistent-neptune-dir"])
                == Self.report(line: 2, #"dir "/nonexistent-neptune-dir""#, "No such file or directory")
        )
        #expect(
            Self.failure(["--dir", "/proc/self/status"])
                == Self.report(line: 2, #"dir "/proc/self/status""#, "Not a directory")
        )
        #expect(
            Self.failure(["--dbfilename", "a/b"])
                == Self.report(line: 2, #"dbfilename "a/b""#, "dbfilename can't be a path, just a filename")
        )
        #expect(
            Self.failure(["--appendfilename", ""])
                == Self.report(line: 2, #"appendfilename """#, "appendfilename can't be empty")
        )
        #expect(
            Self.failure(["--appenddirname", "x/y"])
                == Self.report(line: 2, #"appenddirname "x/y""#, "appenddirname can't be a path, just a dirname")
        )
        #expect(
            Self.failure(["--notify-keyspace-events", "X"])
                == Self.report(
                    line: 2,
                    #"notify-keyspace-events "X""#,
                    "Invalid event class character. Use 'Ag$lshzxeKEtmdn'."
                )
        )
        let seventeen = (1...17).map(String.init)
        #expect(
            Self.failure(["--bind"] + seventeen)
                == Self.report(
                    line: 2,
                    "bind " + seventeen.map { "\"\($0)\"" }.joined(separator: " "),
                    "Too many bind addresses specified."
                )
        )
        #expect(
            Self.failure(["--replicaof", "a"]) == Self.report(line: 2, #"replicaof "a""#, "wrong number of arguments")
        )
        #expect(
            Self.failure(["--replicaof", "a", "b"])
                == Self.report(line: 2, #"replicaof "a" "b""#, "Invalid master port")
        )
        #expect(
            Self.failure(["--slaveof", "10.0.0.1", "6379"])
                == Self.report(line: 2, #"slaveof "10.0.0.1" "6379""#, "replication is not supported by Neptune")
        )
        #expect(
            Self.failure(["--cluster-enabled", "yes"])
                == Self.report(line: 2, #"cluster-enabled "yes""#, "cluster mode is not supported by Neptune")
        )
        #expect(Self.failure(["--replicaof", "no", "one", "--cluster-enabled", "no"]) == nil)
    }

    // MARK: Files

    @Test func fileSyntax() throws {
        let directory = try TemporaryDirectory(prefix: "neptune-config")
        let file = try directory.write(
            "neptune.conf",
            """
            # A comment, then blank lines

              \t
            PORT 7000
              maxmemory  "1g"   # not a comment: a third word
            """
        )
        #expect(
            Self.failure([file])
                == Self.report(
                    line: 5,
                    #"maxmemory  "1g"   # not a comment: a third word"#,
                    "wrong number of arguments"
                )
        )
        try directory.write(
            "good.conf",
            "# comment\n\nPORT 7000\r\n  maxmemory  \"1g\"  \nmasterauth 'it\\'s'\n"
                + "requirepass \"a\\x41\\n\"\nbind 127.0.0.1 -::1\n"
        )
        let config = try ConfigStore.load(arguments: [directory.path + "/good.conf"])
        #expect(config.port == 7000)
        #expect(config.maxmemory == 1_000_000_000)
        #expect(config.requirepass == "aA\n")
        #expect(config.get("masterauth") == "it's")
        #expect(config.bind == ["127.0.0.1", "-::1"])
        #expect(config.configFile == directory.path + "/good.conf")
    }

    @Test func fileErrors() throws {
        let directory = try TemporaryDirectory(prefix: "neptune-config")
        let quotes = try directory.write("quotes.conf", "port 0\n# fine\nloglevel \"bad\n")
        #expect(
            Self.failure([quotes]) == Self.report(line: 3, #"loglevel "bad"#, "Unbalanced quotes in configuration line")
        )
        let directive = try directory.write("directive.conf", "port 0\nfoo bar\n")
        #expect(
            Self.failure([directive, "--port", "0"])
                == Self.report(line: 2, "foo bar", "Bad directive or wrong number of arguments")
        )
        let arity = try directory.write("arity.conf", "port 0\nport 1 2")
        #expect(Self.failure([arity, "--port", "x"]) == Self.report(line: 2, "port 1 2", "wrong number of arguments"))
        let save = try directory.write("save.conf", "save 1 2 3\n")
        #expect(Self.failure([save]) == Self.report(line: 1, "save 1 2 3", "Invalid save parameters"))
        let include = try directory.write("include.conf", "port 0\ninclude\n")
        #expect(
            Self.failure([include]) == Self.report(line: 2, "include", "Bad directive or wrong number of arguments")
        )
        // Options count their lines after the file's (which ends with a newline here, hence an empty line).
        let ok = try directory.write("ok.conf", "port 0\n")
        #expect(
            Self.failure([ok, "--port", "x"])
                == Self.report(line: 3, #"port "x""#, "argument couldn't be parsed into an integer")
        )
        let unsupported: [(String, String)] = [
            ("user default on", "ACL users ('user' directives) are not supported by Neptune"),
            ("loadmodule /x.so", "modules are not supported by Neptune"),
            ("mymodule.option 1", "module configs are not supported by Neptune"),
            ("mymodule.option", "Module config specified without value"),
            ("sentinel monitor m 1 2 3", "sentinel mode is not supported by Neptune"),
        ]
        for (line, reason) in unsupported {
            let path = try directory.write("unsupported.conf", line + "\n")
            #expect(Self.failure([path]) == Self.report(line: 1, line, reason))
        }
    }

    @Test func missingFiles() throws {
        #expect(
            Self.failure(["/nonexistent-neptune.conf"])
                == "Fatal error, can't open config file '/nonexistent-neptune.conf': No such file or directory"
        )
        let relative = "nonexistent-neptune-\(UUID().uuidString).conf"
        let expected = FileManager.default.currentDirectoryPath + "/" + relative
        do {
            _ = try ConfigStore.load(arguments: [relative])
            Issue.record("the file does not exist")
        } catch {
            #expect(error.code == .cannotOpenFile)
            #expect(error.message == "Fatal error, can't open config file '\(expected)': No such file or directory")
        }
        #expect(ConfigStore.absolutePath("../x.conf").hasSuffix("/x.conf"))
        #expect(ConfigStore.absolutePath(" /etc/x.conf\n") == "/etc/x.conf")
    }

    @Test func commandLineOverridesTheFile() throws {
        let directory = try TemporaryDirectory(prefix: "neptune-config")
        let file = try directory.write(
            "neptune.conf",
            "port 7000\ntimeout 10\nsave 10 1\nsave 20 2\nmaxmemory-policy allkeys-lru\n"
        )
        let config = try ConfigStore.load(arguments: [file, "--timeout", "20", "--save", "5", "5"])
        #expect(config.port == 7000)
        #expect(config.timeout == 20)
        #expect(config.get("save") == "10 1 20 2 5 5")
        #expect(config.maxmemoryPolicy == .allkeysLRU)
        #expect(try ConfigStore.load(arguments: [file, "--save", ""]).saveRules.isEmpty)
        let reset = try directory.write("reset.conf", "save \"\"\nsave 20 2\n")
        #expect(try ConfigStore.load(arguments: [reset]).get("save") == "20 2")
    }

    @Test func includes() throws {
        let directory = try TemporaryDirectory(prefix: "neptune-config")
        try FileManager.default.createDirectory(atPath: directory.path + "/conf.d", withIntermediateDirectories: true)
        try directory.write("conf.d/20-b.conf", "timeout 20\nsave 20 2\n")
        try directory.write("conf.d/10-a.conf", "timeout 10\nsave 10 1\nrename-command FLUSHALL \"\"\n")
        try directory.write("common.conf", "maxclients 50\n")
        let main = try directory.write(
            "main.conf",
            """
            dir \(directory.path)
            include common.conf
            include conf.d/*.conf
            include empty.d/*.conf
            rename-command CONFIG my-config
            """
        )
        let config = try ConfigStore.load(arguments: [main])
        #expect(config.maxclients == 50)
        #expect(config.timeout == 20)
        #expect(config.get("save") == "10 1 20 2")
        #expect(
            config.commandRenames == [
                ConfigStore.CommandRename(from: Array("FLUSHALL".utf8), to: []),
                ConfigStore.CommandRename(from: Array("CONFIG".utf8), to: Array("my-config".utf8)),
            ]
        )

        try directory.write("bad.conf", "port 0\n\nmaxmemory lots\n")
        let includesBad = try directory.write("includes-bad.conf", "port 1\ninclude \(directory.path)/bad.conf\n")
        #expect(
            Self.failure([includesBad])
                == Self.report(line: 3, "maxmemory lots", "argument must be a memory value")
        )
        let includesMissing = try directory.write("includes-missing.conf", "include \(directory.path)/missing.conf\n")
        #expect(
            Self.failure([includesMissing])
                == "Fatal error, can't open config file '\(directory.path)/missing.conf': No such file or directory"
        )
        let loop = try directory.write("loop.conf", "include \(directory.path)/loop.conf\n")
        #expect(
            Self.failure([loop])
                == Self.report(
                    line: 1,
                    "include \(directory.path)/loop.conf",
                    "include nesting is deeper than 32 files"
                )
        )
    }

    @Test func deprecatedDirectivesAreIgnored() throws {
        let directory = try TemporaryDirectory(prefix: "neptune-config")
        let file = try directory.write(
            "old.conf",
            "list-max-ziplist-entries 512\nlist-max-ziplist-value 64\nlua-replicate-commands yes\n"
                + "hash-max-ziplist-entries 5\n"
        )
        let config = try ConfigStore.load(arguments: [file])
        #expect(config.get("hash-max-listpack-entries") == "5")
        #expect(
            Self.failure(["--lua-replicate-commands", "yes", "no"])
                == Self.report(
                    line: 2,
                    #"lua-replicate-commands "yes" "no""#,
                    "Bad directive or wrong number of arguments"
                )
        )
    }

    @Test func logFileMustOpen() throws {
        let directory = try TemporaryDirectory(prefix: "neptune-config")
        #expect(
            Self.failure(["--logfile", "/nonexistent-neptune-dir/x.log"])
                == "*** FATAL CONFIG FILE ERROR (Neptune 7.0.15) ***\n"
                + "Can't open the log file: No such file or directory"
        )
        let config = try ConfigStore.load(arguments: ["--dir", directory.path, "--logfile", "neptune.log"])
        #expect(config.logfile == "neptune.log")
        #expect(FileManager.default.fileExists(atPath: directory.path + "/neptune.log"))
    }

    @Test func errorDetails() {
        do {
            _ = try ConfigStore.load(arguments: ["--port", "abc"], version: "1.2.3")
            Issue.record("port abc is invalid")
        } catch {
            #expect(error.code == .badConfigFile)
            #expect(error.lineNumber == 2)
            #expect(error.line == #"port "abc""#)
            #expect(error.reason == "argument couldn't be parsed into an integer")
            #expect(error.message.hasPrefix("*** FATAL CONFIG FILE ERROR (Neptune 1.2.3) ***\n"))
        }
    }
}
