#if canImport(Glibc)
import Glibc
#endif
public import NeptuneSnapshot
import Synchronization

/// An in-memory file system that models what survives power loss, and injects faults.
///
/// Each file has the bytes a reader sees now and the bytes that are on stable storage (the state at its last
/// fsync). A new file's name is durable only once its directory is fsynced. ``crash(keepingTornPrefix:)`` returns
/// the image a restart would find: durable contents, plus optionally a prefix of each file's unsynced tail (a torn
/// write). Faults: fail after a number of operations (then everything fails with EIO, like a dead disk), fail one
/// fsync, run out of space.
public final class FaultyFileSystem: DurableFileSystem, @unchecked Sendable {
    struct FileState {
        var current: [UInt8] = []
        var durable: [UInt8] = []
        var nameDurable = false
    }

    struct State {
        var files: [String: FileState] = [:]
        var directories: Set<String> = []
        var operations = 0
        var failAfterOperations: Int?
        var failFsyncNumber: Int?
        var fsyncs = 0
        var capacity: Int?
        var dead = false
        var syncLatency: UInt32 = 0
    }

    private let state: Mutex<State>

    public init(files: [String: [UInt8]] = [:]) {
        var initial = State()
        for (path, bytes) in files {
            initial.files[path] = FileState(current: bytes, durable: bytes, nameDurable: true)
            var directory = Self.parent(path)
            while !directory.isEmpty {
                initial.directories.insert(directory)
                directory = Self.parent(directory)
            }
        }
        state = Mutex(initial)
    }

    /// After `count` more write or fsync operations, the disk dies: that operation and all later ones fail (EIO).
    public func failAfter(operations count: Int) {
        state.withLock { $0.failAfterOperations = $0.operations + count }
    }

    /// The `n`th fsync from now fails with EIO (later ones succeed).
    public func failFsync(number n: Int) {
        state.withLock { $0.failFsyncNumber = $0.fsyncs + n }
    }

    /// Makes every file fsync take this long (as a real disk's does), so that concurrent writers pile up.
    public func setSyncLatency(microseconds: UInt32) {
        state.withLock { $0.syncLatency = microseconds }
    }

    /// Total bytes the disk holds; appends beyond it fail with ENOSPC.
    public func limitCapacity(to bytes: Int?) {
        state.withLock { $0.capacity = bytes }
    }

    /// The files a restart after power loss would find.
    /// - Parameter tornPrefix: For each file, how many bytes of its unsynced tail also reached the disk.
    public func crash(keepingTornPrefix tornPrefix: (String, Int) -> Int = { _, _ in 0 }) -> [String: [UInt8]] {
        state.withLock { s in
            var image: [String: [UInt8]] = [:]
            for (path, file) in s.files where file.nameDurable {
                let unsynced = file.current.count - file.durable.count
                let extra = unsynced > 0 ? min(unsynced, max(0, tornPrefix(path, unsynced))) : 0
                image[path] = file.durable + file.current[file.durable.count..<(file.durable.count + extra)]
            }
            return image
        }
    }

    public func contents(_ path: String) -> [UInt8]? {
        state.withLock { $0.files[path]?.current }
    }

    static func parent(_ path: String) -> String {
        String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
    }

    private func countOperation(_ s: inout State, _ name: String, _ path: String) throws(FileSystemError) {
        if s.dead { throw FileSystemError(name, path, errno: EIO) }
        s.operations += 1
        if let limit = s.failAfterOperations, s.operations >= limit {
            s.dead = true
            throw FileSystemError(name, path, errno: EIO)
        }
    }

    final class File: DurableFile {
        let system: FaultyFileSystem
        let path: String

        init(system: FaultyFileSystem, path: String) {
            self.system = system
            self.path = path
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
            try system.append(path, Array(bytes))
        }

        func sync() throws(FileSystemError) {
            try system.sync(path)
        }

        func close() {}

        var size: Int { system.contents(path)?.count ?? 0 }
    }

    func append(_ path: String, _ bytes: [UInt8]) throws(FileSystemError) {
        let result: Result<Void, FileSystemError> = state.withLock { s in
            do throws(FileSystemError) {
                try countOperation(&s, "write", path)
                if let capacity = s.capacity {
                    let used = s.files.values.reduce(0) { $0 + $1.current.count }
                    if used + bytes.count > capacity {
                        // A partial write up to the limit, then ENOSPC, as a real disk does.
                        let room = max(0, capacity - used)
                        s.files[path, default: FileState()].current += bytes.prefix(room)
                        throw FileSystemError("write", path, errno: ENOSPC)
                    }
                }
                s.files[path, default: FileState()].current += bytes
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    func sync(_ path: String) throws(FileSystemError) {
        let latency = state.withLock { $0.syncLatency }
        if latency > 0 { usleep(latency) }
        let result: Result<Void, FileSystemError> = state.withLock { s in
            do throws(FileSystemError) {
                try countOperation(&s, "fdatasync", path)
                s.fsyncs += 1
                if s.failFsyncNumber == s.fsyncs { throw FileSystemError("fdatasync", path, errno: EIO) }
                if var file = s.files[path] {
                    file.durable = file.current
                    s.files[path] = file
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    public func openForAppend(_ path: String) throws(FileSystemError) -> any DurableFile {
        state.withLock { s in
            if s.files[path] == nil { s.files[path] = FileState() }
        }
        return File(system: self, path: path)
    }

    public func readFile(_ path: String) throws(FileSystemError) -> [UInt8] {
        guard let bytes = contents(path) else { throw FileSystemError("open", path, errno: ENOENT) }
        return bytes
    }

    public func writeFile(_ path: String, _ bytes: [UInt8]) throws(FileSystemError) {
        let file = try openForAppend(path)
        state.withLock { $0.files[path]?.current = [] }
        try file.append(bytes)
        try file.sync()
    }

    public func listDirectory(_ path: String) throws(FileSystemError) -> [String] {
        let listing: [String]? = state.withLock { s in
            if s.files[path] != nil { return nil }
            return s.files.keys.filter { Self.parent($0) == path }.map { String($0.dropFirst(path.count + 1)) }.sorted()
        }
        guard let listing else { throw FileSystemError("opendir", path, errno: ENOTDIR) }
        return listing
    }

    public func createDirectory(_ path: String) throws(FileSystemError) {
        _ = state.withLock { $0.directories.insert(path) }
    }

    public func rename(_ from: String, _ to: String) throws(FileSystemError) {
        let moved: Bool = state.withLock { s in
            guard let file = s.files.removeValue(forKey: from) else { return false }
            var renamed = file
            renamed.nameDurable = false
            s.files[to] = renamed
            return true
        }
        if !moved { throw FileSystemError("rename", from, errno: ENOENT) }
    }

    public func remove(_ path: String) throws(FileSystemError) {
        _ = state.withLock { $0.files.removeValue(forKey: path) }
    }

    public func truncate(_ path: String, to length: Int) throws(FileSystemError) {
        state.withLock { s in
            guard var file = s.files[path] else { return }
            file.current = Array(file.current.prefix(length))
            file.durable = Array(file.durable.prefix(length))
            s.files[path] = file
        }
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        let result: Result<Void, FileSystemError> = state.withLock { s in
            do throws(FileSystemError) {
                try countOperation(&s, "fsync", path)
                for key in s.files.keys where Self.parent(key) == path { s.files[key]?.nameDurable = true }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    public func fileExists(_ path: String) -> Bool {
        state.withLock { $0.files[path] != nil || $0.directories.contains(path) }
    }
}
