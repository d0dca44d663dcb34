import Synchronization
import Testing

@testable import NeptuneServer

/// `CONFIG SET`: parsing of every type, Redis's error texts, atomicity and observers. The expected texts were read
/// from redis-server 7.0.15.
@Suite struct ConfigSetTests {
    private static func pairs(_ flat: [String]) -> [([UInt8], [UInt8])] {
        stride(from: 0, to: flat.count, by: 2).map { (Array(flat[$0].utf8), Array(flat[$0 + 1].utf8)) }
    }

    /// The error message of `CONFIG SET` with `arguments` (name, value, name, value...), or nil if it succeeded.
    private static func error(_ config: ConfigStore, _ arguments: String...) -> String? {
        do {
            try config.set(Self.pairs(arguments))
            return nil
        } catch {
            return error.message
        }
    }

    private static func failed(_ name: String, _ reason: String) -> String {
        "ERR CONFIG SET failed (possibly related to argument '\(name)') - \(reason)"
    }

    /// Sets `value` and returns what `CONFIG GET` reports then, or the error message.
    private static func roundTrip(_ config: ConfigStore, _ name: String, _ value: String) -> String? {
        if let message = Self.error(config, name, value) {
            return message
        }
        return config.get(name)
    }

    @Test func yesNo() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "appendonly", "YES") == "yes")
        #expect(config.appendonly)
        #expect(Self.roundTrip(config, "appendonly", "No") == "no")
        #expect(
            Self.error(config, "appendonly", "maybe") == Self.failed("appendonly", "argument must be 'yes' or 'no'")
        )
        #expect(Self.error(config, "appendonly", "1") == Self.failed("appendonly", "argument must be 'yes' or 'no'"))
        #expect(
            Self.error(config, "activedefrag", "yes")
                == Self.failed("activedefrag", "Active defragmentation cannot be enabled: Neptune does not support it")
        )
        #expect(Self.error(config, "activedefrag", "no") == nil)
    }

    @Test(arguments: [" 5", "+5", "05", "-0", "1.0", "", "00", "1 ", "0x10", "99999999999999999999"])
    func integersAreStrict(value: String) {
        let config = ConfigStore()
        #expect(
            Self.error(config, "slowlog-max-len", value)
                == Self.failed("slowlog-max-len", "argument couldn't be parsed into an integer")
        )
        #expect(config.slowlogMaxLen == 128)
    }

    @Test func integerBounds() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "list-max-listpack-size", "-5") == "-5")
        #expect(Self.roundTrip(config, "slowlog-log-slower-than", "-1") == "-1")
        #expect(Self.roundTrip(config, "maxclients", "4294967295") == "4294967295")
        let maxclients = Self.failed("maxclients", "argument must be between 1 and 4294967295 inclusive")
        #expect(Self.error(config, "maxclients", "0") == maxclients)
        #expect(Self.error(config, "maxclients", "4294967296") == maxclients)
        #expect(Self.error(config, "maxclients", "-1") == maxclients)
        #expect(
            Self.error(config, "slowlog-log-slower-than", "-2")
                == Self.failed(
                    "slowlog-log-slower-than",
                    "argument must be between -1 and 9223372036854775807 inclusive"
                )
        )
        #expect(
            Self.error(config, "active-expire-effort", "11")
                == Self.failed("active-expire-effort", "argument must be between 1 and 10 inclusive")
        )
        #expect(
            Self.error(config, "timeout", "2147483648")
                == Self.failed("timeout", "argument must be between 0 and 2147483647 inclusive")
        )
        #expect(
            Self.error(config, "list-max-listpack-size", "-2147483649")
                == Self.failed(
                    "list-max-listpack-size",
                    "argument must be between -2147483648 and 2147483647 inclusive"
                )
        )
    }

    @Test func errorsNameTheAliasThatWasUsed() {
        let config = ConfigStore()
        #expect(
            Self.error(config, "hash-max-ziplist-entries", "abc")
                == Self.failed("hash-max-ziplist-entries", "argument couldn't be parsed into an integer")
        )
        #expect(
            Self.error(config, "HASH-MAX-ZIPLIST-ENTRIES", "-1")
                == Self.failed(
                    "hash-max-ziplist-entries",
                    "argument must be between 0 and 9223372036854775807 inclusive"
                )
        )
    }

    @Test func hzIsBroughtWithinRange() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "hz", "1000") == "500")
        #expect(config.hz == 500)
        #expect(Self.roundTrip(config, "hz", "0") == "1")
        #expect(
            Self.error(config, "hz", "-1") == Self.failed("hz", "argument must be between 0 and 2147483647 inclusive")
        )
    }

    @Test func memorySizes() {
        let config = ConfigStore()
        let cases: [(String, String)] = [
            ("1KB", "1024"), ("1k", "1000"), ("1Gb", "1073741824"), ("2g", "2000000000"), ("3mb", "3145728"),
            ("3M", "3000000"), ("5B", "5"), ("05", "5"), ("5kB", "5120"), ("", "0"), ("kb", "0"),
            ("99999999999999999999", "18446744073709551615"), ("18446744073709551615kb", "18446744073709550592"),
            ("18014398509481984kb", "0"), ("9223372036854775808", "9223372036854775808"),
        ]
        for (value, reported) in cases {
            #expect(Self.roundTrip(config, "maxmemory", value) == reported, "\(value)")
        }
        #expect(config.maxmemory == 9_223_372_036_854_775_808)
        for value in [" 5", "+5", "5 b", "5 kb", "-5", "0x5", "1.5kb", "5t", "5kbb"] {
            #expect(
                Self.error(config, "maxmemory", value) == Self.failed("maxmemory", "argument must be a memory value"),
                "\(value)"
            )
        }
        #expect(
            Self.error(config, "proto-max-bulk-len", "1")
                == Self.failed(
                    "proto-max-bulk-len",
                    "argument must be between 1048576 and 9223372036854775807 inclusive"
                )
        )
        #expect(Self.roundTrip(config, "proto-max-bulk-len", "1mb") == "1048576")
        #expect(config.protoMaxBulkLen == 1_048_576)
        #expect(
            Self.error(config, "repl-backlog-size", "0")
                == Self.failed("repl-backlog-size", "argument must be between 1 and 9223372036854775807 inclusive")
        )
    }

    @Test func memoryOrPercent() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "maxmemory-clients", "10%") == "10%")
        #expect(config.integer("maxmemory-clients") == -10)
        #expect(Self.roundTrip(config, "maxmemory-clients", "1mb") == "1048576")
        #expect(Self.roundTrip(config, "maxmemory-clients", "0%") == "0")
        #expect(
            Self.error(config, "maxmemory-clients", "200%")
                == Self.failed("maxmemory-clients", "percentage argument must be less or equal to 100")
        )
        for value in ["-5%", "x", "%", "5 %"] {
            #expect(
                Self.error(config, "maxmemory-clients", value)
                    == Self.failed("maxmemory-clients", "argument must be a memory or percent value"),
                "\(value)"
            )
        }
    }

    @Test func enumerations() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "appendfsync", "ALWAYS") == "always")
        #expect(config.appendfsync == .always)
        #expect(
            Self.error(config, "appendfsync", "sometimes")
                == Self.failed("appendfsync", "argument(s) must be one of the following: everysec, always, no")
        )
        #expect(
            Self.error(config, "loglevel", "x")
                == Self.failed("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning")
        )
        #expect(
            Self.error(config, "maxmemory-policy", "lru")
                == Self.failed(
                    "maxmemory-policy",
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, "
                        + "volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction, allkeys-s3fifo"
                )
        )
        #expect(Self.roundTrip(config, "maxmemory-policy", "allkeys-lfu") == "allkeys-lfu")
        #expect(config.maxmemoryPolicy == .allkeysLFU)
        #expect(Self.roundTrip(config, "loglevel", "warning") == "warning")
        #expect(config.loglevel == .warning)
        // Two words with one value: the first one is reported.
        #expect(Self.roundTrip(config, "oom-score-adj", "relative") == "yes")
    }

    @Test func flagEnumerations() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "shutdown-on-sigint", "nosave now") == "nosave now")
        #expect(Self.roundTrip(config, "shutdown-on-sigint", "NOW force") == "now force")
        #expect(Self.roundTrip(config, "shutdown-on-sigint", "default now") == "now")
        #expect(Self.roundTrip(config, "shutdown-on-sigint", "default") == "default")
        let words = Self.failed(
            "shutdown-on-sigint",
            "argument(s) must be one of the following: default, save, nosave, now, force"
        )
        #expect(Self.error(config, "shutdown-on-sigint", "NOW  save") == words)
        #expect(Self.error(config, "shutdown-on-sigint", "") == words)
        #expect(
            Self.error(config, "shutdown-on-sigterm", "nosave save")
                == Self.failed("shutdown-on-sigterm", "shutdown options SAVE and NOSAVE can't be used simultaneously")
        )
    }

    @Test func text() {
        let config = ConfigStore()
        #expect(Self.roundTrip(config, "requirepass", "s3cret") == "s3cret")
        #expect(config.requirepass == "s3cret")
        #expect(Self.roundTrip(config, "requirepass", "") == "")
        #expect(config.requirepass == nil)
        try? config.set([(Array("requirepass".utf8), [0xFF, 0x00, 0x41])])
        #expect(config.requirepassBytes == [0xFF, 0x00, 0x41])
        #expect(Self.roundTrip(config, "replica-announce-ip", "10.0.0.1") == "10.0.0.1")
        #expect(Self.roundTrip(config, "cluster-announce-hostname", "node-1.example") == "node-1.example")
        #expect(
            Self.error(config, "cluster-announce-hostname", "bad_name")
                == Self.failed(
                    "cluster-announce-hostname",
                    "Hostnames may only contain alphanumeric characters, hyphens or dots"
                )
        )
        #expect(
            Self.error(config, "cluster-announce-hostname", String(repeating: "a", count: 256))
                == Self.failed("cluster-announce-hostname", "Hostnames must be less than 256 characters")
        )
        #expect(Self.roundTrip(config, "proc-title-template", "{title} {port}") == "{title} {port}")
        for template in ["{title}", "{nope}", "{title", "x {"] {
            #expect(
                Self.error(config, "proc-title-template", template)
                    == Self.failed("proc-title-template", "template format is invalid or contains unknown variables"),
                "\(template)"
            )
        }
    }

    @Test func saveRules() {
        let config = ConfigStore()
        let invalid = Self.failed("save", "Invalid save parameters")
        for value in ["10 1 20", "10 -1", "0 1", "10  1", " 10 1", "x 1", "10 y", "- 1"] {
            #expect(Self.error(config, "save", value) == invalid, "\(value)")
        }
        #expect(Self.roundTrip(config, "save", "+10 +1") == "10 1")
        #expect(Self.roundTrip(config, "save", "10 4294967297") == "10 1")
        #expect(Self.roundTrip(config, "save", "100 ") == "100 0")
        #expect(Self.roundTrip(config, "save", "900 1 300 10") == "900 1 300 10")
        #expect(
            config.saveRules
                == [ConfigStore.SaveRule(seconds: 900, changes: 1), ConfigStore.SaveRule(seconds: 300, changes: 10)]
        )
        #expect(Self.roundTrip(config, "save", "") == "")
        #expect(config.saveRules.isEmpty)
    }

    @Test func clientOutputBufferLimits() {
        let config = ConfigStore()
        #expect(
            Self.roundTrip(config, "client-output-buffer-limit", "normal 1mb 2mb 3")
                == "normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
        )
        #expect(
            Self.roundTrip(config, "client-output-buffer-limit", "NORMAL 1 2 3 replica 1kb 2 4 PUBSUB 5 6 7")
                == "normal 1 2 3 slave 1024 2 4 pubsub 5 6 7"
        )
        #expect(
            config.clientOutputBufferLimit(for: .pubsub)
                == ConfigStore.ClientOutputBufferLimit(hardLimitBytes: 5, softLimitBytes: 6, softLimitSeconds: 7)
        )
        #expect(Self.roundTrip(config, "client-output-buffer-limit", "") == "normal 1 2 3 slave 1024 2 4 pubsub 5 6 7")
        #expect(
            Self.error(config, "client-output-buffer-limit", "master 1 2 3")
                == Self.failed(
                    "client-output-buffer-limit",
                    "Invalid client class specified in buffer limit configuration."
                )
        )
        #expect(
            Self.error(config, "client-output-buffer-limit", "normal 1 2")
                == Self.failed("client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration.")
        )
        for value in ["normal 1 2 -3", "normal x 2 3", "normal 1 2 3s", "normal 1 2 3 pubsub 1 -1 1"] {
            #expect(
                Self.error(config, "client-output-buffer-limit", value)
                    == Self.failed(
                        "client-output-buffer-limit",
                        "Error in hard, soft or soft_seconds setting in buffer limit configuration."
                    ),
                "\(value)"
            )
        }
        #expect(config.get("client-output-buffer-limit") == "normal 1 2 3 slave 1024 2 4 pubsub 5 6 7")
    }

    @Test func keyspaceEvents() {
        let config = ConfigStore()
        let cases: [(String, String)] = [
            ("KEA", "AKE"), ("A", "A"), ("gK", "gK"), ("AKEmn", "AKEm"), ("Ag$lshzxeKEtmdn", "AKEm"), ("x", "x"),
            ("nd", "dn"), ("$lshzxetdg", "A"), ("", ""), ("Em$", "$Em"),
        ]
        for (value, reported) in cases {
            #expect(Self.roundTrip(config, "notify-keyspace-events", value) == reported, "\(value)")
        }
        #expect(
            Self.error(config, "notify-keyspace-events", "X")
                == Self.failed("notify-keyspace-events", "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
        )
        _ = Self.error(config, "notify-keyspace-events", "Ex")
        #expect(config.notifyKeyspaceEvents == [.keyevent, .expired])
    }

    @Test func percentilesAndOOMValues() {
        let config = ConfigStore()
        #expect(
            Self.roundTrip(config, "latency-tracking-info-percentiles", "50 99.99 100 0.5") == "50 99.99 100 0.5"
        )
        #expect(config.latencyTrackingInfoPercentiles == [50, 99.99, 100, 0.5])
        #expect(
            Self.error(config, "latency-tracking-info-percentiles", "101")
                == Self.failed(
                    "latency-tracking-info-percentiles",
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                )
        )
        #expect(
            Self.error(config, "latency-tracking-info-percentiles", "abc")
                == Self.failed(
                    "latency-tracking-info-percentiles",
                    "Invalid latency-tracking-info-percentiles parameters"
                )
        )
        #expect(Self.roundTrip(config, "latency-tracking-info-percentiles", "") == "")
        #expect(Self.roundTrip(config, "oom-score-adj-values", "-10 0 2000") == "-10 0 2000")
        #expect(
            Self.error(config, "oom-score-adj-values", "5000 0 0")
                == Self.failed(
                    "oom-score-adj-values",
                    "Invalid oom-score-adj-values, elements must be between -2000 and 2000."
                )
        )
        #expect(
            Self.error(config, "oom-score-adj-values", "1 2")
                == Self.failed("oom-score-adj-values", "wrong number of arguments")
        )
    }

    @Test func unknownNames() {
        let config = ConfigStore()
        let unknown = "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        #expect(Self.error(config, "foo", "bar") == unknown)
        #expect(Self.error(config, "maxmemory", "1", "foo", "bar") == unknown)
        #expect(Self.error(config, "foo", "bar", "port", "1") == unknown)
        #expect(Self.error(config, "foo", "bar", "maxmemory", "x") == unknown)
        #expect(
            Self.error(config, "tls-port", "1")
                == "ERR Unknown option or number of arguments for CONFIG SET - 'tls-port'"
        )
        #expect(config.maxmemory == 0)
        do {
            try config.set("foo", "bar")
            Issue.record("foo is unknown")
        } catch {
            #expect(error.code == .unknownOption)
            #expect(error.parameter == "foo")
            #expect(error.replyPrefix == "ERR")
        }
    }

    @Test func immutableAndProtected() {
        let config = ConfigStore()
        #expect(Self.error(config, "daemonize", "yes") == Self.failed("daemonize", "can't set immutable config"))
        #expect(Self.error(config, "DAEMONIZE", "yes") == Self.failed("DAEMONIZE", "can't set immutable config"))
        #expect(Self.error(config, "port", "7000") == Self.failed("port", "can't set immutable config"))
        #expect(Self.error(config, "bind", "0.0.0.0") == Self.failed("bind", "can't set immutable config"))
        #expect(Self.error(config, "slaveof", "no one") == Self.failed("slaveof", "can't set immutable config"))
        #expect(Self.error(config, "dir", "/tmp") == Self.failed("dir", "can't set protected config"))
        #expect(Self.error(config, "dbfilename", "x.rdb") == Self.failed("dbfilename", "can't set protected config"))
        // The first problem is the one reported.
        #expect(
            Self.error(config, "daemonize", "yes", "foo", "bar")
                == Self.failed("daemonize", "can't set immutable config")
        )
        #expect(config.port == 6379)
    }

    @Test func duplicates() {
        let config = ConfigStore()
        #expect(
            Self.error(config, "maxmemory", "10", "MAXMEMORY", "20")
                == Self.failed("MAXMEMORY", "duplicate parameter")
        )
        #expect(
            Self.error(config, "maxmemory", "10", "maxmemory", "20", "foo", "1")
                == Self.failed("maxmemory", "duplicate parameter")
        )
        #expect(config.maxmemory == 0)
        // A name and its alias are different names: both apply, in order.
        #expect(Self.error(config, "hash-max-ziplist-entries", "1", "hash-max-listpack-entries", "2") == nil)
        #expect(config.get("hash-max-ziplist-entries") == "2")
    }

    @Test func allOrNothing() {
        let config = ConfigStore()
        #expect(
            Self.error(config, "maxmemory", "1mb", "timeout", "30", "maxmemory-policy", "bad")
                == Self.failed(
                    "maxmemory-policy",
                    "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, "
                        + "volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction, allkeys-s3fifo"
                )
        )
        #expect(config.maxmemory == 0)
        #expect(config.timeout == 0)
        #expect(Self.error(config, "maxmemory", "1mb", "timeout", "30", "maxmemory-policy", "allkeys-lru") == nil)
        #expect(config.maxmemory == 1_048_576)
        #expect(config.timeout == 30)
        #expect(config.maxmemoryPolicy == .allkeysLRU)
        #expect(Self.error(config, "save", "1 1", "save", "2 2") == Self.failed("save", "duplicate parameter"))
    }

    private final class Recorder: Sendable {
        let seen = Mutex<[String]>([])

        func record(_ text: String) {
            self.seen.withLock { $0.append(text) }
        }
    }

    @Test func observersSeeChanges() throws {
        let config = ConfigStore()
        let recorder = Recorder()
        config.observe("timeout") { value in
            // Observers may read the store.
            recorder.record("\(value)/\(config.timeout)")
        }
        config.observe("maxmemory-policy") { value in recorder.record(value) }
        config.observe("hash-max-listpack-entries") { value in recorder.record("h" + value) }
        try config.set("timeout", "30")
        try config.set("timeout", "30")
        try config.set("maxmemory", "1")
        #expect(throws: ConfigError.self) { try config.set(Self.pairs(["timeout", "40", "loglevel", "bad"])) }
        try config.set("hash-max-ziplist-entries", "7")
        try config.set(Self.pairs(["maxmemory-policy", "ALLKEYS-LRU", "timeout", "0"]))
        #expect(recorder.seen.withLock { $0 } == ["30/30", "h7", "allkeys-lru", "0/0"])
    }

    @Test func protectedConfigsWhenEnabled() throws {
        let yes = try ConfigStore.load(arguments: ["--enable-protected-configs", "yes"])
        try yes.set("dbfilename", "snapshot.lz4")
        #expect(yes.dbfilename == "snapshot.lz4")
        try yes.set("dir", "/")
        #expect(yes.dir == "/")
        #expect(Self.error(yes, "dir", "/no/such/dir") == Self.failed("dir", "No such file or directory"))
        #expect(Self.error(yes, "dir", "/proc/self/status") == Self.failed("dir", "Not a directory"))
        #expect(
            Self.error(yes, "dbfilename", "a/b")
                == Self.failed("dbfilename", "dbfilename can't be a path, just a filename")
        )
        // Relative to the current `dir`, as after Redis's chdir.
        try yes.set("dir", "proc")
        #expect(yes.dir == "/proc")

        let local = try ConfigStore.load(arguments: ["--enable-protected-configs", "local"])
        #expect(throws: ConfigError.self) { try local.set(Self.pairs(["dir", "/"])) }
        try local.set(Self.pairs(["dir", "/"]), clientIsLocal: true)
        #expect(local.dir == "/")
    }
}
