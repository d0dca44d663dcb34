public import Logging
import NIOCore
public import NeptuneCache

/// Rebuilds the keyspace from the journal at start.
///
/// Segments are read in order and every record is checked (framing, CRC-32C, sequence continuity). A torn final
/// record of the last segment (a write cut short by a crash) is cut off and logged; damage anywhere else stops the
/// start with an error naming the file and offset: never an empty or partial start.
public enum JournalRecovery {
    /// The outcome of recovery.
    public struct Report: Sendable {
        /// Records replayed.
        public var records: Int
        /// The sequence number the next record must carry.
        public var nextSequence: UInt64
        /// The segment to keep appending to.
        public var activeSegment: String
        /// Bytes cut from a torn tail (0 if none).
        public var truncatedBytes: Int
    }

    /// The journal directory inside the data directory (Redis's `appenddirname`).
    public static func segmentPath(directory: String, index: Int) -> String {
        let digits = String(index)
        return "\(directory)/journal.\(String(repeating: "0", count: max(0, 8 - digits.count)))\(digits)"
    }

    /// The journal segments in `directory`, oldest first.
    public static func segments(in directory: String, fileSystem: any DurableFileSystem) throws(FileSystemError) -> [String] {
        guard fileSystem.fileExists(directory) else { return [] }
        return try fileSystem.listDirectory(directory)
            .filter { $0.hasPrefix("journal.") && $0.dropFirst(8).allSatisfy(\.isNumber) }
            .sorted()
            .map { "\(directory)/\($0)" }
    }

    /// An error that prevents start-up.
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// Replays every journal segment in `directory` into `engine` (which should be empty).
    /// - Parameter fix: Cut a torn tail off (the normal start). With false, a torn tail is reported but left.
    @discardableResult
    public static func recover(
        directory: String,
        fileSystem: any DurableFileSystem,
        engine: Engine,
        logger: Logger,
        fix: Bool = true
    ) throws(Failure) -> Report {
        let paths: [String]
        do {
            try fileSystem.createDirectory(directory)
            paths = try segments(in: directory, fileSystem: fileSystem)
        } catch {
            throw Failure(description: "cannot read the journal directory: \(error)")
        }
        engine.isLoading = true
        defer { engine.isLoading = false }
        var expected: UInt64? = nil
        var replayed = 0
        var truncated = 0
        for (index, path) in paths.enumerated() {
            let bytes: [UInt8]
            do {
                bytes = try fileSystem.readFile(path)
            } catch {
                throw Failure(description: "cannot read journal file: \(error)")
            }
            let scan: JournalFormat.Scan
            do {
                scan = try JournalFormat.scan(bytes, path: path, expectedSequence: expected)
            } catch {
                throw Failure(description: "\(error)")
            }
            if scan.tornBytes > 0 {
                guard index == paths.count - 1 else {
                    throw Failure(
                        description: "journal file \(path) is corrupt at offset \(scan.validLength): "
                            + "incomplete record in a segment that is not the last"
                    )
                }
                logger.warning(
                    "journal ends with a torn record (a write cut short by a crash): cutting it off",
                    metadata: [
                        "file": "\(path)", "offset": "\(scan.validLength)", "bytes": "\(scan.tornBytes)",
                    ]
                )
                if fix {
                    do {
                        try fileSystem.truncate(path, to: scan.validLength)
                    } catch {
                        throw Failure(description: "cannot truncate the torn journal tail: \(error)")
                    }
                }
                truncated = scan.tornBytes
            }
            for record in scan.records {
                do {
                    try engine.replay(db: record.db, arguments: record.arguments.map { ByteBuffer(bytes: $0) })
                } catch {
                    throw Failure(
                        description: "journal file \(path): record \(record.sequence) does not replay: \(error)"
                    )
                }
                replayed += 1
                if replayed % 500_000 == 0 {
                    logger.notice("loading journal", metadata: ["records": "\(replayed)"])
                }
                expected = record.sequence &+ 1
            }
        }
        // Keys that expired while the server was down are dropped now that the clock applies again.
        engine.isLoading = false
        engine.purgeExpired()
        let active = paths.last ?? segmentPath(directory: directory, index: 1)
        if replayed > 0 || truncated > 0 {
            logger.notice(
                "journal loaded",
                metadata: ["records": "\(replayed)", "truncated-bytes": "\(truncated)", "segments": "\(paths.count)"]
            )
        }
        return Report(records: replayed, nextSequence: expected ?? 1, activeSegment: active, truncatedBytes: truncated)
    }
}
