/// Verifies journal segments and plans their repair: the library behind `neptune-check`.
///
/// Segments are checked as recovery reads them (framing, CRC-32C, sequence continuity across segments), but the
/// check does not stop at the first problem: it reports what each segment holds (records, sequence range, bytes,
/// records per command) and, when a segment is damaged, what a repair would drop.
///
/// ```swift
/// let report = try JournalCheck.inspect(
///     paths: try JournalCheck.segmentPaths(for: ["/var/lib/neptune"], fileSystem: PosixFileSystem()),
///     fileSystem: PosixFileSystem()
/// )
/// print(report.description)
/// if let repair = report.repair { try JournalCheck.apply(repair, fileSystem: PosixFileSystem()) }
/// ```
public enum JournalCheck {
    /// What one segment holds.
    public struct Segment: Sendable, Equatable {
        public var path: String
        /// The file's size.
        public var bytes: Int
        /// Valid records (before any damage).
        public var records: Int
        public var firstSequence: UInt64?
        public var lastSequence: UInt64?
        /// Valid records per command name (upper case).
        public var commands: [String: Int]
        /// Bytes up to the end of the last valid record.
        public var validLength: Int
        /// Bytes of an incomplete final record (a write cut short by a crash), or 0.
        public var tornBytes: Int
        /// Zeros after the last record: space preallocated under `appendfsync always` and not used yet (a server
        /// stopped without closing the segment), which recovery cuts off silently; not damage.
        public var unusedBytes: Int = 0
        /// Damage before the end of the segment, if any.
        public var corruption: JournalFormat.Corruption?
        /// Records after the damage whose framing and checksums still verify (a best-effort count of what a
        /// repair drops besides the damaged record itself).
        public var readableRecordsAfterDamage: Int
    }

    /// A repair: cut one segment back to its last valid record and remove the segments after it (their records
    /// follow a gap in the sequence, which recovery refuses).
    public struct Repair: Sendable, Equatable {
        public var truncate: String
        public var length: Int
        public var remove: [String]
        /// Bytes dropped in all.
        public var droppedBytes: Int
        /// Records dropped that could still be read (the damaged or torn record itself is not counted).
        public var droppedRecords: Int

        public init(truncate: String, length: Int, remove: [String], droppedBytes: Int, droppedRecords: Int) {
            self.truncate = truncate
            self.length = length
            self.remove = remove
            self.droppedBytes = droppedBytes
            self.droppedRecords = droppedRecords
        }
    }

    /// The outcome of a check.
    public struct Report: Sendable, CustomStringConvertible {
        public var segments: [Segment]

        /// Damage a server refuses to start with (anything but a torn tail of the last segment).
        public var isCorrupt: Bool {
            segments.enumerated().contains { index, segment in
                segment.corruption != nil || (segment.tornBytes > 0 && index != segments.count - 1)
            }
        }

        /// The last segment ends with a torn record (the server cuts it off at start).
        public var hasTornTail: Bool { segments.last.map { $0.tornBytes > 0 } ?? false }

        public var records: Int { segments.reduce(0) { $0 + $1.records } }
        public var bytes: Int { segments.reduce(0) { $0 + $1.bytes } }

        /// Valid records per command over all segments.
        public var commands: [String: Int] {
            segments.reduce(into: [:]) { total, segment in total.merge(segment.commands, uniquingKeysWith: +) }
        }

        /// The repair that makes the journal load, or nil if it needs none.
        public var repair: Repair? {
            guard let index = segments.firstIndex(where: { $0.corruption != nil || $0.tornBytes > 0 }) else {
                return nil
            }
            let damaged = segments[index]
            let later = segments[(index + 1)...]
            return Repair(
                truncate: damaged.path,
                length: damaged.validLength,
                remove: later.map(\.path),
                droppedBytes: damaged.bytes - damaged.validLength + later.reduce(0) { $0 + $1.bytes },
                droppedRecords: damaged.readableRecordsAfterDamage + later.reduce(0) { $0 + $1.records }
            )
        }

        public var description: String {
            var lines: [String] = []
            for (index, segment) in segments.enumerated() {
                var line = "\(segment.path): \(segment.records) records"
                if let first = segment.firstSequence, let last = segment.lastSequence {
                    line += ", sequences \(first)-\(last)"
                }
                line += ", \(segment.bytes) bytes"
                if let corruption = segment.corruption {
                    line += ": CORRUPT at offset \(corruption.offset): \(corruption.reason)"
                } else if segment.tornBytes > 0 {
                    line += index == segments.count - 1
                        ? ": torn tail at offset \(segment.validLength) (\(segment.tornBytes) bytes of an incomplete "
                            + "record; the server cuts it off at start)"
                        : ": CORRUPT at offset \(segment.validLength): incomplete record in a segment that is not the last"
                } else if segment.unusedBytes > 0 {
                    line += ": ok (\(segment.unusedBytes) bytes of preallocated zeros after the last record, at offset "
                        + "\(segment.validLength); the server cuts them off at start)"
                } else {
                    line += ": ok"
                }
                lines.append(line)
                if !segment.commands.isEmpty { lines.append("  commands: " + Self.format(segment.commands)) }
            }
            var total = "total: \(segments.count) segment\(segments.count == 1 ? "" : "s"), \(records) records"
            let sequences = segments.compactMap(\.firstSequence)
            if let first = sequences.first, let last = segments.compactMap(\.lastSequence).last {
                total += ", sequences \(first)-\(last)"
            }
            total += ", \(bytes) bytes"
            lines.append(total)
            if segments.count > 1 { lines.append("  commands: " + Self.format(commands)) }
            lines.append(isCorrupt ? "status: CORRUPT (the server refuses to start)" : hasTornTail ? "status: torn tail" : "status: ok")
            return lines.joined(separator: "\n")
        }

        static func format(_ commands: [String: Int]) -> String {
            commands.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        }
    }

    /// An error that stops the check (a path that cannot be read).
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// The journal segments named by `arguments`: files as given, directories searched for `journal.*` segments
    /// (and in their `appendonlydir`), oldest first per directory.
    /// - Parameter requireSegments: Throw when a directory holds no segment (false when it may hold only a snapshot).
    public static func segmentPaths(
        for arguments: [String],
        fileSystem: any DurableFileSystem,
        requireSegments: Bool = true
    ) throws(Failure) -> [String] {
        var paths: [String] = []
        for argument in arguments {
            let trimmed = argument.count > 1 && argument.hasSuffix("/") ? String(argument.dropLast()) : argument
            guard fileSystem.fileExists(trimmed) else { throw Failure(description: "\(argument): no such file or directory") }
            guard (try? fileSystem.listDirectory(trimmed)) != nil else {
                paths.append(trimmed)  // a file
                continue
            }
            var found: [String] = []
            do {
                found = try JournalRecovery.segments(in: trimmed, fileSystem: fileSystem)
                if fileSystem.fileExists("\(trimmed)/appendonlydir") {
                    found += try JournalRecovery.segments(in: "\(trimmed)/appendonlydir", fileSystem: fileSystem)
                }
            } catch {
                throw Failure(description: "\(argument): \(error)")
            }
            if found.isEmpty && requireSegments {
                throw Failure(description: "\(argument): no journal segments (journal.NNNNNNNN) found")
            }
            paths += found
        }
        return paths
    }

    /// Checks `paths` as one journal, in the given order (sequence numbers must continue from one to the next).
    public static func inspect(paths: [String], fileSystem: any DurableFileSystem) throws(Failure) -> Report {
        var segments: [Segment] = []
        var expected: UInt64? = nil
        for path in paths {
            let bytes: [UInt8]
            do {
                bytes = try fileSystem.readFile(path)
            } catch {
                throw Failure(description: "cannot read \(path): \(error)")
            }
            var segment = Segment(
                path: path, bytes: bytes.count, records: 0, firstSequence: nil, lastSequence: nil, commands: [:],
                validLength: 0, tornBytes: 0, corruption: nil, readableRecordsAfterDamage: 0
            )
            let walk = JournalFormat.walk(bytes, path: path, expectedSequence: expected) { record in
                segment.records += 1
                if segment.firstSequence == nil { segment.firstSequence = record.sequence }
                segment.lastSequence = record.sequence
                let name = String(decoding: record.arguments.first ?? [], as: UTF8.self).uppercased()
                segment.commands[name, default: 0] += 1
            }
            segment.validLength = walk.validLength
            segment.tornBytes = walk.tornBytes
            segment.unusedBytes = walk.unusedBytes
            segment.corruption = walk.corruption
            if walk.corruption != nil {
                segment.readableRecordsAfterDamage = readableRecords(bytes, after: walk.validLength)
            }
            if walk.corruption != nil || walk.tornBytes > 0 {
                // Later segments are read on their own (a repair removes them; their records are counted).
                expected = nil
            } else if let last = segment.lastSequence {
                expected = last &+ 1
            }
            segments.append(segment)
        }
        return Report(segments: segments)
    }

    /// Counts the records after a damaged one whose framing and checksums verify, skipping the damaged record by
    /// its length field when that is plausible.
    static func readableRecords(_ bytes: [UInt8], after offset: Int) -> Int {
        bytes.withUnsafeBytes { buffer in
            guard offset + JournalFormat.recordHeaderSize <= buffer.count else { return 0 }
            let length = Int(JournalFormat.readInteger(buffer, offset, as: UInt32.self))
            var position = offset + JournalFormat.recordHeaderSize + length
            var count = 0
            while position + JournalFormat.recordHeaderSize <= buffer.count {
                let length = Int(JournalFormat.readInteger(buffer, position, as: UInt32.self))
                let crc = JournalFormat.readInteger(buffer, position + 4, as: UInt32.self)
                let end = position + JournalFormat.recordHeaderSize + length
                guard end <= buffer.count,
                    CRC32C.update(0, UnsafeRawBufferPointer(rebasing: buffer[(position + 8)..<end])) == crc
                else { break }
                count += 1
                position = end
            }
            return count
        }
    }

    /// Applies a repair: truncates the damaged segment, makes the new length durable, removes the later segments
    /// and fsyncs the directory.
    public static func apply(_ repair: Repair, fileSystem: any DurableFileSystem) throws(FileSystemError) {
        try fileSystem.truncate(repair.truncate, to: repair.length)
        let file = try fileSystem.openForAppend(repair.truncate)
        defer { file.close() }
        try file.sync()
        for path in repair.remove {
            try fileSystem.remove(path)
        }
        let directory = String(repair.truncate[..<(repair.truncate.lastIndex(of: "/") ?? repair.truncate.startIndex)])
        try fileSystem.syncDirectory(directory.isEmpty ? "." : directory)
    }
}
