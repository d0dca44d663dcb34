#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import NeptuneCache
import Synchronization

/// Serializes and compresses the copied shards of a background save in short steps, on whichever thread calls
/// ``step(budgetNanoseconds:onLoop:)``: the event loops, in their idle time and paced like the copying (through
/// ``KeyspaceCapture/helperWork``), so that a save adds no thread that wants a processor while the loops and their
/// clients do. The writing thread (``runWriter()``) only writes the compressed bytes, sleeping in the kernel
/// otherwise; it makes a step itself only for a record too large for a loop's step (a big string or collection),
/// or when the loops make no progress for ``defaultStallNanoseconds`` (stuck in a long command, stopping).
///
/// One step either serializes records until ``pieceBytes`` are staged (or its time is up), or compresses the staged
/// piece into linked LZ4 blocks of its own (``SnapshotWriter/compress(_:appendingTo:)``): some microseconds each.
/// Compressed bytes go to the writing thread in buffers of ``handOffBytes``, allocated (and touched) up front, so a
/// loop's step does not allocate or fault.
final class StepEncoder: ShardSink, @unchecked Sendable {
    /// Serialized bytes compressed at a time.
    static let pieceBytes = 8 << 10
    /// Compressed bytes handed to the writing thread at a time.
    static let handOffBytes = 128 << 10
    /// A record whose entry or collection holds more bytes than this is serialized by the writing thread, not by a
    /// loop's step.
    static let largeRecordBytes = 64 << 10
    /// Compressed buffers in use (being filled, or waiting to be written).
    static let bufferCount = 4
    /// Copies waiting to be serialized, beyond the one being serialized.
    static let depth = 2
    /// How long the loops may make no progress while there is work before the writing thread steps for them.
    static let defaultStallNanoseconds = 20_000_000
    /// How often the writing thread checks for a stall while it waits for bytes to write.
    static let writerPollNanoseconds = 5_000_000

    private let capture: KeyspaceCapture
    private let writer: SnapshotWriter
    /// ``defaultStallNanoseconds`` unless a test asks for another.
    private let stallNanoseconds: Int
    /// Held by the thread making a step; the stepping state below is touched only under it.
    private let stepping = Atomic<Bool>(false)
    private var current: KeyspaceCapture.CapturedShard?
    private var cursor = KeyspaceCapture.SerializationCursor()
    private var staging: [UInt8] = []
    private var compressed: [UInt8] = []
    private var done = false

    private let monitor = MutexCondition()
    // Under `monitor`:
    private var queue: [KeyspaceCapture.CapturedShard] = []
    private var serialized: [KeyspaceCapture.CapturedShard] = []
    private var chunks: [[UInt8]] = []
    private var spares: [[UInt8]] = []
    private var closed = false
    private var finished = false
    private var needsThread = false
    private var failure: (any Error)?
    /// Shards queued and not yet serialized.
    private let pending = Atomic<Int>(0)
    /// Steps the loops made (the writing thread's stall check).
    private let loopSteps = Atomic<Int>(0)
    private let failed = Atomic<Bool>(false)

    init(capture: KeyspaceCapture, writer: SnapshotWriter, stallNanoseconds: Int = defaultStallNanoseconds) {
        self.capture = capture
        self.writer = writer
        self.stallNanoseconds = stallNanoseconds
        let capacity = Self.handOffBytes + Self.largeRecordBytes + (Self.largeRecordBytes >> 3) + (16 << 10)
        for _ in 0..<Self.bufferCount {
            // Filled once so that its pages are mapped here, not on a loop.
            var buffer = [UInt8](repeating: 0, count: capacity)
            buffer.removeAll(keepingCapacity: true)
            spares.append(buffer)
        }
        compressed = spares.removeLast()
        staging.reserveCapacity(Self.pieceBytes + Self.largeRecordBytes + 64)
    }

    private func locked<R>(_ body: () throws -> R) rethrows -> R {
        try monitor.locked(body)
    }

    // MARK: The saving thread

    /// Queues a copied shard, waiting while ``depth`` wait already; throws the first error of the encoding or the
    /// writing.
    func put(_ shard: KeyspaceCapture.CapturedShard) throws {
        try locked {
            while queue.count >= Self.depth && failure == nil { monitor.wait() }
            if let failure { throw failure }
            queue.append(shard)
            pending.add(1, ordering: .relaxed)
        }
        capture.wakeHelpers()
    }

    /// Shards serialized since the last call (to recycle).
    func takeFinished() -> [KeyspaceCapture.CapturedShard] {
        locked {
            let done = serialized
            serialized.removeAll()
            return done
        }
    }

    /// Every shard is queued: the steps flush what is left once they are serialized.
    func close() {
        locked {
            closed = true
            monitor.broadcast()
        }
        capture.wakeHelpers()
    }

    /// The first error of the encoding or the writing.
    var error: (any Error)? { locked { failure } }

    private func fail(_ error: any Error) {
        locked {
            if failure == nil { failure = error }
            failed.store(true, ordering: .relaxed)
            monitor.broadcast()
        }
    }

    // MARK: Steps

    /// One bounded step of serializing or compressing, if no other thread is making one; returns whether it did
    /// work. `onLoop`: the caller is an event loop (records larger than ``largeRecordBytes`` are left to the
    /// writing thread).
    func step(budgetNanoseconds: Int, onLoop: Bool) -> Bool {
        guard stepping.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            return false
        }
        defer { stepping.store(false, ordering: .releasing) }
        guard !done, !failed.load(ordering: .relaxed) else { return false }
        var worked = false
        do {
            // Serialize and compress pieces until the budget is used (at least one action).
            let start = Self.nanoseconds()
            var left = budgetNanoseconds
            while try makeStep(budgetNanoseconds: left, onLoop: onLoop) {
                worked = true
                left = budgetNanoseconds - (Self.nanoseconds() - start)
                if left <= 0 || done { break }
            }
        } catch {
            fail(error)
            return false
        }
        if worked && onLoop { loopSteps.add(1, ordering: .relaxed) }
        return worked
    }

    private func makeStep(budgetNanoseconds: Int, onLoop: Bool) throws -> Bool {
        if compressed.count >= Self.handOffBytes {
            // The writing thread is behind: wait for one of its buffers.
            return handOff(last: false)
        }
        if staging.count >= Self.pieceBytes {
            try compressStaging()
            return true
        }
        if current == nil {
            let next: KeyspaceCapture.CapturedShard?
            let allQueued: Bool
            (next, allQueued) = locked {
                guard !queue.isEmpty else { return (nil, closed) }
                let shard = queue.removeFirst()
                monitor.broadcast()
                return (shard, false)
            }
            guard let next else {
                guard allQueued else { return false }
                // Every shard is serialized: compress the rest and hand it over.
                if !staging.isEmpty { try compressStaging() }
                _ = handOff(last: true)
                done = true
                return true
            }
            current = next
            cursor = KeyspaceCapture.SerializationCursor()
        }
        let staged = staging.count
        let stop = capture.serialize(
            current!,
            from: &cursor,
            into: &staging,
            limitBytes: Self.pieceBytes,
            budgetNanoseconds: budgetNanoseconds,
            largeRecordBytes: onLoop ? Self.largeRecordBytes : .max
        )
        if !onLoop && staging.count >= Self.pieceBytes {
            // A large record: compress it here too, not in a loop's next step.
            try compressStaging()
        }
        switch stop {
        case .complete:
            let shard = current!
            current = nil
            pending.subtract(1, ordering: .relaxed)
            locked { serialized.append(shard) }
            return true
        case .paused:
            return true
        case .largeRecord:
            locked {
                needsThread = true
                monitor.broadcast()
            }
            // Records before the large one may have been staged.
            return staging.count > staged
        }
    }

    private func compressStaging() throws {
        try staging.withUnsafeBytes { try writer.compress($0, appendingTo: &compressed) }
        staging.removeAll(keepingCapacity: true)
        if compressed.count >= Self.handOffBytes { _ = handOff(last: false) }
    }

    /// Gives the compressed bytes to the writing thread, taking an empty buffer in exchange (unless `last`); false
    /// if none is free yet.
    private func handOff(last: Bool) -> Bool {
        locked {
            if last {
                if !compressed.isEmpty { chunks.append(compressed) }
                compressed = []
                finished = true
            } else {
                guard let spare = spares.popLast() else { return false }
                chunks.append(compressed)
                compressed = spare
            }
            monitor.broadcast()
            return true
        }
    }

    // MARK: The writing thread

    private static func nanoseconds() -> Int {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return now.tv_sec * 1_000_000_000 + now.tv_nsec
    }

    /// Writes the compressed bytes as they come until every shard is written (or something failed), stepping for
    /// the loops when a record is too large for them or they stall.
    func runWriter() {
        var seenSteps = -1
        var seenAt = Self.nanoseconds()
        var stalled = false
        while true {
            let (chunk, end, thread) = locked { () -> ([UInt8]?, Bool, Bool) in
                if chunks.isEmpty && !finished && failure == nil && !needsThread && !stalled {
                    monitor.wait(nanoseconds: Self.writerPollNanoseconds)
                }
                let thread = needsThread
                needsThread = false
                if failure != nil { return (nil, true, false) }
                if !chunks.isEmpty { return (chunks.removeFirst(), false, thread) }
                return (nil, finished, thread)
            }
            if var chunk {
                do {
                    try writer.writeCompressed(chunk)
                } catch {
                    fail(error)
                    return
                }
                chunk.removeAll(keepingCapacity: true)
                locked { spares.append(chunk) }
                // A step may have waited for the buffer.
                capture.wakeHelpers()
                if !thread { continue }
            }
            if end { return }
            let now = Self.nanoseconds()
            // The loops' progress: their encoding steps and their copying (which comes first in their steps).
            let steps = loopSteps.load(ordering: .relaxed) &+ capture.slicesByHelpers
            let work = pending.load(ordering: .relaxed) > 0 || locked { closed }
            if steps != seenSteps || !work {
                seenSteps = steps
                seenAt = now
            }
            stalled = now - seenAt >= stallNanoseconds
            if thread || stalled {
                if step(budgetNanoseconds: 1_000_000, onLoop: false) {
                    capture.noteThreadWork()
                    capture.wakeHelpers()
                } else {
                    // Nothing to do for now (a loop holds the step, or no shard is queued yet).
                    stalled = false
                }
            }
        }
    }
}
