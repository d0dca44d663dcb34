import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot
import Synchronization

extension ServerState {
    /// The sections of INFO, in the order Redis writes them.
    public enum InfoSection: String, CaseIterable, Sendable {
        case server
        case clients
        case memory
        case persistence
        case stats
        case replication
        case cpu
        case modules
        case errorstats
        case cluster
        case keyspace

        /// The section's title line, without `# `.
        public var title: String {
            switch self {
            case .cpu: "CPU"
            default: rawValue.prefix(1).uppercased() + rawValue.dropFirst()
            }
        }
    }

    /// The bytes INFO counts as used besides the keyspace (the server's own structures), as Redis's
    /// `used_memory_startup`.
    public static let memoryBaseline = 1_048_576

    /// The sections `INFO arguments...` selects, in Redis's order: none means `default`; `default`, `all` and
    /// `everything` stand for every section Neptune has; names are compared without case; unknown names select
    /// nothing.
    ///
    /// - Parameter arguments: INFO's arguments.
    /// - Returns: The selected sections, in output order.
    public static func infoSections(_ arguments: [String]) -> [InfoSection] {
        if arguments.isEmpty { return InfoSection.allCases }
        var selected: Set<InfoSection> = []
        for argument in arguments {
            let name = argument.lowercased()
            if name == "default" || name == "all" || name == "everything" {
                return InfoSection.allCases
            }
            if let section = InfoSection(rawValue: name) {
                selected.insert(section)
            }
        }
        return InfoSection.allCases.filter { selected.contains($0) }
    }

    /// The text of `INFO arguments...`: each selected section is a `# Title` line and `field:value` lines, every
    /// line ending in CRLF, sections separated by an empty line.
    ///
    /// - Parameter arguments: INFO's arguments (section names or `default`, `all`, `everything`).
    /// - Returns: The text Redis would send as INFO's bulk string.
    public func infoText(_ arguments: [String] = []) -> String {
        let now = engine.clock.milliseconds()
        var sections: [String] = []
        for section in Self.infoSections(arguments) {
            var text = "# \(section.title)\r\n"
            for (field, value) in infoFields(section, now: now) {
                text += field
                text += ":"
                text += value
                text += "\r\n"
            }
            sections.append(text)
        }
        return sections.joined(separator: "\r\n")
    }

    /// `INFO [section ...]`.
    func info(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let text = infoText(a.dropFirst().map { $0.stringValue })
        c.reply.writeRESPVerbatimString(text, c.protocolVersion)
    }

    // MARK: Sections

    func infoFields(_ section: InfoSection, now: Int64) -> [(String, String)] {
        switch section {
        case .server: serverFields(now: now)
        case .clients: clientFields()
        case .memory: memoryFields()
        case .persistence: persistenceFields()
        case .stats: statsFields(now: now)
        case .replication: replicationFields()
        case .cpu: cpuFields()
        case .modules: []
        case .errorstats: statistics.errorCounts.map { ("errorstat_\($0.prefix)", "count=\($0.count)") }
        case .cluster: [("cluster_enabled", "0")]
        case .keyspace: keyspaceFields()
        }
    }

    private func serverFields(now: Int64) -> [(String, String)] {
        let uptime = max(0, (now - startTime) / 1000)
        let hz = config.hz
        return [
            ("redis_version", Self.redisCompatibleVersion),
            ("redis_git_sha1", "00000000"),
            ("redis_git_dirty", "0"),
            ("redis_mode", "standalone"),
            ("neptune_version", Self.neptuneVersion),
            ("os", ProcessMetrics.operatingSystem),
            ("arch_bits", "\(Int.bitWidth)"),
            ("monotonic_clock", "POSIX clock_gettime"),
            ("multiplexing_api", "epoll"),
            ("process_id", "\(ProcessMetrics.processID)"),
            ("process_supervised", "no"),
            ("run_id", runID),
            ("tcp_port", "\(boundPort.load(ordering: .relaxed))"),
            ("server_time_usec", "\(engine.clock.microseconds())"),
            ("uptime_in_seconds", "\(uptime)"),
            ("uptime_in_days", "\(uptime / 86400)"),
            ("hz", "\(hz)"),
            ("configured_hz", "\(hz)"),
            ("lru_clock", "\((now / 1000) & 0xFF_FFFF)"),
            ("executable", ProcessMetrics.executable),
            ("config_file", config.configFile ?? ""),
            ("io_threads_active", "0"),
        ]
    }

    private func clientFields() -> [(String, String)] {
        [
            ("connected_clients", "\(clients.count)"),
            ("cluster_connections", "0"),
            ("maxclients", "\(config.maxclients)"),
            ("client_recent_max_input_buffer", "0"),
            ("client_recent_max_output_buffer", "0"),
            ("blocked_clients", "\(engine.blockedClientCount)"),
            ("tracking_clients", "0"),
            ("clients_in_timeout_table", "\(engine.blockedClientsWithTimeout)"),
        ]
    }

    /// Bytes a connection holds besides its query and reply buffers (channel, pipeline, handler state): an
    /// estimate counted in `used_memory` per client, as Redis counts its client structures.
    public static let perClientBytes = 8 * 1024

    /// `used_memory`: the engine's count (keyspace plus host bytes: ``memoryBaseline`` and client buffers), as
    /// `maxmemory` compares it; also raises the recorded peak.
    func usedMemory() -> Int {
        let used = engine.usedMemory()
        var peak = statistics.peakMemory.load(ordering: .relaxed)
        while used > peak {
            let (exchanged, original) = statistics.peakMemory.compareExchange(
                expected: peak,
                desired: used,
                ordering: .relaxed
            )
            if exchanged { break }
            peak = original
        }
        return used
    }

    private func memoryFields() -> [(String, String)] {
        let used = usedMemory()
        let peak = max(used, statistics.peakMemory.load(ordering: .relaxed))
        let rss = ProcessMetrics.residentSetSize()
        let overhead = engine.hostMemoryBytes
        let dataset = used - overhead
        let maxmemory = Int(clamping: config.maxmemory)
        let fixed = ServerCommandSupport.fixed
        let human = ServerCommandSupport.humanBytes
        return [
            ("used_memory", "\(used)"),
            ("used_memory_human", human(used)),
            ("used_memory_rss", "\(rss)"),
            ("used_memory_rss_human", human(rss)),
            ("used_memory_peak", "\(peak)"),
            ("used_memory_peak_human", human(peak)),
            ("used_memory_peak_perc", fixed(Double(used) * 100 / Double(max(peak, 1)), 2) + "%"),
            ("used_memory_overhead", "\(overhead)"),
            ("used_memory_startup", "\(Self.memoryBaseline)"),
            ("used_memory_dataset", "\(dataset)"),
            ("used_memory_dataset_perc", fixed(Double(dataset) * 100 / Double(max(used, 1)), 2) + "%"),
            ("total_system_memory", "\(ProcessMetrics.totalSystemMemory)"),
            ("total_system_memory_human", human(ProcessMetrics.totalSystemMemory)),
            ("maxmemory", "\(maxmemory)"),
            ("maxmemory_human", human(maxmemory)),
            ("maxmemory_policy", config.maxmemoryPolicy.rawValue),
            ("mem_fragmentation_ratio", fixed(Double(rss) / Double(max(used, 1)), 2)),
            ("mem_fragmentation_bytes", "\(rss - used)"),
            ("mem_allocator", "libc"),
            ("lazyfree_pending_objects", "0"),
        ]
    }

    private func persistenceFields() -> [(String, String)] {
        let snapshot = snapshotter?.status ?? Snapshotter.Status()
        let now = engine.clock.milliseconds()
        let loading = engine.isLoading
        var fields: [(String, String)] = [
            ("loading", loading ? "1" : "0"),
            ("async_loading", "0"),
            ("current_cow_peak", "0"),
            ("current_cow_size", "0"),
            ("current_cow_size_age", "0"),
            ("current_fork_perc", "0.00"),
            ("current_save_keys_processed", "\(snapshot.currentKeysProcessed)"),
            ("current_save_keys_total", "\(snapshot.currentKeysTotal)"),
            ("rdb_changes_since_last_save", "\(snapshotter?.changesSinceLastSave ?? 0)"),
            ("rdb_bgsave_in_progress", snapshot.inProgress ? "1" : "0"),
            ("rdb_last_save_time", "\(snapshotter == nil ? startTime / 1000 : snapshot.lastSaveTime)"),
            ("rdb_last_bgsave_status", snapshot.lastSaveSucceeded ? "ok" : "err"),
            ("rdb_last_bgsave_time_sec", "\(snapshot.lastBackgroundDuration)"),
            ("rdb_current_bgsave_time_sec", snapshot.inProgress ? "\((now - snapshot.currentStart) / 1000)" : "-1"),
            ("rdb_saves", "\(snapshot.saves)"),
            ("rdb_last_cow_size", "0"),
            ("rdb_last_load_keys_expired", "\(snapshot.lastLoadKeysExpired)"),
            ("rdb_last_load_keys_loaded", "\(snapshot.lastLoadKeysLoaded)"),
            ("aof_enabled", journal != nil || (loading && config.appendonly) ? "1" : "0"),
            ("aof_rewrite_in_progress", "0"),
            ("aof_rewrite_scheduled", "0"),
            ("aof_last_rewrite_time_sec", "-1"),
            ("aof_current_rewrite_time_sec", "-1"),
            ("aof_last_bgrewrite_status", "ok"),
            ("aof_rewrites", "0"),
            ("aof_rewrites_consecutive_failures", "0"),
            ("aof_last_write_status", journal.map { $0.acceptsWrites ? "ok" : "err" } ?? "ok"),
            ("aof_last_cow_size", "0"),
            ("module_fork_in_progress", "0"),
            ("module_fork_last_cow_size", "0"),
        ]
        if let journal {
            fields += [
                ("aof_current_size", "\(journal.bytesWritten)"),
                ("aof_base_size", "0"),
                ("aof_pending_rewrite", "0"),
                ("aof_buffer_length", "0"),
                ("aof_pending_bio_fsync", "0"),
                ("aof_delayed_fsync", "0"),
            ]
        }
        if loading {
            let progress = loadingProgress
            let total = max(progress.totalBytes, 1)
            let loaded = min(progress.loadedBytes, total)
            let elapsed = max(0, now / 1000 - progress.startTime)
            let eta = loaded > 0 ? Int64(Double(elapsed) * Double(total - loaded) / Double(loaded)) : 1
            fields += [
                ("loading_start_time", "\(progress.startTime)"),
                ("loading_total_bytes", "\(progress.totalBytes)"),
                ("loading_rdb_used_mem", "0"),
                ("loading_loaded_bytes", "\(progress.loadedBytes)"),
                ("loading_loaded_perc", ServerCommandSupport.fixed(Double(loaded) * 100 / Double(total), digits: 2)),
                ("loading_eta_seconds", "\(eta)"),
            ]
        }
        return fields
    }

    private func statsFields(now: Int64) -> [(String, String)] {
        let stats = statistics
        let commands = stats.commandsProcessed
        let input = stats.inputBytes
        let output = stats.outputBytes
        stats.commandRate.record(commands, now: now)
        stats.inputRate.record(input, now: now)
        stats.outputRate.record(output, now: now)
        let engineStats = engine.statistics()
        let kbps = { (rate: Int) in ServerCommandSupport.fixed(Double(rate) / 1024, digits: 2) }
        return [
            ("total_connections_received", "\(stats.connectionsReceived.load(ordering: .relaxed))"),
            ("total_commands_processed", "\(commands)"),
            ("instantaneous_ops_per_sec", "\(stats.commandRate.perSecond)"),
            ("total_net_input_bytes", "\(input)"),
            ("total_net_output_bytes", "\(output)"),
            ("total_net_repl_input_bytes", "0"),
            ("total_net_repl_output_bytes", "0"),
            ("instantaneous_input_kbps", kbps(stats.inputRate.perSecond)),
            ("instantaneous_output_kbps", kbps(stats.outputRate.perSecond)),
            ("instantaneous_input_repl_kbps", "0.00"),
            ("instantaneous_output_repl_kbps", "0.00"),
            ("rejected_connections", "\(stats.rejectedConnections.load(ordering: .relaxed))"),
            ("sync_full", "0"),
            ("sync_partial_ok", "0"),
            ("sync_partial_err", "0"),
            ("expired_keys", "\(engineStats.expiredKeys)"),
            ("expired_stale_perc", "0.00"),
            ("expired_time_cap_reached_count", "0"),
            ("evicted_keys", "\(engineStats.evictedKeys)"),
            ("evicted_clients", "0"),
            ("keyspace_hits", "\(engineStats.keyspaceHits)"),
            ("keyspace_misses", "\(engineStats.keyspaceMisses)"),
            ("pubsub_channels", "\(pubsub.channelCount)"),
            ("pubsub_patterns", "\(pubsub.patternCount)"),
            ("latest_fork_usec", "0"),
            ("total_forks", "0"),
            ("migrate_cached_sockets", "0"),
            ("total_error_replies", "\(stats.errorReplies.load(ordering: .relaxed))"),
        ]
    }

    private func replicationFields() -> [(String, String)] {
        [
            ("role", "master"),
            ("connected_slaves", "0"),
            ("master_failover_state", "no-failover"),
            ("master_replid", replicationID),
            ("master_replid2", String(repeating: "0", count: 40)),
            ("master_repl_offset", "0"),
            ("second_repl_offset", "-1"),
            ("repl_backlog_active", "0"),
            ("repl_backlog_size", config.get("repl-backlog-size") ?? "1048576"),
            ("repl_backlog_first_byte_offset", "0"),
            ("repl_backlog_histlen", "0"),
        ]
    }

    private func cpuFields() -> [(String, String)] {
        let own = ProcessMetrics.cpuTimes(children: false)
        let children = ProcessMetrics.cpuTimes(children: true)
        return [
            ("used_cpu_sys", ProcessMetrics.format(own.system)),
            ("used_cpu_user", ProcessMetrics.format(own.user)),
            ("used_cpu_sys_children", ProcessMetrics.format(children.system)),
            ("used_cpu_user_children", ProcessMetrics.format(children.user)),
        ]
    }

    private func keyspaceFields() -> [(String, String)] {
        engine.keyspaceSummary().map { ("db\($0.db)", "keys=\($0.keys),expires=\($0.expires),avg_ttl=0") }
    }
}
