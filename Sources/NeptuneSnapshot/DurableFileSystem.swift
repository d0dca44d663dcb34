#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// An error from the file layer: the operation, the path and the system's error number.
public struct FileSystemError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let path: String
    public let errno: Int32

    public init(_ operation: String, _ path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// The system's text for the error number (as Redis prints it in MISCONF errors).
    public var reason: String { String(cString: strerror(errno)) }

    public var description: String { "\(operation) \(path): \(reason)" }
}

/// A file opened for appending.
public protocol DurableFile: AnyObject {
    /// Appends all of `bytes` (the layer retries short writes; a failure may leave a prefix written).
    func append(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError)
    /// Makes everything appended so far durable (fdatasync).
    func sync() throws(FileSystemError)
    /// Closes the file. Idempotent: closing again does nothing (it must never close a descriptor number that the
    /// process has meanwhile given to another file or socket).
    func close()
    /// Bytes in the file.
    var size: Int { get }
}

extension DurableFile {
    /// Appends an array's bytes.
    public func append(_ bytes: [UInt8]) throws(FileSystemError) {
        let failure: FileSystemError? = bytes.withUnsafeBytes { b in
            do throws(FileSystemError) {
                try append(b)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }
}

/// The file operations durability needs. Production uses ``PosixFileSystem``; tests swap in a fault-injecting
/// layer that can drop unsynced data, fail or tear writes, fail fsync and run out of space.
public protocol DurableFileSystem: Sendable {
    func openForAppend(_ path: String) throws(FileSystemError) -> any DurableFile
    func readFile(_ path: String) throws(FileSystemError) -> [UInt8]
    /// Writes a whole file and makes it durable (temp file, fsync, rename, fsync the directory is the caller's).
    func writeFile(_ path: String, _ bytes: [UInt8]) throws(FileSystemError)
    func listDirectory(_ path: String) throws(FileSystemError) -> [String]
    func createDirectory(_ path: String) throws(FileSystemError)
    func rename(_ from: String, _ to: String) throws(FileSystemError)
    func remove(_ path: String) throws(FileSystemError)
    func truncate(_ path: String, to length: Int) throws(FileSystemError)
    /// fsyncs a directory so that renames and new files in it survive power loss.
    func syncDirectory(_ path: String) throws(FileSystemError)
    func fileExists(_ path: String) -> Bool
    /// The size of a file in bytes, or nil if it does not exist.
    func fileSize(_ path: String) -> Int?
}

extension DurableFileSystem {
    /// Reads the file to learn its size; implementations should answer from the file's metadata.
    public func fileSize(_ path: String) -> Int? {
        (try? readFile(path))?.count
    }
}

/// The real file system, through POSIX calls.
public struct PosixFileSystem: DurableFileSystem {
    public init() {}

    final class File: DurableFile {
        /// The descriptor, or -1 once closed.
        private let descriptor: Atomic<Int32>
        let path: String
        private(set) var size: Int

        var fd: Int32 { descriptor.load(ordering: .acquiring) }

        init(fd: Int32, path: String, size: Int) {
            self.descriptor = Atomic(fd)
            self.path = path
            self.size = size
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError("write", path, errno: errno)
                }
                offset += n
                size += n
            }
        }

        func sync() throws(FileSystemError) {
            if fdatasync(fd) != 0 { throw FileSystemError("fdatasync", path, errno: errno) }
        }

        func close() {
            let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
            if fd >= 0 { _ = Glibc.close(fd) }
        }
    }

    public func openForAppend(_ path: String) throws(FileSystemError) -> any DurableFile {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileSystemError("open", path, errno: errno) }
        var info = stat()
        fstat(fd, &info)
        return File(fd: fd, path: path, size: Int(info.st_size))
    }

    public func readFile(_ path: String) throws(FileSystemError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw FileSystemError("open", path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FileSystemError("read", path, errno: errno)
            }
            if n == 0 { break }
            result.append(contentsOf: chunk[0..<n])
        }
        return result
    }

    public func writeFile(_ path: String, _ bytes: [UInt8]) throws(FileSystemError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileSystemError("open", path, errno: errno) }
        let file = File(fd: fd, path: path, size: 0)
        defer { file.close() }
        try file.append(bytes)
        if fsync(fd) != 0 { throw FileSystemError("fsync", path, errno: errno) }
    }

    public func listDirectory(_ path: String) throws(FileSystemError) -> [String] {
        guard let dir = opendir(path) else { throw FileSystemError("opendir", path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func createDirectory(_ path: String) throws(FileSystemError) {
        if mkdir(path, 0o755) != 0 && errno != EEXIST { throw FileSystemError("mkdir", path, errno: errno) }
    }

    public func rename(_ from: String, _ to: String) throws(FileSystemError) {
        if Glibc.rename(from, to) != 0 { throw FileSystemError("rename", from, errno: errno) }
    }

    public func remove(_ path: String) throws(FileSystemError) {
        if unlink(path) != 0 && errno != ENOENT { throw FileSystemError("unlink", path, errno: errno) }
    }

    public func truncate(_ path: String, to length: Int) throws(FileSystemError) {
        if Glibc.truncate(path, off_t(length)) != 0 { throw FileSystemError("truncate", path, errno: errno) }
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw FileSystemError("open", path, errno: errno) }
        defer { _ = Glibc.close(fd) }
        if fsync(fd) != 0 { throw FileSystemError("fsync", path, errno: errno) }
    }

    public func fileExists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public func fileSize(_ path: String) -> Int? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Int(info.st_size)
    }
}
