import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A throwaway `redis-server` on a free loopback port, for tests that drive the load generator over TCP.
///
/// The server is only used once it reports that it listens, so a test never talks to another process that
/// happens to own the port.
final class RedisServerProcess {
    let port: Int
    private let process: Process

    /// The `redis-server` executable on `PATH`, if any.
    static let executable: URL? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent("redis-server")
            if FileManager.default.isExecutableFile(atPath: candidate.path) {
                return candidate
            }
        }
        return nil
    }()

    static var isAvailable: Bool { Self.executable != nil }

    init() throws {
        guard let executable = Self.executable else {
            throw CocoaError(.fileNoSuchFile)
        }
        for _ in 0..<20 {
            let port = Int.random(in: 20_000...60_000)
            let process = Process()
            let output = Pipe()
            process.executableURL = executable
            process.arguments = [
                "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
            ]
            process.standardOutput = output
            process.standardError = output
            try process.run()
            if Self.waitUntilReady(output.fileHandleForReading) {
                self.port = port
                self.process = process
                return
            }
            Self.stop(process)
        }
        throw CocoaError(.fileReadUnknown)
    }

    /// Reads the server's log until it says it accepts connections (true) or exits (false).
    private static func waitUntilReady(_ handle: FileHandle) -> Bool {
        var log = ""
        while true {
            let data = handle.availableData
            if data.isEmpty {
                return false
            }
            log += String(decoding: data, as: UTF8.self)
            if log.contains("Ready to accept connections") {
                return true
            }
        }
    }

    /// Runs `redis-cli` against the server and returns its trimmed output.
    func cli(_ arguments: String...) throws -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = Self.executable?.deletingLastPathComponent().appendingPathComponent("redis-cli")
        process.arguments = ["-p", "\(self.port)"] + arguments
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Ends a server. SIGKILL, because a child spawned from a test thread can inherit a signal mask that blocks
    /// SIGTERM, and the server keeps no data worth a graceful shutdown.
    private static func stop(_ process: Process) {
        if process.isRunning {
            _ = kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    deinit {
        Self.stop(self.process)
    }
}
