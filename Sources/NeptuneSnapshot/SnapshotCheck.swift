import NeptuneCache

/// Verifies snapshot files for `neptune-check`: the metadata frame, every LZ4 block and content checksum, and every
/// record (by loading the snapshot into a scratch engine, as the server does at start).
public enum SnapshotCheck {
    /// What a snapshot file holds, or where it is damaged.
    public struct Summary: Sendable, CustomStringConvertible {
        public var path: String
        public var bytes: Int
        /// The metadata, when its frame could be read.
        public var metadata: SnapshotMetadata?
        /// Keys per database (non-empty databases), when the file loaded.
        public var keysPerDatabase: [(db: Int, keys: Int, expires: Int)]
        /// The damage, if any.
        public var error: SnapshotError?

        public var isCorrupt: Bool { error != nil }

        public var description: String {
            var lines = ["\(path): snapshot, \(bytes) bytes"]
            if let metadata {
                lines.append(
                    "  format \(metadata.formatVersion), covers journal sequence \(metadata.sequence), "
                        + "\(metadata.keyCount) keys, \(metadata.databases) databases, created at "
                        + "\(metadata.createdAt) ms (Unix), by \(metadata.producer)"
                )
            }
            if !keysPerDatabase.isEmpty {
                lines.append(
                    "  keys: " + keysPerDatabase.map { "db\($0.db)=\($0.keys) (\($0.expires) with a TTL)" }
                        .joined(separator: ", ")
                )
            }
            lines.append(error.map { "  CORRUPT at offset \($0.offset): \($0.reason)" } ?? "  ok")
            return lines.joined(separator: "\n")
        }
    }

    /// Whether `path` names a snapshot (its name ends in `.nsnap`, or it starts with the snapshot's frame).
    public static func isSnapshot(_ path: String, fileSystem: any DurableFileSystem) -> Bool {
        if path.hasSuffix(".nsnap") { return true }
        guard let bytes = try? fileSystem.readFile(path), bytes.count >= 4 else { return false }
        return SnapshotMetadata.read(UInt32.self, bytes, 0) == LZ4Frame.skippableMagic
    }

    /// The snapshot files (`*.nsnap`) directly inside `directory`.
    public static func snapshots(in directory: String, fileSystem: any DurableFileSystem) -> [String] {
        ((try? fileSystem.listDirectory(directory)) ?? []).filter { $0.hasSuffix(".nsnap") }.map { "\(directory)/\($0)" }
    }

    /// Checks one snapshot file completely.
    public static func inspect(path: String, fileSystem: any DurableFileSystem) -> Summary {
        let bytes: [UInt8]
        do {
            bytes = try fileSystem.readFile(path)
        } catch {
            return Summary(
                path: path, bytes: 0, metadata: nil, keysPerDatabase: [],
                error: SnapshotError(path: path, offset: 0, reason: "cannot read the file: \(error.reason)")
            )
        }
        var summary = Summary(path: path, bytes: bytes.count, metadata: nil, keysPerDatabase: [], error: nil)
        do {
            summary.metadata = try SnapshotReader.readMetadata(bytes, path: path).0
            let databases = max(16, Int(summary.metadata?.databases ?? 16))
            let engine = Engine(databases: databases)
            engine.isLoading = true  // keep keys whose TTL passed: the check reports what the file holds
            try SnapshotReader.load(bytes, path: path, engine: engine)
            summary.keysPerDatabase = engine.keyspaceSummary()
        } catch {
            summary.error = error
        }
        return summary
    }
}
