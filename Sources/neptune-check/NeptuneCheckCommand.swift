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
        abstract: "Verify Neptune journal files and show what they hold; repair a damaged journal with --fix.",
        discussion: """
            Give a data directory (its appendonlydir is searched), a journal directory, or segment files. Every \
            record is checked as the server checks it at start: framing, CRC-32C checksum, sequence numbers \
            continuing from segment to segment.

            Exit status: 0 when the journal is intact (or was repaired), 1 when it is corrupt (the server refuses \
            to start) or cannot be read, 2 when only the last segment ends with a torn record (the server cuts it \
            off at start).

            --fix cuts the damaged segment back to its last valid record and removes the segments after it, after \
            showing what would be dropped and asking for confirmation (refused when standard input is closed, \
            unless --yes is given).
            """
    )

    @Argument(help: "Data directories, journal directories or journal segment files.")
    var paths: [String]

    @Flag(help: "Truncate the journal to its last valid record (asks first).")
    var fix = false

    @Flag(name: .shortAndLong, help: "With --fix: repair without asking.")
    var yes = false

    func run() throws {
        let fileSystem = PosixFileSystem()
        let report: JournalCheck.Report
        do {
            let segments = try JournalCheck.segmentPaths(for: paths, fileSystem: fileSystem)
            report = try JournalCheck.inspect(paths: segments, fileSystem: fileSystem)
        } catch {
            printError("neptune-check: \(error)")
            throw ExitCode(1)
        }
        print(report.description)
        guard let repair = report.repair else { return }
        let status: Int32 = report.isCorrupt ? 1 : 2
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
