import NIOCore

/// A change to whole databases, reported to ``KeyspaceObserver``s before it is applied.
public enum DatabaseEvent: Sendable, Equatable {
    /// FLUSHDB: every key of `db` is about to be removed.
    case flush(db: Int)
    /// FLUSHALL: every key of every database is about to be removed.
    case flushAll
    /// SWAPDB: the two databases are about to swap contents.
    case swap(Int, Int)
}

/// Something that must learn about every change to the keyspace: WATCH, clients blocked on a key (BLPOP …) and
/// secondary indexes.
///
/// The engine reports, for every write command, the keys it changed, derived from what the command asked to be
/// journaled: the command's key positions when it is journaled as received, the keys of each command it journals
/// instead, and nothing when it changed nothing (``JournalDirective/nothing``). Keys the engine deletes by itself
/// (expiry, eviction) are reported too, as are whole-database events (FLUSHDB, FLUSHALL, SWAPDB) and the keys a
/// few commands write in another database (MOVE, COPY … DB).
///
/// Observers are called on the thread that made the change, **while it holds the lock of the key's shard** (and for
/// ``databasesWillChange(_:)`` every shard's lock): they must be quick, must not block, and may only read the
/// keyspace (the locks are reentrant, so reading keys of locked shards through the engine is allowed).
/// An engine with no observer pays one array-emptiness check per write command.
public protocol KeyspaceObserver: AnyObject, Sendable {
    /// `key` in `db` was written or deleted. Called after the change, under the lock of the key's shard.
    /// - Parameters:
    ///   - hash: The key's hash in the engine's ``Engine/keyHash(_:)``; its top bits pick the shard.
    func keyChanged(db: Int, key: UnsafeRawBufferPointer, hash: UInt64)

    /// A whole-database change is about to be applied. Called under every shard's lock, before the change, so the
    /// observer can still see which keys existed.
    func databasesWillChange(_ event: DatabaseEvent)
}

/// An engine's observers, each in a box, as unretained references in a buffer, for the write path: iterating the
/// observers array retains its storage and each observer, and releases them after the call: atomic operations, each
/// waiting until the write's (and the observer's) pending stores reach the cache, on reference counts every
/// event-loop thread changes. A boxed observer is called through the box borrowed (`_withUnsafeGuaranteedRef`),
/// with no reference counting. The boxes keep the observers alive; replaced with the engine's `observers`, under
/// every shard lock, so a thread holding a shard lock reads a stable buffer.
final class ObserverList: @unchecked Sendable {
    final class Box {
        let observer: any KeyspaceObserver

        init(_ observer: any KeyspaceObserver) {
            self.observer = observer
        }
    }

    private var boxes: [Box] = []
    private(set) var references = UnsafeMutableBufferPointer<Unmanaged<Box>>.allocate(capacity: 0)

    deinit {
        references.deallocate()
    }

    func replace(with observers: [any KeyspaceObserver]) {
        boxes = observers.map(Box.init)
        references.deallocate()
        references = .allocate(capacity: boxes.count)
        _ = references.initialize(from: boxes.lazy.map { Unmanaged.passUnretained($0) })
    }
}

extension Engine {
    /// Adds an observer of keyspace changes. Takes every shard's lock (briefly): call it rarely.
    public func addObserver(_ observer: any KeyspaceObserver) {
        withAllShards {
            observers.append(observer)
            for shard in shards { shard.observers = observers }
        }
    }

    /// Removes an observer added with ``addObserver(_:)``.
    public func removeObserver(_ observer: any KeyspaceObserver) {
        withAllShards {
            observers.removeAll { $0 === observer }
            for shard in shards { shard.observers = observers }
        }
    }

    /// The hash the engine uses for `key` (its top bits pick the shard).
    public func keyHash(_ key: UnsafeRawBufferPointer) -> UInt64 {
        hasher.hash(key)
    }

    /// Tells observers that `key` in `db` changed. The caller holds the key's shard lock.
    @inline(__always)
    func notifyKeyChanged(db: Int, key: UnsafeRawBufferPointer, hash: UInt64) {
        let references = observerReferences
        for i in 0..<references.count {
            references[i]._withUnsafeGuaranteedRef { $0.observer.keyChanged(db: db, key: key, hash: hash) }
        }
    }

    /// Tells observers that `key` in `db` changed, taking the key's shard lock (reentrant) if nobody holds it.
    func notifyKeyChanged(db: Int, key: ByteBuffer) {
        guard !observers.isEmpty else { return }
        withKey(key) { bytes, hash, _ in notifyKeyChanged(db: db, key: bytes, hash: hash) }
    }

    /// Tells observers about a whole-database change, under every shard's lock (reentrant).
    func notifyDatabasesWillChange(_ event: DatabaseEvent) {
        guard !observers.isEmpty else { return }
        withAllShards {
            for observer in observers { observer.databasesWillChange(event) }
        }
    }

    /// Reports the keys a write command changed, from its journal directive. The caller holds the command's
    /// shard locks.
    func notifyWrite(_ entry: CommandRegistry.Entry, _ arguments: [ByteBuffer], _ context: CommandContext) {
        switch context.journal {
        case .nothing:
            return
        case .asReceived:
            notifyKeys(of: entry, arguments, db: context.db)
        case .commands(let records):
            for record in records {
                guard let name = record.first,
                    let journaled = name.withUnsafeReadableBytes({ commands.entry($0) })
                else { continue }
                notifyKeys(of: journaled, record, db: context.db)
            }
        }
    }

    private func notifyKeys(of entry: CommandRegistry.Entry, _ arguments: [ByteBuffer], db: Int) {
        guard entry.firstKey > 0 && entry.firstKey < arguments.count else { return }
        let last = entry.lastKey < 0 ? arguments.count + entry.lastKey : min(entry.lastKey, arguments.count - 1)
        var i = entry.firstKey
        while i <= last {
            // The key's bytes are taken out of the buffer before the observers run: `arguments` (which the caller
            // keeps) holds them alive meanwhile, and the copy of the buffer (a retain of its storage) then ends
            // before the observers' stores, whose completion its release would wait for.
            let key = arguments[i].withUnsafeReadableBytes { $0 }
            notifyKeyChanged(db: db, key: key, hash: hasher.hash(key))
            i += max(1, entry.keyStep)
        }
    }
}

extension Shard {
    /// Deletes the key in `slot` on the engine's own initiative (expiry, eviction): journals a `DEL` for it, so
    /// replay never depends on the clock, removes it, then tells the observers. The caller holds this shard's lock
    /// and updates its own counters (expired or evicted keys).
    func deleteByEngine(_ db: Int, _ slot: Int) {
        if journal == nil && observers.isEmpty {
            remove(db, slot)
            return
        }
        let e = entry(tables[db], slot)
        let key = ByteBuffer(bytes: e.key)
        if let journal {
            _ = journal.append(db: db, arguments: [Self.delName, key])
        }
        remove(db, slot)
        guard !observers.isEmpty else { return }
        key.withUnsafeReadableBytes { bytes in
            let hash = hasher.hash(bytes)
            for observer in observers { observer.keyChanged(db: db, key: bytes, hash: hash) }
        }
    }
}
