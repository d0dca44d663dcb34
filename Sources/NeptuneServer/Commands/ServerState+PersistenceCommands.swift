import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneSnapshot

extension ServerState {
    /// SAVE, BGSAVE and LASTSAVE, with Redis 7.0's flags and replies.
    func persistenceCommandSpecs() -> [CommandSpec] {
        let server = "server"
        return [
            spec(
                "save", 1, ["admin", "noscript", "no_async_loading", "no_multi"], ["admin", "slow", "dangerous"],
                group: server, since: "1.0.0", summary: "Synchronously saves the database(s) to disk.",
                complexity: "O(N) where N is the total number of keys in all databases"
            ) { [self] _, a, c in try self.save(a, &c) },
            spec(
                "bgsave", -1, ["admin", "noscript", "no_async_loading"], ["admin", "slow", "dangerous"],
                group: server, since: "1.0.0", summary: "Asynchronously saves the database(s) to disk.",
                complexity: "O(1)"
            ) { [self] _, a, c in try self.bgsave(a, &c) },
            spec(
                "lastsave", 1, ["loading", "stale", "fast"], ["admin", "fast", "dangerous"],
                group: server, since: "1.0.0",
                summary: "Returns the Unix timestamp of the last successful save to disk."
            ) { [self] _, a, c in try self.lastsave(a, &c) },
        ]
    }

    static let saveInProgress = CommandError("ERR Background save already in progress")

    /// Redis's refusal of writes after a failed snapshot (`stop-writes-on-bgsave-error yes` with save rules).
    public static let bgsaveErrorRefusal = "MISCONF Redis is configured to save RDB snapshots, but it's currently "
        + "unable to persist to disk. Commands that may modify the data set are disabled, because this instance is "
        + "configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error "
        + "option). Please check the Redis logs for details about the RDB error."

    /// `stop-writes-on-bgsave-error`: with save rules set, a failed snapshot refuses writes (and PING) until a
    /// snapshot succeeds, as Redis does. Called by the cron after it checks the save rules.
    public func applySnapshotWriteRefusal() {
        guard let snapshotter else { return }
        let refuse = config.stopWritesOnBgsaveError && !config.saveRules.isEmpty
            && !snapshotter.status.lastSaveSucceeded
        if refuse != (engine.writeRefusal != nil) {
            engine.writeRefusal = refuse ? Self.bgsaveErrorRefusal : nil
        }
    }

    /// `SAVE`: takes a snapshot and replies once it is durable. Other clients keep being served meanwhile (the
    /// snapshot is a copy-on-write capture), unlike Redis, which blocks every client.
    func save(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let snapshotter else { throw CommandError("ERR") }
        do {
            try snapshotter.save()
        } catch Snapshotter.StartError.alreadyInProgress {
            throw Self.saveInProgress
        } catch {
            throw CommandError("ERR")
        }
        c.reply.writeRESPSimpleString("OK")
    }

    /// `BGSAVE [SCHEDULE]`: starts a snapshot in the background.
    func bgsave(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        if a.count > 1 && !(a.count == 2 && a[1].isCaseInsensitive("schedule")) {
            throw CommandError.syntax
        }
        guard let snapshotter else { throw CommandError("ERR") }
        do {
            try snapshotter.saveInBackground()
        } catch {
            throw Self.saveInProgress
        }
        c.reply.writeRESPSimpleString("Background saving started")
    }

    /// `LASTSAVE`: Unix time of the last successful save.
    func lastsave(_ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let time = snapshotter?.status.lastSaveTime ?? startTime / 1000
        c.reply.writeRESPInteger(Int(time))
    }
}
