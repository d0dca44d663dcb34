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
        /// Records of an unfinished transaction at the end of the journal that were dropped (0 if none).
        public var droppedTransactionRecords: Int = 0
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

    /// Replays every journal segment in `directory` into `engine` (which should be empty, or hold the snapshot
    /// that covers records up to `afterSequence`).
    /// - Parameters:
    ///   - fix: Cut a torn tail off (the normal start). With false, a torn tail is reported but left.
    ///   - afterSequence: Records up to this sequence number are already in the engine (loaded from a snapshot)
    ///     and are skipped; the first record replayed must then be `afterSequence + 1`.
    ///   - purgeExpired: Drop keys that expired meanwhile once the records are replayed.
    @discardableResult
    public static func recover(
        directory: String,
        fileSystem: any DurableFileSystem,
        engine: Engine,
        logger: Logger,
        fix: Bool = true,
        afterSequence: UInt64 = 0,
        purgeExpired: Bool = true
    ) throws(Failure) -> Report {
        let paths: [String]
        do {
            try fileSystem.createDirectory(directory)
            paths = try segments(in: directory, fileSystem: fileSystem)
        } catch {
            throw Failure(description: "cannot read the journal directory: \(error)")
        }
        let wasLoading = engine.isLoading
        engine.isLoading = true
        defer { engine.isLoading = wasLoading }
        var expected: UInt64? = nil
        var replayed = 0
        var truncated = 0
        var droppedTransaction = 0
        var firstAfterSnapshot = true
        // A MULTI record seen without its EXEC yet: where it starts and the records it holds.
        var transaction: (segment: Int, offset: Int, sequence: UInt64, records: [JournalFormat.Record])? = nil
        func replay(_ record: JournalFormat.Record, in path: String) throws(Failure) {
            do {
                try engine.replay(db: record.db, arguments: record.arguments.map { ByteBuffer(bytes: $0) })
            } catch {
                throw Failure(
                    description: "journal file \(path): record \(record.sequence) does not replay: "
                        + "\(error)"
                )
            }
            replayed += 1
            if replayed % 500_000 == 0 {
                logger.notice("loading journal", metadata: ["records": "\(replayed)"])
            }
        }
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
            if scan.unusedBytes > 0 && fix {
                // Zeros preallocated past the last record (the process stopped without closing the segment).
                do {
                    try fileSystem.truncate(path, to: scan.validLength)
                } catch {
                    throw Failure(description: "cannot cut the preallocated journal tail: \(error)")
                }
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
            for (position, record) in scan.records.enumerated() {
                expected = record.sequence &+ 1
                if record.sequence <= afterSequence { continue }
                if firstAfterSnapshot && afterSequence > 0 && record.sequence != afterSequence &+ 1 {
                    throw Failure(
                        description: "journal file \(path): the first record after the snapshot is \(record.sequence), "
                            + "but the snapshot ends at \(afterSequence): records in between are missing"
                    )
                }
                firstAfterSnapshot = false
                if record.arguments.count == 1 && record.arguments[0] == JournalFormat.multiRecord {
                    guard transaction == nil else {
                        throw Failure(
                            description: "journal file \(path) is corrupt at offset \(scan.recordOffsets[position]): "
                                + "MULTI inside a transaction"
                        )
                    }
                    transaction = (index, scan.recordOffsets[position], record.sequence, [])
                    continue
                }
                if record.arguments.count == 1 && record.arguments[0] == JournalFormat.execRecord {
                    guard let open = transaction else {
                        throw Failure(
                            description: "journal file \(path) is corrupt at offset \(scan.recordOffsets[position]): "
                                + "EXEC without MULTI"
                        )
                    }
                    transaction = nil
                    for queued in open.records {
                        try replay(queued, in: path)
                    }
                    continue
                }
                if transaction != nil {
                    transaction!.records.append(record)
                } else {
                    try replay(record, in: path)
                }
            }
        }
        if let open = transaction {
            // The journal ends inside a transaction: a crash cut it short. None of it is applied, and it is cut
            // off so that new records do not follow a transaction that never ends.
            guard open.segment == paths.count - 1 else {
                throw Failure(
                    description: "journal file \(paths[open.segment]) is corrupt at offset \(open.offset): "
                        + "a transaction that does not end in its segment"
                )
            }
            let path = paths[open.segment]
            logger.warning(
                "journal ends inside a transaction (a write cut short by a crash): dropping the whole transaction",
                metadata: ["file": "\(path)", "offset": "\(open.offset)", "records": "\(open.records.count)"]
            )
            if fix {
                do {
                    try fileSystem.truncate(path, to: open.offset)
                } catch {
                    throw Failure(description: "cannot truncate the unfinished transaction: \(error)")
                }
            }
            droppedTransaction = open.records.count
            expected = open.sequence
        }
        // Keys that expired while the server was down are dropped now that the clock applies again.
        if purgeExpired { engine.purgeExpired() }
        let active = paths.last ?? segmentPath(directory: directory, index: 1)
        if replayed > 0 || truncated > 0 {
            logger.notice(
                "journal loaded",
                metadata: ["records": "\(replayed)", "truncated-bytes": "\(truncated)", "segments": "\(paths.count)"]
            )
        }
        return Report(
            records: replayed,
            nextSequence: max(expected ?? 1, afterSequence &+ 1),
            activeSegment: active,
            truncatedBytes: truncated,
            droppedTransactionRecords: droppedTransaction
        )
    }
}
