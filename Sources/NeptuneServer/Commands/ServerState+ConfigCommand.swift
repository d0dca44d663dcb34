import NIOCore
import NeptuneCache
import NeptuneRESP

extension ServerState {
    /// `CONFIG GET pattern [pattern ...]`: name-value pairs, a map in RESP3.
    func configGet(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let pairs = config.matching(patterns: a[2...].map { $0.bytes })
        c.reply.writeRESPMapHeader(pairs.count, c.protocolVersion)
        for (name, value) in pairs {
            c.reply.writeRESPBulkString(name)
            c.reply.writeRESPBulkString(value)
        }
    }

    /// `CONFIG SET name value [name value ...]`: all the changes or none.
    func configSet(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count % 2 == 0 else { throw CommandError.syntax }
        var pairs: [([UInt8], [UInt8])] = []
        for index in stride(from: 2, to: a.count, by: 2) {
            pairs.append((a[index].bytes, a[index + 1].bytes))
        }
        do {
            try config.set(pairs, clientIsLocal: c.connection.map(Self.isLocal) ?? true)
        } catch {
            throw CommandError(error.message)
        }
        c.reply.writeRESPSimpleString("OK")
    }

    /// Whether a client is on a loopback address or a Unix socket (`enable-protected-configs local`).
    static func isLocal(_ client: ClientConnection) -> Bool {
        switch client.remoteAddress {
        case .unixDomainSocket:
            return true
        case .v4(let address):
            return address.host.hasPrefix("127.")
        case .v6:
            let ip = client.remoteAddress?.ipAddress ?? ""
            return ip == "::1" || ip.hasPrefix("::ffff:127.")
        case nil:
            return false
        }
    }

    /// `CONFIG RESETSTAT`: zeroes INFO's counters (server and engine).
    func configResetStat(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        statistics.reset()
        engine.resetStatistics()
        c.reply.writeRESPSimpleString("OK")
    }

    /// `CONFIG REWRITE`: writes the running configuration into the configuration file.
    func configRewrite(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        do {
            try config.rewrite()
        } catch {
            throw CommandError(error.message)
        }
        c.reply.writeRESPSimpleString("OK")
    }

    /// `CONFIG HELP`.
    func configHelp(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        ServerCommandSupport.writeHelp(
            "CONFIG",
            [
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
            ],
            to: &c.reply
        )
    }

    /// Applies the configuration parameters the engine reads, now and whenever CONFIG SET changes them:
    /// `proto-max-bulk-len`, the memory limit and eviction policy (`maxmemory`, `maxmemory-policy`,
    /// `maxmemory-samples`, `lfu-log-factor`, `lfu-decay-time`), shared integers, and the compact encodings' limits
    /// (`hash-max-listpack-entries`, `hash-max-listpack-value`, `set-max-intset-entries`, `zset-max-listpack-*`).
    func applyEngineSettings() {
        let engine = self.engine
        let config = self.config
        let apply: @Sendable (String) -> Void = { _ in
            let policy = config.maxmemoryPolicy
            let lfu = policy == .allkeysLFU || policy == .volatileLFU
            let lru = policy == .allkeysLRU || policy == .volatileLRU
            let bulk = config.protoMaxBulkLen
            let maxmemory = config.maxmemory
            engine.configureEviction(
                maxmemory: Int(clamping: maxmemory),
                policy: EvictionPolicy(rawValue: policy.rawValue) ?? .noeviction,
                samples: config.maxmemorySamples,
                lfuLogFactor: config.lfuLogFactor,
                lfuDecayTime: config.lfuDecayTime
            )
            var limits = CollectionLimits()
            func limit(_ name: String) -> Int { Int(clamping: config.integer(name) ?? 0) }
            limits.hashMaxListpackEntries = limit("hash-max-listpack-entries")
            limits.hashMaxListpackValue = limit("hash-max-listpack-value")
            limits.setMaxIntsetEntries = limit("set-max-intset-entries")
            limits.zsetMaxListpackEntries = limit("zset-max-listpack-entries")
            limits.zsetMaxListpackValue = limit("zset-max-listpack-value")
            engine.updateSettings { settings in
                settings.collectionLimits = limits
                settings.protoMaxBulkLength = bulk
                settings.lfuPolicy = lfu
                // Redis does not share integer objects when an LRU or LFU policy must track each one.
                settings.sharedIntegers = !(maxmemory > 0 && (lfu || lru))
            }
        }
        apply("")
        for name in [
            "proto-max-bulk-len", "maxmemory", "maxmemory-policy", "maxmemory-samples", "lfu-log-factor",
            "lfu-decay-time", "hash-max-listpack-entries", "hash-max-listpack-value", "set-max-intset-entries",
            "zset-max-listpack-entries", "zset-max-listpack-value",
        ] {
            config.observe(name, apply)
        }
    }
}
