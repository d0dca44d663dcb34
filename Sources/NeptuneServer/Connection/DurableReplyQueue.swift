import NIOConcurrencyHelpers
import NeptuneSnapshot

/// The connections of one event loop whose replies wait for the journal: under `appendfsync always` for the fsync
/// covering their writes, under `everysec` and `no` for the `write` (``Journal/durableSequence``).
///
/// One journal callback and one hop onto the loop release all of them together, instead of one callback and one
/// task per connection: the journal's writer thread then spends its time writing, not waking event loops.
/// Everything but ``init(loop:journal:)`` runs on `loop`.
final class DurableReplyQueue: @unchecked Sendable {
    let loop: EpollLoop
    let journal: Journal
    // Confined to `loop`.
    private var waiting: [RESPConnectionHandler] = []
    private var wanted: UInt64 = 0
    private var callbackPending = false
    /// A task that registers the journal callback is queued on `loop` (it runs after this loop iteration's reads).
    private var registrationPending = false

    init(loop: EpollLoop, journal: Journal) {
        self.loop = loop
        self.journal = journal
    }

    /// Queues `handler` (once) until journal record `sequence` is durable; the handler's
    /// `releaseHeld(durable:)` runs then, or as soon as the journal fails.
    func wait(_ handler: RESPConnectionHandler, for sequence: UInt64) {
        loop.assertInEventLoop()
        if !handler.isQueuedForDurability {
            handler.isQueuedForDurability = true
            waiting.append(handler)
        }
        if sequence > wanted { wanted = sequence }
        if !callbackPending && !registrationPending {
            // Registered from a task that runs once this loop iteration's reads are all processed (a task queued
            // from the loop itself costs no wake-up): one callback then covers every connection of the iteration
            // at its last record, instead of one small write and one hop for the first one; and by then the
            // journal thread, woken by the first append, has often written the records already.
            registrationPending = true
            loop.execute { self.register() }
        }
    }

    private func register() {
        registrationPending = false
        guard !callbackPending, !waiting.isEmpty else { return }
        // Under `everysec` and `no` the loop writes the records itself when the journal file is free (one
        // `write` into the page cache, as Redis does before replying; it never waits for the file or an fsync),
        // so the replies leave without a hand-off to the journal thread and back.
        if wanted <= journal.durableSequence {
            release(durable: true)
        } else if let written = journal.writeBuffered(upTo: wanted, wait: false) {
            release(durable: written)
        } else {
            requestCallback()
        }
    }

    private func requestCallback() {
        callbackPending = true
        let loop = self.loop
        journal.whenDurable(wanted) { durable in
            loop.execute { self.release(durable: durable) }
        }
    }

    private func release(durable: Bool) {
        loop.assertInEventLoop()
        callbackPending = false
        let handlers = waiting
        waiting = []
        for handler in handlers {
            handler.isQueuedForDurability = false
            // A handler whose later replies are not covered yet queues itself again.
            handler.releaseHeld(durable: durable)
        }
    }
}

extension ServerState {
    /// The reply queue of `loop` when the server has a journal (`appendonly yes`), nil otherwise.
    func durableReplyQueue(for loop: EpollLoop) -> DurableReplyQueue? {
        guard let journal else { return nil }
        return durableReplyQueues.withLockedValue { queues in
            let key = ObjectIdentifier(loop)
            if let queue = queues[key] { return queue }
            let queue = DurableReplyQueue(loop: loop, journal: journal)
            queues[key] = queue
            return queue
        }
    }
}
