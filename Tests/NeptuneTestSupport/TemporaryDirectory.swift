import Foundation

/// A fresh directory under the system's temporary directory (symbolic links resolved), removed with everything in
/// it when the last reference goes away.
///
/// ```swift
/// let directory = try TemporaryDirectory(prefix: "neptune-config")
/// let file = try directory.write("neptune.conf", "port 7000\n")
/// ```
public final class TemporaryDirectory {
    /// The directory's absolute path.
    public let path: String

    /// Creates the directory `<temporary directory>/<prefix>-<UUID>`.
    public init(prefix: String = "neptune-test") throws {
        let base = FileManager.default.temporaryDirectory.resolvingSymlinksInPath().path
        self.path = base + "/\(prefix)-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: self.path)
    }

    /// Writes `text` to `name` inside the directory and returns the file's absolute path.
    @discardableResult
    public func write(_ name: String, _ text: String) throws -> String {
        let file = self.path + "/" + name
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    /// The text of `name` inside the directory.
    public func read(_ name: String) throws -> String {
        String(decoding: try Data(contentsOf: URL(fileURLWithPath: self.path + "/" + name)), as: UTF8.self)
    }
}
