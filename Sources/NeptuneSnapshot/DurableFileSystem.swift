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
    /// Bytes in the file (written data; a preallocated tail does not count).
    var size: Int { get }
    /// Makes the file at least `length` bytes long on disk with zeros past ``size``, and fsyncs it, so that later
    /// appends overwrite blocks that already exist and an `fdatasync` after them needs no metadata (file size,
    /// block allocation) written: on ext4 and XFS that halves its cost. Appends still start at ``size``; closing
    /// the file cuts the unused zeros off. A layer that cannot do this does nothing.
    func preallocate(upTo length: Int) throws(FileSystemError)
}

extension DurableFile {
    public func preallocate(upTo length: Int) throws(FileSystemError) {}
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
        /// Where the next append goes (the end of the data).
        private(set) var size: Int
        /// The file's length on disk: ``size`` plus a preallocated tail of zeros.
        private var allocated: Int

        var fd: Int32 { descriptor.load(ordering: .acquiring) }

        init(fd: Int32, path: String, size: Int) {
            self.descriptor = Atomic(fd)
            self.path = path
            self.size = size
            self.allocated = size
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
            var offset = 0
            while offset < bytes.count {
                let n = pwrite(fd, bytes.baseAddress! + offset, bytes.count - offset, off_t(size))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError("write", path, errno: errno)
                }
                offset += n
                size += n
            }
            allocated = max(allocated, size)
        }

        func sync() throws(FileSystemError) {
            if fdatasync(fd) != 0 { throw FileSystemError("fdatasync", path, errno: errno) }
        }

        func preallocate(upTo length: Int) throws(FileSystemError) {
            guard length > allocated else { return }
            // Real zeros, not fallocate: an extent fallocate leaves "unwritten" still needs a metadata update (and
            // a journal commit) when it is first written.
            let zeros = [UInt8](repeating: 0, count: min(length - allocated, 1 << 20))
            while allocated < length {
                let count = min(zeros.count, length - allocated)
                let n = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress!, count, off_t(allocated)) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileSystemError("write", path, errno: errno)
                }
                allocated += n
            }
            try sync()
        }

        func close() {
            let fd = descriptor.exchange(-1, ordering: .acquiringAndReleasing)
            guard fd >= 0 else { return }
            // Cut the unused preallocated zeros (recovery would skip them, but a closed file holds only data).
            if allocated > size { _ = ftruncate(fd, off_t(size)) }
            _ = Glibc.close(fd)
        }
    }

    public func openForAppend(_ path: String) throws(FileSystemError) -> any DurableFile {
        // Not O_APPEND: appends are written at the end of the data, before any preallocated zeros.
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
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
