extension ConfigParameter {
    private static let intMax = Int64(Int32.max)
    private static let intMin = Int64(Int32.min)
    private static let longMax = Int64.max

    private static let protectedActionCases = [("no", 0), ("yes", 1), ("local", 2)]
    private static let shutdownCases = [("default", 0), ("save", 1), ("nosave", 2), ("now", 4), ("force", 8)]

    /// Every parameter, in a fixed order: Redis 7.0's names, types, bounds and defaults, except where Neptune
    /// differs on purpose: `bind` defaults to `127.0.0.1`; `port` and `bind` cannot change at runtime (the listener is
    /// not rebound); `cluster-enabled`, `activedefrag` and `replicaof` refuse what Neptune cannot do.
    static let all: [ConfigParameter] = [
        // Yes/no parameters.
        .bool("rdbchecksum", mutable: false, default: true),
        .bool("daemonize", mutable: false, default: false),
        .bool("io-threads-do-reads", mutable: false, default: false),
        .bool("always-show-logo", mutable: false, default: false),
        .bool("protected-mode", default: true),
        .bool("rdbcompression", default: true),
        .bool("rdb-del-sync-files", default: false),
        .bool("activerehashing", default: true),
        .bool("stop-writes-on-bgsave-error", default: true),
        .bool("set-proc-title", mutable: false, default: true),
        .bool("dynamic-hz", default: true),
        .bool("lazyfree-lazy-eviction", default: false),
        .bool("lazyfree-lazy-expire", default: false),
        .bool("lazyfree-lazy-server-del", default: false),
        .bool("lazyfree-lazy-user-del", default: false),
        .bool("lazyfree-lazy-user-flush", default: false),
        .bool("repl-disable-tcp-nodelay", default: false),
        .bool("repl-diskless-sync", default: true),
        .bool("aof-rewrite-incremental-fsync", default: true),
        .bool("no-appendfsync-on-rewrite", default: false),
        .bool("cluster-require-full-coverage", default: true),
        .bool("rdb-save-incremental-fsync", default: true),
        .bool("aof-load-truncated", default: true),
        .bool("aof-use-rdb-preamble", default: true),
        .bool("aof-timestamp-enabled", default: false),
        .bool("cluster-replica-no-failover", alias: "cluster-slave-no-failover", default: false),
        .bool("replica-lazy-flush", alias: "slave-lazy-flush", default: false),
        .bool("replica-serve-stale-data", alias: "slave-serve-stale-data", default: true),
        .bool("replica-read-only", alias: "slave-read-only", default: true),
        .bool("replica-ignore-maxmemory", alias: "slave-ignore-maxmemory", default: true),
        .bool("jemalloc-bg-thread", default: true),
        .bool(
            "activedefrag",
            default: false,
            restriction: .mustBeNo("Active defragmentation cannot be enabled: Neptune does not support it")
        ),
        .bool("syslog-enabled", mutable: false, default: false),
        .bool(
            "cluster-enabled",
            mutable: false,
            default: false,
            restriction: .mustBeNo("cluster mode is not supported by Neptune")
        ),
        .bool("appendonly", default: false),
        .bool("cluster-allow-reads-when-down", default: false),
        .bool("cluster-allow-pubsubshard-when-down", default: true),
        .bool("crash-log-enabled", default: true),
        .bool("crash-memcheck-enabled", default: true),
        .bool("disable-thp", mutable: false, default: true),
        .bool("cluster-allow-replica-migration", default: true),
        .bool("replica-announced", default: true),
        .bool("latency-tracking", default: true),
        .bool("aof-disable-auto-gc", default: false),
        .bool("replica-ignore-disk-write-errors", default: false),

        // Text parameters.
        .string("aclfile", mutable: false, emptyIsUnset: false, default: ""),
        .string("unixsocket", mutable: false, emptyIsUnset: true, default: ""),
        .string("pidfile", mutable: false, emptyIsUnset: true, default: ""),
        .string("replica-announce-ip", alias: "slave-announce-ip", emptyIsUnset: true, default: ""),
        .string("masteruser", emptyIsUnset: true, default: "", sensitive: true),
        .string("cluster-announce-ip", emptyIsUnset: true, default: ""),
        .string("cluster-config-file", mutable: false, emptyIsUnset: false, default: "nodes.conf"),
        .string("cluster-announce-hostname", emptyIsUnset: true, default: "", rule: .hostname),
        .string("syslog-ident", mutable: false, emptyIsUnset: false, default: "redis"),
        .string("dbfilename", emptyIsUnset: false, default: "dump.nsnap", rule: .databaseFilename, protected: true),
        .string(
            "appendfilename",
            mutable: false,
            emptyIsUnset: false,
            default: "appendonly.aof",
            rule: .appendFilename
        ),
        .string(
            "appenddirname",
            mutable: false,
            emptyIsUnset: false,
            default: "appendonlydir",
            rule: .appendDirectoryName
        ),
        .string("server_cpulist", mutable: false, emptyIsUnset: true, default: ""),
        .string("bio_cpulist", mutable: false, emptyIsUnset: true, default: ""),
        .string("aof_rewrite_cpulist", mutable: false, emptyIsUnset: true, default: ""),
        .string("bgsave_cpulist", mutable: false, emptyIsUnset: true, default: ""),
        .string("ignore-warnings", emptyIsUnset: false, default: ""),
        .string(
            "proc-title-template",
            emptyIsUnset: false,
            default: "{title} {listen-addr} {server-mode}",
            rule: .processTitleTemplate
        ),
        .string("bind-source-addr", emptyIsUnset: true, default: ""),
        .string("logfile", mutable: false, emptyIsUnset: false, default: ""),
        .string("masterauth", emptyIsUnset: true, default: "", rule: .binary, sensitive: true),
        .string("requirepass", emptyIsUnset: true, default: "", rule: .binary, sensitive: true),

        // Enumerations.
        .enumeration(
            "supervised",
            mutable: false,
            [("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)],
            default: "no"
        ),
        .enumeration(
            "syslog-facility",
            mutable: false,
            [
                ("user", 8), ("local0", 128), ("local1", 136), ("local2", 144), ("local3", 152), ("local4", 160),
                ("local5", 168), ("local6", 176), ("local7", 184),
            ],
            default: "local0"
        ),
        .enumeration("repl-diskless-load", [("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)], default: "disabled"),
        .enumeration("loglevel", [("debug", 0), ("verbose", 1), ("notice", 2), ("warning", 3)], default: "notice"),
        .enumeration(
            "maxmemory-policy",
            [
                ("volatile-lru", 0), ("volatile-lfu", 1), ("volatile-random", 2), ("volatile-ttl", 3),
                ("allkeys-lru", 4), ("allkeys-lfu", 5), ("allkeys-random", 6), ("noeviction", 7),
                ("allkeys-s3fifo", 8),
            ],
            default: "noeviction"
        ),
        .enumeration("appendfsync", [("everysec", 1), ("always", 2), ("no", 0)], default: "everysec"),
        .enumeration("oom-score-adj", [("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)], default: "no"),
        .enumeration("acl-pubsub-default", [("allchannels", 1), ("resetchannels", 0)], default: "resetchannels"),
        .enumeration("sanitize-dump-payload", [("no", 0), ("yes", 1), ("clients", 2)], default: "no"),
        .enumeration("enable-protected-configs", mutable: false, protectedActionCases, default: "no"),
        .enumeration("enable-debug-command", mutable: false, protectedActionCases, default: "no"),
        .enumeration("enable-module-command", mutable: false, protectedActionCases, default: "no"),
        .enumeration(
            "cluster-preferred-endpoint-type",
            [("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)],
            default: "ip"
        ),
        .enumeration(
            "propagation-error-behavior",
            [("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)],
            default: "ignore"
        ),
        .enumeration("shutdown-on-sigint", shutdownCases, default: "default", flags: true, restriction: .shutdownFlags),
        .enumeration(
            "shutdown-on-sigterm",
            shutdownCases,
            default: "default",
            flags: true,
            restriction: .shutdownFlags
        ),

        // Integers.
        .integer("databases", mutable: false, 1...intMax, default: 16),
        .integer("port", mutable: false, 0...65535, default: 6379),
        .integer("io-threads", mutable: false, 1...128, default: 1),
        .integer("auto-aof-rewrite-percentage", 0...intMax, default: 100),
        .integer("cluster-replica-validity-factor", alias: "cluster-slave-validity-factor", 0...intMax, default: 10),
        .integer("list-max-listpack-size", alias: "list-max-ziplist-size", intMin...intMax, default: -2),
        .integer("tcp-keepalive", 0...intMax, default: 300),
        .integer("cluster-migration-barrier", 0...intMax, default: 1),
        .integer("active-defrag-cycle-min", 1...99, default: 1),
        .integer("active-defrag-cycle-max", 1...99, default: 25),
        .integer("active-defrag-threshold-lower", 0...1000, default: 10),
        .integer("active-defrag-threshold-upper", 0...1000, default: 100),
        .integer("lfu-log-factor", 0...intMax, default: 10),
        .integer("lfu-decay-time", 0...intMax, default: 1),
        .integer("replica-priority", alias: "slave-priority", 0...intMax, default: 100),
        .integer("repl-diskless-sync-delay", 0...intMax, default: 5),
        .integer("maxmemory-samples", 1...intMax, default: 5),
        .integer("maxmemory-eviction-tenacity", 0...100, default: 10),
        .integer("timeout", 0...intMax, default: 0),
        .integer("replica-announce-port", alias: "slave-announce-port", 0...65535, default: 0),
        .integer("tcp-backlog", mutable: false, 0...intMax, default: 511),
        .integer("cluster-port", mutable: false, 0...65535, default: 0),
        .integer("cluster-announce-bus-port", 0...65535, default: 0),
        .integer("cluster-announce-port", 0...65535, default: 0),
        .integer("cluster-announce-tls-port", 0...65535, default: 0),
        .integer("repl-timeout", 1...intMax, default: 60),
        .integer("repl-ping-replica-period", alias: "repl-ping-slave-period", 1...intMax, default: 10),
        .integer("list-compress-depth", 0...intMax, default: 0),
        .integer("active-expire-effort", 1...10, default: 1),
        .integer("hz", 0...intMax, default: 10),
        .integer("min-replicas-to-write", alias: "min-slaves-to-write", 0...intMax, default: 0),
        .integer("min-replicas-max-lag", alias: "min-slaves-max-lag", 0...intMax, default: 10),
        .integer("shutdown-timeout", 0...intMax, default: 10),
        .integer("repl-diskless-sync-max-replicas", 0...intMax, default: 0),
        .unsignedInteger("maxclients", 1...UInt64(UInt32.max), default: "10000"),
        .unsignedInteger("unixsocketperm", mutable: false, format: .octal, 0...0o777, default: "0"),
        .unsignedInteger("socket-mark-id", mutable: false, 0...UInt64(UInt32.max), default: "0"),
        .integer("active-defrag-max-scan-fields", 1...longMax, default: 1000),
        .integer("slowlog-max-len", 0...longMax, default: 128),
        .integer("acllog-max-len", 0...longMax, default: 128),
        .integer("busy-reply-threshold", alias: "lua-time-limit", 0...longMax, default: 5000),
        .integer("cluster-node-timeout", 0...Int64.max, default: 15000),
        .integer("slowlog-log-slower-than", -1...Int64.max, default: 10000),
        .integer("latency-monitor-threshold", 0...Int64.max, default: 0),
        .memory("proto-max-bulk-len", 1024 * 1024...longMax, default: "512mb"),
        .integer("stream-node-max-entries", 0...Int64.max, default: 100),
        .memory("repl-backlog-size", 1...Int64.max, default: "1mb"),
        .unsignedInteger("maxmemory", format: .memory, 0...UInt64.max, default: "0"),
        .unsignedInteger("cluster-link-sendbuf-limit", format: .memory, 0...UInt64.max, default: "0"),
        .sizeCount("hash-max-listpack-entries", alias: "hash-max-ziplist-entries", default: 512),
        .sizeCount("set-max-intset-entries", default: 512),
        .sizeCount("zset-max-listpack-entries", alias: "zset-max-ziplist-entries", default: 128),
        .memory("active-defrag-ignore-bytes", 1...Int64.max, unsigned: true, default: "100mb"),
        .memory("hash-max-listpack-value", alias: "hash-max-ziplist-value", 0...longMax, unsigned: true, default: "64"),
        .memory("stream-node-max-bytes", 0...longMax, unsigned: true, default: "4096"),
        .memory("zset-max-listpack-value", alias: "zset-max-ziplist-value", 0...longMax, unsigned: true, default: "64"),
        .memory("hll-sparse-max-bytes", 0...longMax, unsigned: true, default: "3000"),
        .sizeCount("tracking-table-max-keys", default: 1_000_000),
        .memory("client-query-buffer-limit", 1024 * 1024...longMax, unsigned: true, default: "1gb"),
        .memoryOrPercent("maxmemory-clients", -100...Int64.max, default: "0"),
        .integer("repl-backlog-ttl", 0...longMax, default: 3600),
        .memory("auto-aof-rewrite-min-size", 0...Int64.max, default: "64mb"),

        // Parameters with their own syntax.
        .special("dir", .dir, protected: true, default: "."),
        .special("save", .save, default: "3600 1 300 100 60 10000"),
        .special(
            "client-output-buffer-limit",
            .clientOutputBufferLimit,
            default: "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60"
        ),
        .special("oom-score-adj-values", .oomScoreAdjValues, default: "0 200 800"),
        .special("notify-keyspace-events", .notifyKeyspaceEvents, default: ""),
        .special("bind", .bind, mutable: false, default: "127.0.0.1"),
        .special("replicaof", alias: "slaveof", .replicaOf, mutable: false, default: ""),
        .special("latency-tracking-info-percentiles", .latencyTrackingInfoPercentiles, default: "50 99 99.9"),
    ]
}
