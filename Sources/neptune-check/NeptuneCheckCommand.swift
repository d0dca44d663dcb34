import ArgumentParser
import NeptuneSnapshot

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `neptune-check`: verifies Neptune's journal files, prints what they hold, and repairs a damaged journal.
@main
struct NeptuneCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "neptune-check",
        abstract: "Verify Neptune snapshot and journal files and show what they hold; repair a damaged journal with --fix.",
        discussion: """
            Give a data directory (its *.nsnap snapshots and its appendonlydir are checked), a journal \
            directory, or snapshot and segment files. Every journal record is checked as the server checks it at \
            start: framing, CRC-32C checksum, sequence numbers continuing from segment to segment. A snapshot is \
            loaded completely into a scratch engine (metadata, LZ4 checksums, every record) and its metadata and \
            keys per database are shown.

            Exit status: 0 when everything is intact (or the journal was repaired), 1 when a file is corrupt (the \
            server refuses to start) or cannot be read, 2 when only the last journal segment ends with a torn \
            record (the server cuts it off at start).

            --fix cuts the damaged segment back to its last valid record and removes the segments after it, after \
            showing what would be dropped and asking for confirmation (refused when standard input is closed, \
            unless --yes is given).
            """
    )

    @Argument(help: "Data directories, journal directories, snapshot files or journal segment files.")
    var paths: [String]

    @Flag(help: "Truncate the journal to its last valid record (asks first).")
    var fix = false

    @Flag(name: .shortAndLong, help: "With --fix: repair without asking.")
    var yes = false

    func run() throws {
        let fileSystem = PosixFileSystem()
        var snapshots: [String] = []
        var journalPaths: [String] = []
        for path in paths {
            if (try? fileSystem.listDirectory(path)) != nil {
                snapshots += SnapshotCheck.snapshots(in: path, fileSystem: fileSystem)
                journalPaths.append(path)
            } else if fileSystem.fileExists(path) && SnapshotCheck.isSnapshot(path, fileSystem: fileSystem) {
                snapshots.append(path)
            } else {
                journalPaths.append(path)
            }
        }
        let report: JournalCheck.Report
        do {
            let segments = try JournalCheck.segmentPaths(
                for: journalPaths, fileSystem: fileSystem, requireSegments: snapshots.isEmpty
            )
            report = try JournalCheck.inspect(paths: segments, fileSystem: fileSystem)
        } catch {
            printError("neptune-check: \(error)")
            throw ExitCode(1)
        }
        var snapshotCorrupt = false
        for path in snapshots {
            let summary = SnapshotCheck.inspect(path: path, fileSystem: fileSystem)
            print(summary.description)
            snapshotCorrupt = snapshotCorrupt || summary.isCorrupt
        }
        if !report.segments.isEmpty { print(report.description) }
        if snapshotCorrupt {
            print("a damaged snapshot cannot be repaired: restore it from a copy, or move it away to start from the "
                + "journal alone")
        }
        guard let repair = report.repair else {
            if snapshotCorrupt { throw ExitCode(1) }
            return
        }
        let status: Int32 = report.isCorrupt || snapshotCorrupt ? 1 : 2
        guard fix else {
            print("run with --fix to cut the journal back to its last valid record")
            throw ExitCode(status)
        }
        var plan = "repair: truncate \(repair.truncate) to \(repair.length) bytes"
        if !repair.remove.isEmpty { plan += " and remove \(repair.remove.joined(separator: ", "))" }
        plan += "; drops \(repair.droppedBytes) bytes and \(repair.droppedRecords) readable records"
        plan += " (besides the damaged record itself)"
        print(plan)
        if !yes {
            print("Apply this repair? [y/N] ", terminator: "")
            fflush(nil)  // every output stream: the prompt shows before reading
            guard let answer = readLine() else {
                printError("neptune-check: no answer (standard input is closed): nothing changed; pass --yes to repair")
                throw ExitCode(status)
            }
            guard ["y", "yes"].contains(answer.lowercased().trimmingCharacters(in: " \t")) else {
                print("nothing changed")
                throw ExitCode(status)
            }
        }
        do {
            try JournalCheck.apply(repair, fileSystem: fileSystem)
        } catch {
            printError("neptune-check: repair failed: \(error)")
            throw ExitCode(1)
        }
        print("repaired: \(repair.truncate) is now \(repair.length) bytes")
        if snapshotCorrupt { throw ExitCode(1) }
    }

    private func printError(_ message: String) {
        var line = message + "\n"
        line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        let characters = Set(set)
        var result = Substring(self)
        while let first = result.first, characters.contains(first) { result.removeFirst() }
        while let last = result.last, characters.contains(last) { result.removeLast() }
        return String(result)
    }
}
