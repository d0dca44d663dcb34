#if canImport(Glibc)
import Glibc
#endif
public import NeptuneSnapshot
import Synchronization

/// An in-memory file system that models what survives power loss, and injects faults.
///
/// Files are inodes with the bytes a reader sees now and the bytes on stable storage (the state at their last
/// fsync); names map to inodes. Name changes (create, rename, unlink) reach stable storage only when their directory
/// is fsynced: until then a crash brings back the directory as it was at its last fsync. An open file keeps writing
/// to its inode even after its name is removed or replaced, as on POSIX. ``crash(keepingTornPrefix:)`` returns the
/// image a restart would find: durable names with durable contents, plus optionally a prefix of each file's unsynced
/// tail (a torn write). Faults: fail after a number of operations (then everything fails with EIO, like a dead disk),
/// fail one fsync, run out of space.
public final class FaultyFileSystem: DurableFileSystem, @unchecked Sendable {
    struct Inode {
        var current: [UInt8] = []
        var durable: [UInt8] = []
    }

    struct State {
        var inodes: [Int: Inode] = [:]
        var nextInode = 1
        /// Names as readers see them now.
        var names: [String: Int] = [:]
        /// Names as they are on stable storage.
        var durableNames: [String: Int] = [:]
        var directories: Set<String> = []
        var operations = 0
        var failAfterOperations: Int?
        var failFsyncNumber: Int?
        var fsyncs = 0
        var capacity: Int?
        var dead = false
        var syncLatency: UInt32 = 0
        /// Successful file fsyncs per thread (``syncsOnThisThread()``).
        var syncsByThread: [UInt: Int] = [:]
        var writeLatency: UInt32 = 0

        mutating func create(_ path: String) -> Int {
            let id = nextInode
            nextInode += 1
            inodes[id] = Inode()
            names[path] = id
            return id
        }
    }

    private let state: Mutex<State>

    public init(files: [String: [UInt8]] = [:]) {
        var initial = State()
        for (path, bytes) in files {
            let id = initial.create(path)
            initial.inodes[id] = Inode(current: bytes, durable: bytes)
            initial.durableNames[path] = id
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

    /// Makes every append take this long before its bytes show in the file (a slow `write`), so that a test can
    /// tell whether something waited for the write.
    public func setWriteLatency(microseconds: UInt32) {
        state.withLock { $0.writeLatency = microseconds }
    }

    /// Total bytes the disk holds; appends beyond it fail with ENOSPC.
    public func limitCapacity(to bytes: Int?) {
        state.withLock { $0.capacity = bytes }
    }

    /// Write and fsync operations so far (to place a fault at every step of a sequence).
    /// How many file fsyncs succeeded on the calling thread (for tests of who does the fsync).
    public func syncsOnThisThread() -> Int {
        state.withLock { $0.syncsByThread[UInt(pthread_self()), default: 0] }
    }

    public var operationCount: Int {
        state.withLock { $0.operations }
    }

    /// The files a restart after power loss would find.
    /// - Parameter tornPrefix: For each file, how many bytes of its unsynced tail also reached the disk.
    public func crash(keepingTornPrefix tornPrefix: (String, Int) -> Int = { _, _ in 0 }) -> [String: [UInt8]] {
        state.withLock { s in
            var image: [String: [UInt8]] = [:]
            for (path, id) in s.durableNames {
                guard let file = s.inodes[id] else { continue }
                let unsynced = file.current.count - file.durable.count
                let extra = unsynced > 0 ? min(unsynced, max(0, tornPrefix(path, unsynced))) : 0
                image[path] = file.durable + file.current[file.durable.count..<(file.durable.count + extra)]
            }
            return image
        }
    }

    public func contents(_ path: String) -> [UInt8]? {
        state.withLock { s in s.names[path].flatMap { s.inodes[$0]?.current } }
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
        let inode: Int

        init(system: FaultyFileSystem, path: String, inode: Int) {
            self.system = system
            self.path = path
            self.inode = inode
        }

        func append(_ bytes: UnsafeRawBufferPointer) throws(FileSystemError) {
            try system.append(inode, path, Array(bytes))
        }

        func sync() throws(FileSystemError) {
            try system.sync(inode, path)
        }

        func close() {}

        var size: Int { system.state.withLock { $0.inodes[inode]?.current.count ?? 0 } }
    }

    func append(_ inode: Int, _ path: String, _ bytes: [UInt8]) throws(FileSystemError) {
        let latency = state.withLock { $0.writeLatency }
        if latency > 0 { usleep(latency) }
        let result: Result<Void, FileSystemError> = state.withLock { s in
            do throws(FileSystemError) {
                try countOperation(&s, "write", path)
                if let capacity = s.capacity {
                    let used = s.inodes.values.reduce(0) { $0 + $1.current.count }
                    if used + bytes.count > capacity {
                        // A partial write up to the limit, then ENOSPC, as a real disk does.
                        let room = max(0, capacity - used)
                        s.inodes[inode, default: Inode()].current += bytes.prefix(room)
                        throw FileSystemError("write", path, errno: ENOSPC)
                    }
                }
                s.inodes[inode, default: Inode()].current += bytes
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    func sync(_ inode: Int, _ path: String) throws(FileSystemError) {
        let latency = state.withLock { $0.syncLatency }
        if latency > 0 { usleep(latency) }
        let result: Result<Void, FileSystemError> = state.withLock { s in
            do throws(FileSystemError) {
                try countOperation(&s, "fdatasync", path)
                s.fsyncs += 1
                if s.failFsyncNumber == s.fsyncs { throw FileSystemError("fdatasync", path, errno: EIO) }
                if var file = s.inodes[inode] {
                    file.durable = file.current
                    s.inodes[inode] = file
                }
                s.syncsByThread[UInt(pthread_self()), default: 0] += 1
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    public func openForAppend(_ path: String) throws(FileSystemError) -> any DurableFile {
        let inode = state.withLock { s in s.names[path] ?? s.create(path) }
        return File(system: self, path: path, inode: inode)
    }

    public func readFile(_ path: String) throws(FileSystemError) -> [UInt8] {
        guard let bytes = contents(path) else { throw FileSystemError("open", path, errno: ENOENT) }
        return bytes
    }

    public func writeFile(_ path: String, _ bytes: [UInt8]) throws(FileSystemError) {
        let file = try openForAppend(path)
        state.withLock { s in
            if let id = s.names[path] { s.inodes[id]?.current = [] }
        }
        try file.append(bytes)
        try file.sync()
    }

    public func listDirectory(_ path: String) throws(FileSystemError) -> [String] {
        let listing: [String]? = state.withLock { s in
            if s.names[path] != nil { return nil }
            return s.names.keys.filter { Self.parent($0) == path }.map { String($0.dropFirst(path.count + 1)) }.sorted()
        }
        guard let listing else { throw FileSystemError("opendir", path, errno: ENOTDIR) }
        return listing
    }

    public func createDirectory(_ path: String) throws(FileSystemError) {
        _ = state.withLock { $0.directories.insert(path) }
    }

    public func rename(_ from: String, _ to: String) throws(FileSystemError) {
        let moved: Bool = state.withLock { s in
            guard let id = s.names.removeValue(forKey: from) else { return false }
            s.names[to] = id
            return true
        }
        if !moved { throw FileSystemError("rename", from, errno: ENOENT) }
    }

    public func remove(_ path: String) throws(FileSystemError) {
        _ = state.withLock { $0.names.removeValue(forKey: path) }
    }

    public func truncate(_ path: String, to length: Int) throws(FileSystemError) {
        state.withLock { s in
            guard let id = s.names[path], var file = s.inodes[id] else { return }
            file.current = Array(file.current.prefix(length))
            file.durable = Array(file.durable.prefix(length))
            s.inodes[id] = file
        }
    }

    public func syncDirectory(_ path: String) throws(FileSystemError) {
        let result: Result<Void, FileSystemError> = state.withLock { s in
            do throws(FileSystemError) {
                try countOperation(&s, "fsync", path)
                for key in s.durableNames.keys where Self.parent(key) == path && s.names[key] == nil {
                    s.durableNames.removeValue(forKey: key)
                }
                for (key, id) in s.names where Self.parent(key) == path { s.durableNames[key] = id }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
    }

    public func fileExists(_ path: String) -> Bool {
        state.withLock { $0.names[path] != nil || $0.directories.contains(path) }
    }

    public func fileSize(_ path: String) -> Int? {
        contents(path)?.count
    }
}
