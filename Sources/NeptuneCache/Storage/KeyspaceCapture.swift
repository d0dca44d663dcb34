#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import NIOCore
import Synchronization

/// The keyspace's serialized form: the records a snapshot file carries inside its LZ4 frame.
///
/// ```
/// record   := key-record | end-record
/// key      := 0x01 | varint db | u8 type | u8 flags | [i64 expiry, Unix ms, if flags bit 0]
///             | varint key length | key bytes | varint value length | value bytes
/// end      := 0xFF | u64 number of key records before it
/// ```
/// Integers are little-endian, varints are LEB128. `type` is ``ValueType``'s raw value; `flags` bit 0 = has expiry,
/// bit 1 = raw string encoding, bit 2 = not int-encodable, bit 3 = unshared copy (the string encoding flags OBJECT
/// ENCODING reports). A string's value is its bytes; a collection's value is its ``CollectionObject`` payload
/// (``CollectionObject/serialize(into:)``). Readers refuse unknown opcodes, types and flag bits.
public enum SnapshotRecord {
    /// A key with its value.
    public static let keyOpcode: UInt8 = 0x01
    /// The end marker, with the number of key records.
    public static let endOpcode: UInt8 = 0xFF
    static let expiryFlag: UInt8 = 0x01
    static let rawFlag: UInt8 = 0x02
    static let notIntegerFlag: UInt8 = 0x04
    static let unsharedFlag: UInt8 = 0x08
    static let knownFlags: UInt8 = 0x0F

    /// The end marker for `count` key records.
    public static func endMarker(count: UInt64) -> [UInt8] {
        var bytes: [UInt8] = [endOpcode]
        withUnsafeBytes(of: count.littleEndian) { bytes.append(contentsOf: $0) }
        return bytes
    }

    /// Appends one key record; `object` is the collection to serialize for a non-string entry (by default the one
    /// the entry refers to).
    static func appendKey(
        db: Int,
        entry: Entry,
        object: CollectionObject? = nil,
        to out: inout [UInt8],
        scratch: inout ByteBuffer
    ) {
        out.append(keyOpcode)
        appendVarint(db, to: &out)
        out.append(entry.type.rawValue)
        var flags: UInt8 = 0
        if entry.hasExpiry { flags |= expiryFlag }
        let entryFlags = entry.flags
        if entryFlags & Entry.rawFlag != 0 { flags |= rawFlag }
        if entryFlags & Entry.notIntegerFlag != 0 { flags |= notIntegerFlag }
        if entryFlags & Entry.unsharedFlag != 0 { flags |= unsharedFlag }
        out.append(flags)
        if entry.hasExpiry {
            withUnsafeBytes(of: entry.expiry.littleEndian) { out.append(contentsOf: $0) }
        }
        let key = entry.key
        appendVarint(key.count, to: &out)
        out.append(contentsOf: key)
        if entry.type == .string {
            let value = UnsafeRawBufferPointer(entry.value)
            appendVarint(value.count, to: &out)
            out.append(contentsOf: value)
        } else {
            scratch.clear()
            (object ?? entry.object).serialize(into: &scratch)
            appendVarint(scratch.readableBytes, to: &out)
            scratch.withUnsafeReadableBytes { out.append(contentsOf: $0) }
        }
    }

    @inline(__always)
    static func appendVarint(_ value: Int, to out: inout [UInt8]) {
        var v = UInt64(value)
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(truncatingIfNeeded: v))
    }

    /// Why a record cannot be loaded: the offset of the record in the buffer given to the loader, and the reason.
    public struct DecodeError: Error, Equatable, Sendable, CustomStringConvertible {
        public let offset: Int
        public let reason: String

        public var description: String { "\(reason) (record at data offset \(offset))" }
    }
}

/// A point-in-time copy of the keyspace in the making, started by ``Engine/beginCapture(_:)``.
///
/// The capture is taken without stopping the world, and no lock is held for more than a bounded slice of work:
///
/// - **Capture point.** ``Engine/beginCapture(_:)`` takes every shard lock only to read the journal sequence
///   number, count the keys and flip each shard's capture mark (microseconds). From then on an entry whose
///   ``Entry/capturedFlag`` bit differs from its shard's mark is "not yet taken"; entries created afterwards get
///   the new mark, so they are never taken.
/// - **Slices.** Each shard's key tables are walked in slices (``slotsPerSlice`` slots per lock hold, some tens of
///   microseconds), copying every entry not yet taken into a buffer (the cell's bytes, plus a reference to a
///   collection's object) and marking it taken, releasing the lock between slices. The snapshot's thread walks
///   them itself, or (``take(_:assisted:betweenSlices:)``) lets the engine's helpers walk them: event loops that
///   copy in short steps between their iterations (``Engine/captureStep(idle:budgetNanoseconds:)``, see
///   ``CaptureHelpers``), so that no command waits for a copying thread preempted inside a slice.
/// - **Copy-on-write per key.** A command about to change a key (the dispatcher names the command's keys;
///   ``Shard/prepareToChange(key:hash:)``), or the engine about to expire or evict one, first takes that key's entry
///   if it is not taken yet: its bytes (and a copy of its collection) go to the shard's side buffer, the key is
///   marked taken, and the command goes on. A deleted key is thus kept as it was; a key inserted after the capture
///   point has the new mark and is skipped.
/// - **Table moves.** Entries move between slots only when a table is rebuilt (resize, flush); the copier then
///   restarts its walk of that table from slot 0 (``KeyTable/generation``), skipping the entries already taken by
///   their mark, so no entry is lost or taken twice.
/// - **Collections.** The copier does not serialize a collection under the lock: it keeps a reference to the
///   object and pins it (``CollectionObject/snapshotPin``); a command about to change a pinned object swaps a copy
///   into its entry first, so the snapshot's object never changes while the writing thread serializes it.
/// - **Keyless writes** (FLUSHDB, SWAPDB, commands with movable keys, or a write that serves a blocked BLMOVE)
///   cannot name their keys beforehand: they make the copier's remaining work for the shards they lock at once
///   (``Shard/prepareForChange()``), under those locks.
///
/// Each key existing at the capture point is therefore taken exactly once, as it was at ``sequence``.
///
/// The snapshot thread drives a capture shard by shard:
/// ```swift
/// if let shard = capture.take(index) {       // copies in slices, each under the lock
///     capture.serialize(shard, into: &bytes) { bytes in try write(bytes) }  // anywhere, any priority
///     capture.recycle(shard)                 // ends the shard's capture; its buffer is reused
/// }
/// ```
public final class KeyspaceCapture: @unchecked Sendable {
    /// A shard as copied: its records (entry bytes, and the collections they hold) still to serialize. Owned by
    /// one thread at a time; give it back with ``KeyspaceCapture/recycle(_:)`` once serialized.
    public struct CapturedShard: @unchecked Sendable {
        let index: Int
        let copied: CaptureRecords
        let preserved: CaptureRecords?
    }

    /// Spare copy buffers kept for reuse; more are freed.
    static let spareLimit = 3
    /// Bytes a copy buffer has free before each slice (so a slice rarely allocates under the lock).
    static let sliceReserve = 1 << 16

    /// The journal sequence number the capture corresponds to (every record ≤ it is included, none after).
    public let sequence: UInt64
    /// Keys in the keyspace at the capture point (expired keys not yet reclaimed included).
    public let keyCount: Int
    /// Unix milliseconds when the capture began.
    public let createdAt: Int64
    /// Databases of the engine.
    public let databases: Int
    /// The engine's change counter at the capture point (for `rdb_changes_since_last_save`).
    public let changesAtCapture: Int
    /// Keys per database at the capture point.
    public let keysPerDatabase: [Int]
    /// Key-table slots the copying thread visits per lock hold (a copied entry counts one more per 64 bytes).
    /// Change it before the first ``take(_:)``.
    public var slotsPerSlice = 512
    /// The longest the helpers go without a step while their loops keep finding requests (nanoseconds): one step of
    /// 15 us per 0.25 ms at worst, so a saturated loop still copies a million keys within a few seconds (see
    /// ``Engine/captureStep(idle:budgetNanoseconds:)``). Change it before ``enableHelpers()``.
    public var helperFloorNanoseconds = 250_000

    /// The save's other work for the helpers (``Snapshotter``: serializing and compressing the copied shards), run
    /// in a helper's step when nothing is left to copy for now, paced like the copying: given the nanoseconds the
    /// step may still take, it returns whether it found work. Set it before ``enableHelpers()``.
    public var helperWork: (@Sendable (_ budgetNanoseconds: Int) -> Bool)?

    /// This capture's pin id for collection objects.
    let id: UInt32
    /// The shards' capture mark from the capture point on.
    let mark: UInt8
    private let engine: Engine
    private let spares = Mutex<[CaptureRecords]>([])
    private let cancelled = Atomic<Bool>(false)
    /// Shards whose capture has not ended (see ``recycle(_:)``).
    private let openShards = Atomic<Int>(Engine.shardCount)
    private let longestSlice = Atomic<Int>(0)
    private let longestFinish = Atomic<Int>(0)
    private let longestPreserve = Atomic<Int>(0)
    private let capturedKeys = Atomic<Int>(0)
    private let copiedBytes = Atomic<Int>(0)
    private let preservedKeys = Atomic<Int>(0)
    private let finishedByCommands = Atomic<Int>(0)
    private let sliceCount = Atomic<Int>(0)
    private let slicesNanoseconds = Atomic<Int>(0)
    private let restartCount = Atomic<Int>(0)
    /// An assisted capture: shards `0..<releasedShards` have their copy buffer and may be copied by helpers.
    private let releasedShards = Atomic<Int>(0)
    /// The lowest shard helpers may still find work in (a hint; it only grows).
    private let helperCursor = Atomic<Int>(0)
    private let helperSliceCount = Atomic<Int>(0)
    /// When the helpers were enabled, and how long they copied since (nanoseconds).
    private let helpersSince = Atomic<Int>(0)
    private let helperBusy = Atomic<Int>(0)
    private let fallbackSliceCount = Atomic<Int>(0)
    /// When a helper last began a step (nanoseconds).
    private let lastHelperStep = Atomic<Int>(0)
    private let helperWorkCount = Atomic<Int>(0)
    private let threadWorkCount = Atomic<Int>(0)
    /// Shards whose walk is complete (bit per shard), so the saving thread of an assisted capture can wait for one
    /// without taking its lock.
    private let walkedShards = Atomic<UInt64>(0)

    init(
        engine: Engine,
        id: UInt32,
        mark: UInt8,
        sequence: UInt64,
        keyCount: Int,
        changes: Int,
        createdAt: Int64,
        keysPerDatabase: [Int]
    ) {
        self.engine = engine
        self.id = id
        self.mark = mark
        self.keysPerDatabase = keysPerDatabase
        self.sequence = sequence
        self.keyCount = keyCount
        self.changesAtCapture = changes
        self.createdAt = createdAt
        self.databases = engine.databases
    }

    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Shard `index` as it was at the capture point, copied now in slices (the lock is held for one slice at a
    /// time) together with the entries commands took before changing them. Each shard is handed out once; nil if
    /// it was handed out already or the capture was cancelled.
    ///
    /// With `assisted` (after ``enableHelpers()`` returned true) the calling thread does not copy: the helpers
    /// (event loops, ``Engine/captureStep(idle:budgetNanoseconds:)``) copy the shard between their own work while this
    /// thread waits for them; it copies slices itself only while no helper has made progress for
    /// ``helperStallNanoseconds``. Shards must then be taken in index order.
    /// - Parameters:
    ///   - index: The shard.
    ///   - assisted: Let the helpers copy (see above).
    ///   - betweenSlices: Runs after each slice but the last (with `assisted`, after each wait or slice), with no
    ///     lock held (tests change the keyspace there).
    public func take(_ index: Int, assisted: Bool = false, betweenSlices: () -> Void = {}) -> CapturedShard? {
        if assisted { return takeAssisted(index, betweenSlices: betweenSlices) }
        let shard = engine.shards[index]
        let copied = spares.withLock { $0.popLast() } ?? CaptureRecords()
        var result: CapturedShard? = nil
        while true {
            copied.reserve(Self.sliceReserve)
            yieldIfDue()
            shard.lock.lock()
            guard let state = shard.capture, state.owner === self, !state.handedOut, !isCancelled else {
                shard.lock.unlock()
                break
            }
            let start = Self.nanoseconds()
            let done = state.copy(shard, into: copied, budget: slotsPerSlice)
            if done {
                state.handedOut = true
                result = CapturedShard(index: index, copied: copied, preserved: state.preserved)
                state.preserved = nil
            }
            let elapsed = Self.nanoseconds() - start
            shard.lock.unlock()
            noteSlice(elapsed)
            if done { break }
            betweenSlices()
        }
        if let result {
            copiedBytes.add(result.copied.count + (result.preserved?.count ?? 0), ordering: .relaxed)
        } else {
            copied.removeAll()
            keep(copied)
        }
        return result
    }

    /// ``take(_:assisted:betweenSlices:)`` with helpers: releases the next shards to them, then waits until the
    /// shard's walk is complete, copying slices itself only while the helpers make no progress.
    private func takeAssisted(_ index: Int, betweenSlices: () -> Void) -> CapturedShard? {
        let shard = engine.shards[index]
        let releaseEnd = min(Engine.shardCount, index + 1 + Self.releaseAhead)
        var next = releasedShards.load(ordering: .relaxed)
        while next < releaseEnd {
            release(next)
            next += 1
        }
        while true {
            let now = Self.nanoseconds()
            let seen = helperSliceCount.load(ordering: .relaxed)
            if seen != helperProgress {
                helperProgress = seen
                helperProgressAt = now
            }
            // Stalled across shards too: once the helpers stop, each shard does not wait for them again.
            let stalled = now - helperProgressAt >= Self.helperStallNanoseconds || !engine.captureHelpers.hasHelpers
            let walked = walkedShards.load(ordering: .relaxed) & (1 << UInt64(index)) != 0
            if !walked && !stalled && !isCancelled {
                // The shard is being copied by the helpers: wait without touching its lock.
                var pause = timespec(tv_sec: 0, tv_nsec: Self.assistPollNanoseconds)
                nanosleep(&pause, nil)
                betweenSlices()
                continue
            }
            if stalled { yieldIfDue() }
            shard.lock.lock()
            guard let state = shard.capture, state.owner === self, !state.handedOut, !isCancelled else {
                shard.lock.unlock()
                return nil
            }
            if state.walked {
                state.handedOut = true
                let copied = state.records ?? CaptureRecords()
                let result = CapturedShard(index: index, copied: copied, preserved: state.preserved)
                state.records = nil
                state.preserved = nil
                shard.lock.unlock()
                copiedBytes.add(copied.count + (result.preserved?.count ?? 0), ordering: .relaxed)
                return result
            }
            // No helper copied anything for a while (busy, stopped, or none left): copy a slice here.
            let records = state.records ?? CaptureRecords()
            state.records = records
            let start = Self.nanoseconds()
            _ = state.copy(shard, into: records, budget: slotsPerSlice)
            let elapsed = Self.nanoseconds() - start
            shard.lock.unlock()
            fallbackSliceCount.add(1, ordering: .relaxed)
            noteSlice(elapsed)
            betweenSlices()
        }
    }

    /// Gives shard `index` its copy buffer and lets the helpers copy it. The buffer is sized for every entry the
    /// shard holds (its slab's live bytes plus a record header per key) and its memory touched here: grown under
    /// the lock on a loop, it would stall the loop for the page faults of megabytes.
    private func release(_ index: Int) {
        let shard = engine.shards[index]
        let needed = shard.lock.withLock {
            shard.slab.liveBytes + shard.tables.reduce(0) { $0 + $1.count } * CaptureRecords.headerBytes
        }
        let records = spares.withLock { $0.popLast() } ?? CaptureRecords()
        records.reserve(max(Self.sliceReserve, needed + needed / 16))
        var used = false
        shard.lock.withLock {
            if let state = shard.capture, state.owner === self, !state.handedOut, state.records == nil {
                state.records = records
                used = true
            }
        }
        if !used { keep(records) }
        releasedShards.store(index + 1, ordering: .relaxed)
        engine.captureHelpers.wake()
    }

    /// A helper's turn (``Engine/captureStep(idle:budgetNanoseconds:)``): copies slices of the released shards, in
    /// shard order, for about `budgetNanoseconds` (with nothing left to copy for now, runs ``helperWork`` for the
    /// rest of the step instead), and paces the helpers' copying so that a loop copies only in its
    /// idle time and sleeps between steps:
    ///
    /// - A helper that just served requests (`idle` false) does not copy: it waits up to
    ///   ``helperBusyWaitNanoseconds`` for more and copies once its poll finds none, unless no helper has copied
    ///   for ``helperFloorNanoseconds`` (so a saturated loop still finishes the snapshot). A request never waits
    ///   behind a step that began while requests were pending.
    /// - After a step the helper waits (sleeps in its `epoll_wait`, woken early by its I/O) for nine times the step's
    ///   length before the next one, instead of polling and copying again at once: a loop that never sleeps is
    ///   always runnable, and on a busy machine the scheduler then lets other threads (the clients) preempt it while
    ///   requests queue.
    /// - The helpers together copy for at most a ``helperShare``-th of the time since ``enableHelpers()`` (plus
    ///   ``helperBurstNanoseconds``); past it a helper waits until the share allows the next step.
    ///
    /// A shard whose lock is busy is skipped (a helper never waits for a lock).
    /// - Returns: Nanoseconds until the helper should step again: 0 at once, > 0 the longest it should wait for
    ///   its I/O first, -1 when nothing is left to copy for now (the helper is woken when there is).
    func helpStep(budgetNanoseconds: Int, idle: Bool) -> Int64 {
        let start = Self.nanoseconds()
        if !idle && start - lastHelperStep.load(ordering: .relaxed) < helperFloorNanoseconds {
            return Self.helperBusyWaitNanoseconds
        }
        let allowed = (start - helpersSince.load(ordering: .relaxed)) / Self.helperShare + Self.helperBurstNanoseconds
        let busy = helperBusy.load(ordering: .relaxed)
        guard busy < allowed else {
            return max(Self.helperRetryNanoseconds, Int64((busy - allowed) * Self.helperShare))
        }
        lastHelperStep.store(start, ordering: .relaxed)
        var end = start
        defer { helperBusy.add(end - start, ordering: .relaxed) }
        var index = helperCursor.load(ordering: .relaxed)
        var skipped = false
        while !isCancelled {
            guard index < releasedShards.load(ordering: .relaxed) else {
                // Nothing to copy for now: the save's other work (serializing, compressing) in the rest of the step.
                let worked = helperWork?(budgetNanoseconds - (Self.nanoseconds() - start)) ?? false
                end = Self.nanoseconds()
                if worked {
                    helperWorkCount.add(1, ordering: .relaxed)
                    return max(Self.helperRetryNanoseconds, Int64((end - start) * (Self.helperShare - 1)))
                }
                // A shard skipped for its busy lock still needs copying: come back soon.
                return skipped ? Self.helperRetryNanoseconds : -1
            }
            let shard = engine.shards[index]
            guard shard.lock.tryLock() else {
                skipped = true
                index += 1
                continue
            }
            guard let state = shard.capture, state.owner === self, !state.walked, !state.handedOut,
                let records = state.records
            else {
                shard.lock.unlock()
                // Nothing left for helpers in this shard.
                _ = helperCursor.compareExchange(expected: index, desired: index + 1, ordering: .relaxed)
                index += 1
                continue
            }
            let sliceStart = Self.nanoseconds()
            let done = state.copy(shard, into: records, budget: min(slotsPerSlice, Self.helperSlotsPerSlice))
            end = Self.nanoseconds()
            shard.lock.unlock()
            helperSliceCount.add(1, ordering: .relaxed)
            noteSlice(end - sliceStart)
            if done {
                _ = helperCursor.compareExchange(expected: index, desired: index + 1, ordering: .relaxed)
                index += 1
            }
            if end - start >= budgetNanoseconds {
                return max(Self.helperRetryNanoseconds, Int64((end - start) * (Self.helperShare - 1)))
            }
        }
        end = Self.nanoseconds()
        return -1
    }

    private func noteSlice(_ nanoseconds: Int) {
        sliceCount.add(1, ordering: .relaxed)
        slicesNanoseconds.add(nanoseconds, ordering: .relaxed)
        Self.raise(longestSlice, to: nanoseconds)
    }

    /// Lets the engine's helpers (``Engine/addCaptureHelper(wake:)``) copy this capture's shards, for
    /// ``take(_:assisted:betweenSlices:)`` with `assisted`. Returns false if no helper is registered (the caller
    /// then copies itself). Undo with ``disableHelpers()``.
    public func enableHelpers() -> Bool {
        let now = Self.nanoseconds()
        helpersSince.store(now, ordering: .relaxed)
        helperProgressAt = now
        return engine.captureHelpers.activate(self)
    }

    /// Ends the helpers' part in this capture.
    public func disableHelpers() {
        engine.captureHelpers.deactivate(self)
    }

    /// Appends the records of a copied shard to `out`. Whenever `out` holds at least `flushBytes`, `flush` is called
    /// with it (and it is cleared afterwards, keeping its capacity); the caller writes what is left at the end.
    public func serialize(
        _ captured: CapturedShard,
        into out: inout [UInt8],
        flushBytes: Int = 1 << 20,
        flush: (inout [UInt8]) throws -> Void
    ) rethrows {
        var scratch = ByteBuffer()
        for records in [captured.copied, captured.preserved] {
            guard let records else { continue }
            var keys = 0
            try records.forEach { db, entry, object in
                SnapshotRecord.appendKey(db: db, entry: entry, object: object, to: &out, scratch: &scratch)
                keys += 1
                if out.count >= flushBytes {
                    capturedKeys.add(keys, ordering: .relaxed)
                    keys = 0
                    try flush(&out)
                    out.removeAll(keepingCapacity: true)
                }
            }
            capturedKeys.add(keys, ordering: .relaxed)
        }
    }

    /// Where ``serialize(_:from:into:limitBytes:budgetNanoseconds:largeRecordBytes:)`` stands in a copied shard.
    public struct SerializationCursor: Sendable {
        var part = 0
        var offset = 0
        public init() {}
    }

    /// How a bounded serialization step ended.
    public enum SerializationStop: Sendable, Equatable {
        /// Every record of the shard is appended.
        case complete
        /// The output reached its limit or the time ran out: call again.
        case paused
        /// The next record is larger than the step's limit for one record (a thread, not an event loop, must
        /// serialize it): call again with a larger limit.
        case largeRecord
    }

    /// Appends the records of `captured` from `cursor` on to `out`, in a bounded step: it stops before a record once
    /// `out` holds `limitBytes` or `budgetNanoseconds` have passed (at least one record is appended), and before a
    /// record whose entry or collection holds more than `largeRecordBytes` bytes.
    public func serialize(
        _ captured: CapturedShard,
        from cursor: inout SerializationCursor,
        into out: inout [UInt8],
        limitBytes: Int,
        budgetNanoseconds: Int,
        largeRecordBytes: Int = .max
    ) -> SerializationStop {
        let deadline = Self.nanoseconds() + budgetNanoseconds
        var scratch = ByteBuffer()
        var keys = 0
        defer { capturedKeys.add(keys, ordering: .relaxed) }
        while cursor.part < 2 {
            guard let records = cursor.part == 0 ? captured.copied : captured.preserved else {
                cursor.part += 1
                continue
            }
            var stop = SerializationStop.complete
            cursor.offset = records.forEach(from: cursor.offset) { db, entry, object in
                if keys > 0 && (out.count >= limitBytes || (keys & 15 == 0 && Self.nanoseconds() >= deadline)) {
                    stop = .paused
                    return false
                }
                if largeRecordBytes < .max
                    && (entry.size > largeRecordBytes || (object?.memoryBytes ?? 0) > largeRecordBytes)
                {
                    stop = .largeRecord
                    return false
                }
                SnapshotRecord.appendKey(db: db, entry: entry, object: object, to: &out, scratch: &scratch)
                keys += 1
                return true
            }
            if stop != .complete { return stop }
            cursor.part += 1
            cursor.offset = 0
        }
        return .complete
    }

    /// Wakes the helpers (the save has new work for them).
    public func wakeHelpers() {
        engine.captureHelpers.wake()
    }

    /// Counts a step of the save's other work (see ``helperWork``) that a thread made because the helpers could not.
    public func noteThreadWork() {
        threadWorkCount.add(1, ordering: .relaxed)
    }

    /// Ends the capture of a serialized shard (its commands no longer check for the snapshot) and keeps its buffer
    /// for the next shard.
    public func recycle(_ captured: CapturedShard) {
        let shard = engine.shards[captured.index]
        shard.lock.withLock { end(shard) }
        captured.copied.removeAll()
        keep(captured.copied)
    }

    /// The records of shard `index`, copied now in slices and serialized. Each shard's bytes are handed out once.
    public func takeShard(_ index: Int) -> [UInt8] {
        guard let captured = take(index) else { return [] }
        var out: [UInt8] = []
        serialize(captured, into: &out, flushBytes: .max) { _ in }
        recycle(captured)
        return out
    }

    /// Abandons the capture. Every shard's walk is still completed (in slices, copying nothing), so that every entry
    /// carries the capture's mark, which the next capture relies on; copies already taken are freed.
    public func cancel() {
        cancelled.store(true, ordering: .relaxed)
        for shard in engine.shards {
            var done = false
            while !done {
                shard.lock.lock()
                if let state = shard.capture, state.owner === self {
                    state.preserved = nil
                    state.records = nil
                    done = state.copy(shard, into: nil, budget: slotsPerSlice)
                    if done { end(shard) }
                } else {
                    done = true
                }
                shard.lock.unlock()
            }
        }
        spares.withLock { $0.removeAll() }
    }

    /// Frees the spare buffers (once every shard is serialized).
    public func releaseBuffers() {
        spares.withLock { $0.removeAll() }
    }

    /// Gives up the processor every ``yieldInterval`` of copying, between slices. A thread preempted while it
    /// holds a shard lock makes every command on that shard wait for the rest of its holder's preemption (a
    /// scheduler time slice or more on a busy machine); the walk holds a lock most of the time it runs, so it would
    /// be preempted inside a slice. Yielding first lets others run now, and the walk comes back with a fresh time
    /// slice (Linux EEVDF), which its next slices fit in. On an idle machine `sched_yield` returns at once.
    private func yieldIfDue() {
        let now = Self.nanoseconds()
        if now - lastYield >= Self.yieldInterval {
            sched_yield()
            lastYield = Self.nanoseconds()
        }
    }

    /// Copying time between two yields (nanoseconds): well below a scheduler time slice (0.75-3 ms on Linux).
    static let yieldInterval = 200_000
    /// Shards released to the helpers beyond the one the saving thread waits for (an assisted capture).
    static let releaseAhead = 2
    /// How long the saving thread of an assisted capture lets the helpers make no progress before it copies
    /// slices itself (nanoseconds).
    static let helperStallNanoseconds = 20_000_000
    /// Key-table slots a helper visits per lock hold (a few microseconds), at most: a request that arrives while
    /// its loop copies waits for the rest of the step.
    static let helperSlotsPerSlice = 128
    /// The share of the time the helpers may spend copying: one `helperShare`-th. A loop that copies is busier, so
    /// the scheduler favours it less when it wakes and its requests queue behind the copy; paced to a tenth, a
    /// million keys (some 80 ms of copying) take about 0.8 s to copy, which a background save can afford.
    static let helperShare = 10
    /// Copying time the helpers may use ahead of their share (nanoseconds).
    static let helperBurstNanoseconds = 500_000
    /// How long a helper that may not copy now waits (for its I/O) before it asks again, at least (nanoseconds).
    static let helperRetryNanoseconds: Int64 = 20_000
    /// How long a helper that just served requests waits for more before its next step (nanoseconds): the pause
    /// after a 15 us step.
    static let helperBusyWaitNanoseconds: Int64 = 135_000
    /// How often the saving thread of an assisted capture checks whether its shard is copied (nanoseconds).
    static let assistPollNanoseconds = 1_000_000
    /// When the copying thread last yielded (only that thread touches it).
    private var lastYield = 0
    /// The helpers' slice count the saving thread last saw, and when it last changed (only that thread touches
    /// them).
    private var helperProgress = 0
    private var helperProgressAt = 0

    /// Ends `shard`'s capture (under its lock).
    private func end(_ shard: Shard) {
        guard let state = shard.capture, state.owner === self else { return }
        shard.capture = nil
        if openShards.subtract(1, ordering: .relaxed).newValue == 0 {
            engine.capturing.store(false, ordering: .relaxed)
        }
    }

    private func keep(_ records: CaptureRecords) {
        guard !isCancelled else { return }
        spares.withLock { spares in
            if spares.count < Self.spareLimit { spares.append(records) }
        }
    }

    // MARK: Called under a shard's lock by ShardCapture

    func noteFinish(_ nanoseconds: Int) {
        finishedByCommands.add(1, ordering: .relaxed)
        Self.raise(longestFinish, to: nanoseconds)
    }

    func notePreserved(_ nanoseconds: Int) {
        preservedKeys.add(1, ordering: .relaxed)
        if nanoseconds > 0 { Self.raise(longestPreserve, to: nanoseconds) }
    }

    func noteRestart() {
        restartCount.add(1, ordering: .relaxed)
    }

    func noteWalked(_ shardIndex: Int) {
        walkedShards.bitwiseOr(1 << UInt64(shardIndex), ordering: .relaxed)
    }

    // MARK: Statistics

    /// Key records serialized so far.
    public var keysCaptured: Int { capturedKeys.load(ordering: .relaxed) }

    /// Bytes of entries copied so far.
    public var bytesCopied: Int { copiedBytes.load(ordering: .relaxed) }

    /// Keys a command (or an expiry or eviction) took before changing them.
    public var keysTakenByCommands: Int { preservedKeys.load(ordering: .relaxed) }

    /// Shards whose remaining copy a keyless write made at once under its lock.
    public var shardsFinishedByCommands: Int { finishedByCommands.load(ordering: .relaxed) }

    /// Lock holds of the copying thread (slices).
    public var slices: Int { sliceCount.load(ordering: .relaxed) }

    /// The time the copying thread held shard locks, in nanoseconds (all slices).
    public var lockedNanoseconds: Int { slicesNanoseconds.load(ordering: .relaxed) }

    /// Slices the helpers copied (an assisted capture).
    public var slicesByHelpers: Int { helperSliceCount.load(ordering: .relaxed) }

    /// Steps of the save's other work (``helperWork``) the helpers made, and those a thread made for them.
    public var workStepsByHelpers: Int { helperWorkCount.load(ordering: .relaxed) }
    public var workStepsByThread: Int { threadWorkCount.load(ordering: .relaxed) }

    /// Slices the saving thread of an assisted capture copied itself because the helpers made no progress.
    public var slicesByFallback: Int { fallbackSliceCount.load(ordering: .relaxed) }

    /// Times a table walk restarted because the table was rebuilt meanwhile.
    public var restarts: Int { restartCount.load(ordering: .relaxed) }

    /// The longest slice of the copying thread under a shard lock, in nanoseconds.
    public var longestSliceNanoseconds: Int { longestSlice.load(ordering: .relaxed) }

    /// The longest time a command spent under a lock on the capture's behalf (taking a key whose collection it had
    /// to copy, or finishing a shard for a keyless write), in nanoseconds.
    public var longestCommandPauseNanoseconds: Int {
        max(longestFinish.load(ordering: .relaxed), longestPreserve.load(ordering: .relaxed))
    }

    /// The longest single lock hold the capture caused, in nanoseconds: the most a lock waiter waited for it.
    public var longestShardCaptureNanoseconds: Int { max(longestSliceNanoseconds, longestCommandPauseNanoseconds) }

    static func raise(_ atomic: borrowing Atomic<Int>, to value: Int) {
        var current = atomic.load(ordering: .relaxed)
        while value > current {
            let (done, seen) = atomic.compareExchange(expected: current, desired: value, ordering: .relaxed)
            if done { break }
            current = seen
        }
    }

    static func nanoseconds() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return ts.tv_sec * 1_000_000_000 + ts.tv_nsec
    }
}

/// One shard's part of a ``KeyspaceCapture``: where the copying thread's walk stands, and the entries commands
/// took before changing them. Read and changed only under the shard's lock (``Shard/capture``).
final class ShardCapture {
    let owner: KeyspaceCapture
    /// The walk: database and slot of the next slot to visit, and the table's generation when last visited.
    private var db = 0
    private var slot = 0
    private var generation = 0
    /// Every slot visited: no entry of the shard is left untaken.
    private(set) var walked = false
    /// The copy was handed to the snapshot (``KeyspaceCapture/take(_:)``).
    var handedOut = false
    /// Objects pinned by the walk and maybe still referenced by an entry (0: no entry needs checking).
    private var pinned = 0
    /// Entries taken by commands (and a keyless write's remaining copy), in the same form as the walk's copy.
    var preserved: CaptureRecords?
    /// The walk's copy when helpers make it (an assisted capture; given by the saving thread, see
    /// ``KeyspaceCapture/take(_:assisted:betweenSlices:)``).
    var records: CaptureRecords?

    init(owner: KeyspaceCapture) {
        self.owner = owner
    }

    /// Visits up to `budget` slots (a copied entry counts one more per 64 bytes), copying each entry not yet taken
    /// into `records` (nil: only marks it) and marking it taken. Returns whether the walk is complete.
    func copy(_ shard: Shard, into records: CaptureRecords?, budget: Int) -> Bool {
        guard !walked else { return true }
        let mark = owner.mark
        var remaining = budget
        let tables = shard.tables
        while db < tables.count {
            let table = tables[db]
            if slot > 0 && table.generation != generation {
                // Rebuilt since the last slice: entries may have moved behind the cursor. Walk it again; the
                // entries already taken carry the mark and are skipped.
                slot = 0
                owner.noteRestart()
            }
            generation = table.generation
            if table.count > 0 {
                let capacity = table.capacity
                while slot < capacity {
                    if remaining <= 0 { return false }
                    remaining -= 1
                    if slot & 15 == 0 { touchCells(shard, table, from: slot) }
                    if table.isLive(slot) {
                        let entry = shard.entry(table, slot)
                        let flags = entry.flags
                        if flags & Entry.capturedFlag != mark {
                            if let records {
                                var object: CollectionObject? = nil
                                if flags & 0x07 != ValueType.string.rawValue {
                                    let held = entry.object
                                    held.snapshotPin = owner.id
                                    pinned += 1
                                    object = held
                                }
                                remaining -= records.append(db: db, entry: entry, object: object) >> 6
                            }
                            entry.flags = (flags & ~Entry.capturedFlag) | mark
                        }
                    }
                    slot += 1
                }
            }
            db += 1
            slot = 0
        }
        walked = true
        owner.noteWalked(shard.lock.shardIndex)
        return true
    }

    /// Reads the first byte of the cells of the 16 slots from `slot` on, one load independent of the next, so that
    /// their cache misses overlap instead of coming one after another as the copy reaches each entry (entries are
    /// scattered over the slab, in no relation to their slots).
    @inline(__always)
    private func touchCells(_ shard: Shard, _ table: KeyTable, from slot: Int) {
        var sink: UInt8 = 0
        for s in slot..<min(slot + 16, table.capacity) where table.isLive(s) {
            sink |= shard.slab.pointer(table.ref(at: s)).load(as: UInt8.self)
        }
        touched = sink
    }

    /// Keeps ``touchCells(_:_:from:)``'s loads from being optimized away.
    private var touched: UInt8 = 0

    /// Takes the entry of `key` in every database of `shard` before a command changes it.
    @inline(__always)
    func preserve(_ shard: Shard, key: UnsafeRawBufferPointer, hash: UInt64) {
        if walked && pinned == 0 { return }
        let tables = shard.tables
        for db in 0..<tables.count {
            let table = tables[db]
            guard table.count > 0 else { continue }
            let slot = table.find(key, hash: hash, slab: shard.slab)
            if slot >= 0 { preserve(shard, db: db, slot: slot) }
        }
    }

    /// Takes the entry in `slot` of `db` before it is changed or removed: its bytes (and a copy of its collection,
    /// or the collection itself if the caller is `removing` the entry) if the walk has not taken it yet; if the walk
    /// holds its collection and the entry stays, the entry gets a copy of it.
    func preserve(_ shard: Shard, db: Int, slot: Int, removing: Bool = false) {
        if walked && pinned == 0 { return }
        let entry = shard.entry(shard.tables[db], slot)
        let flags = entry.flags
        let mark = owner.mark
        if flags & Entry.capturedFlag != mark {
            entry.flags = (flags & ~Entry.capturedFlag) | mark
            if owner.isCancelled { return }
            let records = preserved ?? CaptureRecords()
            preserved = records
            if entry.type == .string {
                records.append(db: db, entry: entry, object: nil)
                owner.notePreserved(0)
            } else if removing {
                // Nothing changes an object once its entry is gone: the snapshot keeps the object itself.
                records.append(db: db, entry: entry, object: entry.object)
                owner.notePreserved(0)
            } else {
                let start = KeyspaceCapture.nanoseconds()
                records.append(db: db, entry: entry, object: entry.object.copy())
                owner.notePreserved(KeyspaceCapture.nanoseconds() - start)
            }
        } else if pinned > 0 && !removing && entry.type != .string {
            unpin(shard, entry)
        }
    }

    /// Swaps a copy of the entry's collection into it if the walk holds the object for the snapshot.
    private func unpin(_ shard: Shard, _ entry: Entry) {
        let object = entry.object
        guard object.snapshotPin == owner.id else { return }
        let start = KeyspaceCapture.nanoseconds()
        let copy = object.copy()
        copy.chargedBytes = object.chargedBytes
        let reference = UInt(bitPattern: Unmanaged.passRetained(copy).toOpaque())
        entry.value.baseAddress!.storeBytes(of: reference, as: UInt.self)
        // The entry's reference; the snapshot's copy holds its own.
        Unmanaged.passUnretained(object).release()
        pinned -= 1
        owner.notePreserved(KeyspaceCapture.nanoseconds() - start)
    }

    /// For a write that cannot name its keys: completes the walk now (into the side buffer) and gives every entry
    /// whose collection the walk holds a copy, so that nothing the snapshot still needs can change.
    func finish(_ shard: Shard) {
        if walked && pinned == 0 { return }
        let start = KeyspaceCapture.nanoseconds()
        if !walked {
            let records = owner.isCancelled ? nil : (preserved ?? CaptureRecords())
            preserved = records
            _ = copy(shard, into: records, budget: .max)
        }
        if pinned > 0 {
            for table in shard.tables where table.count > 0 {
                for slot in 0..<table.capacity where table.isLive(slot) {
                    let entry = shard.entry(table, slot)
                    if entry.type != .string { unpin(shard, entry) }
                }
            }
            pinned = 0
        }
        owner.noteFinish(KeyspaceCapture.nanoseconds() - start)
    }
}

/// Threads that copy a background capture's shards between their own work: neptune-server's event loops.
///
/// A thread preempted while it holds a shard lock makes every command on that shard wait until it runs again, and
/// a copying thread at normal priority competes with the event loops for the processor. An event loop that copies
/// the shards itself, in short steps between its iterations (``Engine/captureStep(idle:budgetNanoseconds:)``), never
/// waits for a copying thread's lock, is never preempted inside a slice on the copy's behalf, and copies only as
/// fast as serving clients leaves it time to.
final class CaptureHelpers: Sendable {
    private struct State {
        var wakers: [Int: @Sendable () -> Void] = [:]
        var nextID = 0
        var capture: KeyspaceCapture?
    }

    private let state = Mutex(State())
    /// A capture wants help: the helpers' check between iterations (one relaxed load while none does).
    let active = Atomic<Bool>(false)

    func add(wake: @escaping @Sendable () -> Void) -> Int {
        state.withLock { state in
            state.nextID += 1
            state.wakers[state.nextID] = wake
            return state.nextID
        }
    }

    func remove(_ id: Int) {
        state.withLock { _ = $0.wakers.removeValue(forKey: id) }
    }

    /// Makes `capture` the one the helpers copy; false (and nothing changes) if no helper is registered.
    func activate(_ capture: KeyspaceCapture) -> Bool {
        let activated = state.withLock { state in
            guard !state.wakers.isEmpty else { return false }
            state.capture = capture
            return true
        }
        if activated { active.store(true, ordering: .relaxed) }
        return activated
    }

    func deactivate(_ capture: KeyspaceCapture) {
        state.withLock { state in
            guard state.capture === capture else { return }
            state.capture = nil
            active.store(false, ordering: .relaxed)
        }
    }

    var capture: KeyspaceCapture? { state.withLock { $0.capture } }

    /// Whether any helper is registered.
    var hasHelpers: Bool { state.withLock { !$0.wakers.isEmpty } }

    /// Wakes every helper (new shards to copy).
    func wake() {
        let wakers = state.withLock { Array($0.wakers.values) }
        for wake in wakers { wake() }
    }
}

extension Engine {
    /// Registers a thread that copies background snapshots' shards between its own work, calling
    /// ``captureStep(idle:budgetNanoseconds:)`` after each of its iterations (neptune-server's event loops do).
    /// - Parameter wake: Called from the saving thread when there is copying to do: must make the helper call
    ///   ``captureStep(idle:budgetNanoseconds:)`` soon (it may be waiting for I/O).
    /// - Returns: The registration, for ``removeCaptureHelper(_:)``.
    public func addCaptureHelper(wake: @escaping @Sendable () -> Void) -> Int {
        captureHelpers.add(wake: wake)
    }

    /// Unregisters a helper (before it stops calling ``captureStep(idle:budgetNanoseconds:)``). A snapshot running
    /// meanwhile copies by itself once no helper makes progress.
    public func removeCaptureHelper(_ id: Int) {
        captureHelpers.remove(id)
    }

    /// A helper's turn: copies slices of the running background snapshot's shards for about `budgetNanoseconds`
    /// (each slice under its shard's lock, taken only if free), or does the save's other work (serializing and
    /// compressing, ``KeyspaceCapture/helperWork``), paced so that the helpers copy in their idle time,
    /// sleep between steps, and copy for at most a tenth of the time (see ``KeyspaceCapture``). Costs one relaxed
    /// atomic load while no snapshot wants help.
    /// - Parameters:
    ///   - idle: The helper has nothing else to do now (an event loop whose poll found no ready events). A helper
    ///     that is not idle copies only if no step was made for a quarter of a millisecond.
    ///   - budgetNanoseconds: About how long one step copies.
    /// - Returns: Nanoseconds the helper should wait at most (for its I/O) before its next step: 0 to step again at
    ///   once, -1 for no limit (it is woken through its `wake` when there is copying to do).
    public func captureStep(idle: Bool = true, budgetNanoseconds: Int = 15_000) -> Int64 {
        guard captureHelpers.active.load(ordering: .relaxed), let capture = captureHelpers.capture else {
            return -1
        }
        return capture.helpStep(budgetNanoseconds: budgetNanoseconds, idle: idle)
    }

    /// Starts a point-in-time capture of the keyspace.
    ///
    /// Locks every shard (in index order) for as long as `atCapturePoint`, a key count and flipping each shard's
    /// capture mark take, and returns; the shards are copied afterwards (see ``KeyspaceCapture``).
    /// - Parameter atCapturePoint: Runs with every shard locked, so no change can be applied or journaled
    ///   meanwhile; returns the journal sequence number the capture corresponds to (and may start a new journal
    ///   segment).
    public func beginCapture(_ atCapturePoint: () -> UInt64) -> KeyspaceCapture {
        var id = captureIDs.wrappingAdd(1, ordering: .relaxed).newValue
        if id == 0 { id = captureIDs.wrappingAdd(1, ordering: .relaxed).newValue }  // 0: an object not pinned
        return withAllShards {
            // A capture left running (never finished nor cancelled) is abandoned: its walk completes first, so that
            // every entry carries its mark (reentrant locks: every shard is held here).
            if let previous = shards.lazy.compactMap({ $0.capture }).first?.owner { previous.cancel() }
            let sequence = atCapturePoint()
            var keys = 0
            var changes = 0
            var perDatabase = [Int](repeating: 0, count: databases)
            for shard in shards {
                for (db, table) in shard.tables.enumerated() {
                    keys += table.count
                    perDatabase[db] += table.count
                }
                changes &+= shard.changes
            }
            // Every shard carries the same mark (a capture always leaves every entry with its mark).
            let mark = shards[0].captureMark ^ Entry.capturedFlag
            let capture = KeyspaceCapture(
                engine: self,
                id: id,
                mark: mark,
                sequence: sequence,
                keyCount: keys,
                changes: changes,
                createdAt: clock.milliseconds(),
                keysPerDatabase: perDatabase
            )
            for shard in shards {
                shard.captureMark = mark
                shard.capture = ShardCapture(owner: capture)
            }
            capturing.store(true, ordering: .relaxed)
            return capture
        }
    }

    /// The dispatcher's hook while a capture runs, with the command's shards locked: the keys the command names are
    /// taken by the capture before it changes them; a command that cannot name its keys (keyless, movable keys, or
    /// one that may serve a blocked BLMOVE, which pushes to a key it does not name) makes the capture finish the
    /// shards it holds instead.
    @inline(never)
    func prepareCapture(_ entry: CommandRegistry.Entry, _ arguments: [ByteBuffer], _ mask: UInt64) {
        var whole: UInt64 = 0
        if entry.movableKeys || entry.firstKey <= 0 {
            whole = mask
        } else if blocking.moveEntries.load(ordering: .relaxed) > 0 {
            whole = blocking.moveTargets(of: mask)
        }
        if whole != 0 {
            var m = whole
            while m != 0 {
                let shard = shards[m.trailingZeroBitCount]
                // Held already (the dispatcher's or EXEC's locks): reentrant.
                shard.lock.withLock { shard.prepareForChange() }
                m &= m - 1
            }
            return
        }
        guard entry.firstKey < arguments.count else { return }
        let last = entry.lastKey < 0 ? arguments.count + entry.lastKey : min(entry.lastKey, arguments.count - 1)
        var i = entry.firstKey
        while i <= last {
            arguments[i].withUnsafeReadableBytes { key in
                let hash = hasher.hash(key)
                shard(for: hash).prepareToChange(key: key, hash: hash)
            }
            i += max(1, entry.keyStep)
        }
    }

    /// Grows the key tables of `db` so that `keys` keys spread over the shards fit without rehashing (before a load).
    public func reserve(keys: Int, db: Int) {
        guard db >= 0 && db < databases && keys > 0 else { return }
        let perShard = keys / Self.shardCount + keys / (Self.shardCount * 8) + 64
        for shard in shards {
            shard.lock.withLock {
                let table = shard.tables[db]
                let capacity = KeyTable.capacity(for: perShard)
                if capacity > table.capacity { table.resize(to: capacity, hasher: hasher, slab: shard.slab) }
            }
        }
    }

    /// Changes applied so far (write commands that changed something, and expired keys): Redis's dirty counter.
    public func changeCount() -> Int {
        var total = 0
        for shard in shards {
            shard.lock.withLock { total &+= shard.changes }
        }
        return total
    }

    /// Reads a LEB128 varint; nil if the buffer ends inside it.
    @inline(__always)
    static func readVarint(
        _ bytes: UnsafeRawBufferPointer,
        _ offset: inout Int,
        _ recordStart: Int
    ) throws(SnapshotRecord.DecodeError) -> Int? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                guard result <= UInt64(Int32.max) * 4 else {
                    throw SnapshotRecord.DecodeError(offset: recordStart, reason: "length \(result) too large")
                }
                offset = i
                return Int(result)
            }
            shift += 7
            if shift > 56 {
                throw SnapshotRecord.DecodeError(offset: recordStart, reason: "malformed length")
            }
        }
        return nil
    }
}
