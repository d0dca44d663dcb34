import Testing

@testable import NeptuneServer

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Defaults, formatting and `CONFIG GET` matching.
@Suite struct ConfigStoreTests {
    /// `CONFIG GET *` of a default redis-server 7.0.15 (TLS parameters left out), with Neptune's own defaults for
    /// `bind`, and `port` and `save` as redis-server has them without command line options. `dir` is checked apart.
    static let redisDefaults: [(String, String)] = [
        ("acl-pubsub-default", "resetchannels"), ("aclfile", ""), ("acllog-max-len", "128"),
        ("active-defrag-cycle-max", "25"), ("active-defrag-cycle-min", "1"),
        ("active-defrag-ignore-bytes", "104857600"), ("active-defrag-max-scan-fields", "1000"),
        ("active-defrag-threshold-lower", "10"), ("active-defrag-threshold-upper", "100"),
        ("active-expire-effort", "1"), ("activedefrag", "no"), ("activerehashing", "yes"),
        ("always-show-logo", "no"), ("aof-disable-auto-gc", "no"), ("aof-load-truncated", "yes"),
        ("aof-rewrite-incremental-fsync", "yes"), ("aof-timestamp-enabled", "no"), ("aof-use-rdb-preamble", "yes"),
        ("aof_rewrite_cpulist", ""), ("appenddirname", "appendonlydir"), ("appendfilename", "appendonly.aof"),
        ("appendfsync", "everysec"), ("appendonly", "no"), ("auto-aof-rewrite-min-size", "67108864"),
        ("auto-aof-rewrite-percentage", "100"), ("bgsave_cpulist", ""), ("bind", "127.0.0.1"),
        ("bind-source-addr", ""), ("bio_cpulist", ""), ("busy-reply-threshold", "5000"),
        ("client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"),
        ("client-query-buffer-limit", "1073741824"), ("cluster-allow-pubsubshard-when-down", "yes"),
        ("cluster-allow-reads-when-down", "no"), ("cluster-allow-replica-migration", "yes"),
        ("cluster-announce-bus-port", "0"), ("cluster-announce-hostname", ""), ("cluster-announce-ip", ""),
        ("cluster-announce-port", "0"), ("cluster-announce-tls-port", "0"), ("cluster-config-file", "nodes.conf"),
        ("cluster-enabled", "no"), ("cluster-link-sendbuf-limit", "0"), ("cluster-migration-barrier", "1"),
        ("cluster-node-timeout", "15000"), ("cluster-port", "0"), ("cluster-preferred-endpoint-type", "ip"),
        ("cluster-replica-no-failover", "no"), ("cluster-replica-validity-factor", "10"),
        ("cluster-require-full-coverage", "yes"), ("cluster-slave-no-failover", "no"),
        ("cluster-slave-validity-factor", "10"), ("crash-log-enabled", "yes"), ("crash-memcheck-enabled", "yes"),
        ("daemonize", "no"), ("databases", "16"), ("dbfilename", "dump.nsnap"), ("disable-thp", "yes"),
        ("dynamic-hz", "yes"), ("enable-debug-command", "no"), ("enable-module-command", "no"),
        ("enable-protected-configs", "no"), ("hash-max-listpack-entries", "512"), ("hash-max-listpack-value", "64"),
        ("hash-max-ziplist-entries", "512"), ("hash-max-ziplist-value", "64"), ("hll-sparse-max-bytes", "3000"),
        ("hz", "10"), ("ignore-warnings", ""), ("io-threads", "1"), ("io-threads-do-reads", "no"),
        ("jemalloc-bg-thread", "yes"), ("latency-monitor-threshold", "0"), ("latency-tracking", "yes"),
        ("latency-tracking-info-percentiles", "50 99 99.9"), ("lazyfree-lazy-eviction", "no"),
        ("lazyfree-lazy-expire", "no"), ("lazyfree-lazy-server-del", "no"), ("lazyfree-lazy-user-del", "no"),
        ("lazyfree-lazy-user-flush", "no"), ("lfu-decay-time", "1"), ("lfu-log-factor", "10"),
        ("list-compress-depth", "0"), ("list-max-listpack-size", "-2"), ("list-max-ziplist-size", "-2"),
        ("logfile", ""), ("loglevel", "notice"), ("lua-time-limit", "5000"), ("masterauth", ""), ("masteruser", ""),
        ("maxclients", "10000"), ("maxmemory", "0"), ("maxmemory-clients", "0"),
        ("maxmemory-eviction-tenacity", "10"), ("maxmemory-policy", "noeviction"), ("maxmemory-samples", "5"),
        ("min-replicas-max-lag", "10"), ("min-replicas-to-write", "0"), ("min-slaves-max-lag", "10"),
        ("min-slaves-to-write", "0"), ("no-appendfsync-on-rewrite", "no"), ("notify-keyspace-events", ""),
        ("oom-score-adj", "no"), ("oom-score-adj-values", "0 200 800"), ("pidfile", ""), ("port", "6379"),
        ("proc-title-template", "{title} {listen-addr} {server-mode}"), ("propagation-error-behavior", "ignore"),
        ("protected-mode", "yes"), ("proto-max-bulk-len", "536870912"), ("rdb-del-sync-files", "no"),
        ("rdb-save-incremental-fsync", "yes"), ("rdbchecksum", "yes"), ("rdbcompression", "yes"),
        ("repl-backlog-size", "1048576"), ("repl-backlog-ttl", "3600"), ("repl-disable-tcp-nodelay", "no"),
        ("repl-diskless-load", "disabled"), ("repl-diskless-sync", "yes"), ("repl-diskless-sync-delay", "5"),
        ("repl-diskless-sync-max-replicas", "0"), ("repl-ping-replica-period", "10"),
        ("repl-ping-slave-period", "10"), ("repl-timeout", "60"), ("replica-announce-ip", ""),
        ("replica-announce-port", "0"), ("replica-announced", "yes"), ("replica-ignore-disk-write-errors", "no"),
        ("replica-ignore-maxmemory", "yes"), ("replica-lazy-flush", "no"), ("replica-priority", "100"),
        ("replica-read-only", "yes"), ("replica-serve-stale-data", "yes"), ("replicaof", ""), ("requirepass", ""),
        ("sanitize-dump-payload", "no"), ("save", "3600 1 300 100 60 10000"), ("server_cpulist", ""),
        ("set-max-intset-entries", "512"), ("set-proc-title", "yes"), ("shutdown-on-sigint", "default"),
        ("shutdown-on-sigterm", "default"), ("shutdown-timeout", "10"), ("slave-announce-ip", ""),
        ("slave-announce-port", "0"), ("slave-ignore-maxmemory", "yes"), ("slave-lazy-flush", "no"),
        ("slave-priority", "100"), ("slave-read-only", "yes"), ("slave-serve-stale-data", "yes"), ("slaveof", ""),
        ("slowlog-log-slower-than", "10000"), ("slowlog-max-len", "128"), ("socket-mark-id", "0"),
        ("stop-writes-on-bgsave-error", "yes"), ("stream-node-max-bytes", "4096"),
        ("stream-node-max-entries", "100"), ("supervised", "no"), ("syslog-enabled", "no"),
        ("syslog-facility", "local0"), ("syslog-ident", "redis"), ("tcp-backlog", "511"), ("tcp-keepalive", "300"),
        ("timeout", "0"), ("tracking-table-max-keys", "1000000"), ("unixsocket", ""), ("unixsocketperm", "0"),
        ("zset-max-listpack-entries", "128"), ("zset-max-listpack-value", "64"), ("zset-max-ziplist-entries", "128"),
        ("zset-max-ziplist-value", "64"),
    ]

    private static func bytes(_ text: String) -> [UInt8] {
        Array(text.utf8)
    }

    @Test func defaultsAreRedisDefaults() {
        let config = ConfigStore()
        for (name, value) in Self.redisDefaults {
            #expect(config.get(name) == value, "\(name)")
        }
    }

    @Test func everyNameIsReportedByStar() {
        let config = ConfigStore()
        let reported = config.matching(patterns: [Self.bytes("*")])
        let names = reported.map(\.0)
        #expect(Set(names) == Set(Self.redisDefaults.map(\.0) + ["dir"]))
        #expect(names.count == Set(names).count)
    }

    @Test func dirDefaultsToTheWorkingDirectory() throws {
        let config = ConfigStore()
        let cwd = try #require(realpath(".", nil))
        defer { free(cwd) }
        #expect(config.dir == String(cString: cwd))
        #expect(config.get("dir") == String(cString: cwd))
    }

    @Test func typedDefaults() {
        let config = ConfigStore()
        #expect(config.port == 6379)
        #expect(config.bind == ["127.0.0.1"])
        #expect(config.databases == 16)
        #expect(config.requirepass == nil)
        #expect(config.requirepassBytes == nil)
        #expect(config.timeout == 0)
        #expect(config.maxclients == 10000)
        #expect(config.tcpKeepalive == 300)
        #expect(config.tcpBacklog == 511)
        #expect(config.protectedMode)
        #expect(!config.daemonize)
        #expect(config.pidfile == nil)
        #expect(config.unixsocket == nil)
        #expect(config.protoMaxBulkLen == 512 * 1024 * 1024)
        #expect(config.clientQueryBufferLimit == 1024 * 1024 * 1024)
        #expect(
            config.clientOutputBufferLimit(for: .replica)
                == ConfigStore.ClientOutputBufferLimit(
                    hardLimitBytes: 256 * 1024 * 1024,
                    softLimitBytes: 64 * 1024 * 1024,
                    softLimitSeconds: 60
                )
        )
        #expect(config.ioThreads == 1)
        #expect(config.hz == 10)
        #expect(!config.appendonly)
        #expect(config.appendfsync == .everysec)
        #expect(config.appendfilename == "appendonly.aof")
        #expect(config.appenddirname == "appendonlydir")
        #expect(
            config.saveRules == [
                ConfigStore.SaveRule(seconds: 3600, changes: 1),
                ConfigStore.SaveRule(seconds: 300, changes: 100),
                ConfigStore.SaveRule(seconds: 60, changes: 10000),
            ]
        )
        #expect(config.dbfilename == "dump.nsnap")
        #expect(config.maxmemory == 0)
        #expect(config.maxmemoryPolicy == .noeviction)
        #expect(config.maxmemorySamples == 5)
        #expect(config.lfuLogFactor == 10)
        #expect(config.lfuDecayTime == 1)
        #expect(config.activeExpireEffort == 1)
        #expect(config.loglevel == .notice)
        #expect(config.logfile == "")
        #expect(config.notifyKeyspaceEvents == [])
        #expect(config.slowlogLogSlowerThan == 10000)
        #expect(config.slowlogMaxLen == 128)
        #expect(config.latencyTrackingInfoPercentiles == [50, 99, 99.9])
        #expect(config.busyReplyThreshold == 5000)
        #expect(config.bool("replica-read-only") == true)
        #expect(config.bool("port") == nil)
        #expect(config.integer("list-max-ziplist-size") == -2)
        #expect(config.integer("nope") == nil)
    }

    @Test func parameterTable() throws {
        let port = try #require(ConfigStore.parameter(named: "PORT"))
        #expect(port.name == "port")
        #expect(!port.isMutable)
        let entries = try #require(ConfigStore.parameter(named: "hash-max-ziplist-entries"))
        #expect(entries.name == "hash-max-listpack-entries")
        #expect(entries.aliases == ["hash-max-ziplist-entries"])
        #expect(entries.defaultArgument == "512")
        #expect(try #require(ConfigStore.parameter(named: "slaveof")).name == "replicaof")
        #expect(try #require(ConfigStore.parameter(named: "requirepass")).isSensitive)
        #expect(try #require(ConfigStore.parameter(named: "dir")).isProtected)
        #expect(ConfigStore.parameter(named: "tls-port") == nil)
        if case .enumeration(let names, let flags) = try #require(ConfigStore.parameter(named: "appendfsync")).kind {
            #expect(names == ["everysec", "always", "no"])
            #expect(!flags)
        } else {
            Issue.record("appendfsync is an enumeration")
        }
    }

    @Test func getIgnoresCaseAndKnowsAliases() {
        let config = ConfigStore()
        #expect(config.get("SLAVE-READ-ONLY") == "yes")
        #expect(config.get("Hash-Max-Ziplist-Value") == "64")
        #expect(config.get("no-such-thing") == nil)
    }

    @Test func exactNamesAreReportedAsWrittenAndOnce() {
        let config = ConfigStore()
        let reply = config.matching(patterns: ["PORT", "port", "P?RT"].map(Self.bytes))
        #expect(reply.count == 1)
        #expect(reply.first?.0 == "PORT")
        #expect(reply.first?.1 == "6379")
    }

    @Test func aliasesAreSeparateNames() {
        let config = ConfigStore()
        let both = config.matching(patterns: ["slave-read-only", "replica-read-only"].map(Self.bytes))
        #expect(both.map(\.0) == ["slave-read-only", "replica-read-only"])
        let glob = config.matching(patterns: [Self.bytes("hash-max-*-entries")])
        #expect(Set(glob.map(\.0)) == ["hash-max-listpack-entries", "hash-max-ziplist-entries"])
        #expect(glob.allSatisfy { $0.1 == "512" })
    }

    @Test func globsAreCaseInsensitiveAndUnited() {
        let config = ConfigStore()
        let policy = config.matching(patterns: [Self.bytes("MAXMEMORY-P*")])
        #expect(policy.map(\.0) == ["maxmemory-policy"])
        let union = config.matching(patterns: ["maxmemory*", "maxmemory-s?mples", "nothing*"].map(Self.bytes))
        #expect(
            Set(union.map(\.0)) == [
                "maxmemory", "maxmemory-clients", "maxmemory-eviction-tenacity", "maxmemory-policy",
                "maxmemory-samples",
            ]
        )
        #expect(union.count == 5)
        #expect(config.matching(patterns: [Self.bytes("nothing*"), Self.bytes("nothing")]).isEmpty)
        let classes = config.matching(patterns: [Self.bytes("[pq]ort")])
        #expect(classes.map(\.0) == ["port"])
    }
}
