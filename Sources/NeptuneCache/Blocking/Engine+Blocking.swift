import NIOCore
import NeptuneRESP
import Synchronization

extension Engine {
    // MARK: Host API

    /// Clients waiting in a blocking command (INFO's `blocked_clients`).
    public var blockedClientCount: Int { blocking.waitingClients.load(ordering: .relaxed) }

    /// Waiting clients that have a timeout (INFO's `clients_in_timeout_table`).
    public var blockedClientsWithTimeout: Int { blocking.clientsWithDeadline.load(ordering: .relaxed) }

    /// Ends `client`'s wait without serving it: its timeout elapsed, CLIENT UNBLOCK, or its connection closed.
    ///
    /// For ``UnblockOutcome/timeout`` and ``UnblockOutcome/error(_:)`` the reply goes through the client's
    /// ``BlockedClientDelivery``; nothing is delivered for ``UnblockOutcome/disconnected``. Call it holding no shard
    /// lock (never from inside a command body that runs under the dispatcher's locks).
    /// - Returns: Whether the client was still waiting; false if a write served it (or something else ended its
    ///   wait) first, in which case that reply is on its way.
    @discardableResult
    public func unblock(_ client: BlockedClient, with outcome: UnblockOutcome) -> Bool {
        guard client.claim() else { return false }
        blocking.ended(client)
        blocking.removeAll(client, shards: shards)
        switch outcome {
        case .timeout:
            client.delivery(client, client.timeoutReply, 0)
        case .error(let message):
            var reply = ByteBuffer()
            reply.writeRESPError(message)
            client.delivery(client, reply, 0)
        case .disconnected:
            break
        }
        return true
    }

    /// Drops what is left of a served client's registration (its entries on keys of shards the serving write did
    /// not hold). The host calls it once it received the reply; holding no shard lock.
    public func forgetBlocked(_ client: BlockedClient) {
        blocking.removeAll(client, shards: shards)
    }

    // MARK: Locking for writes

    /// Locks the shards of `mask` for a write, plus the shards blocked BLMOVE clients on them may push to (so they
    /// can be served before the locks are released), and returns what it locked. Without blocked BLMOVE clients
    /// this is ``lockShards(_:)`` plus one atomic load.
    @inline(__always)
    func lockForWrite(_ mask: UInt64) -> UInt64 {
        lockShards(mask)
        guard blocking.moveEntries.load(ordering: .relaxed) > 0 else { return mask }
        return widenForMoves(mask)
    }

    /// Adds the destination shards of blocked BLMOVE clients to the locked `mask`. Shards are always taken in
    /// index order: when a shard must be added, everything is released and retaken, which is safe because the
    /// command has not run yet. Under the locks, the destinations of the held shards are exact.
    private func widenForMoves(_ locked: UInt64) -> UInt64 {
        var mask = locked
        while true {
            let needed = blocking.moveTargets(of: mask)
            if needed == mask { return mask }
            unlockShards(mask)
            mask = needed
            lockShards(mask)
        }
    }

    // MARK: Blocking

    /// Blocks the calling client on `keys` (the command found them all empty), or, when it cannot block (inside
    /// EXEC, an embedded caller, journal replay), replies as if the timeout had elapsed. The caller holds the
    /// locks of every key's shard (the dispatcher's).
    /// - Parameter timeout: Milliseconds to wait; 0 waits until served.
    func block(
        _ c: inout CommandContext,
        keys: ArraySlice<ByteBuffer>,
        operation: BlockingOperation,
        timeout: Int64
    ) {
        c.journal = .nothing
        guard c.journalBatch == nil, !c.replaying, let delivery = c.blockingDelivery, blocking.isActive else {
            operation.writeNotBlockingReply(into: &c.reply, c.protocolVersion)
            return
        }
        var unique: [BlockedClient.Key] = []
        for key in keys {
            let bytes = Array(key.readableBytesView)
            if unique.contains(where: { $0.bytes == bytes }) { continue }
            let hash = bytes.withUnsafeBytes { hasher.hash($0) }
            unique.append(BlockedClient.Key(bytes: bytes, buffer: ByteBuffer(bytes: bytes), hash: hash))
        }
        let deadline: Int64? = timeout == 0 ? nil : (c.now > Int64.max - timeout ? Int64.max : c.now + timeout)
        let client = BlockedClient(
            clientID: c.clientID,
            deadline: deadline,
            db: c.db,
            keys: unique,
            operation: operation,
            protocolVersion: c.protocolVersion,
            delivery: delivery
        )
        blocking.add(client)
        c.blockedClient = client
    }

    /// Serves the clients blocked on keys that got data, in the order the keys got it, each key's clients first
    /// blocked first served. Runs after a write command (or EXEC) has been applied and journaled, while it still
    /// holds the locks of `mask` (which ``lockForWrite(_:)`` widened to cover BLMOVE destinations): each pop is
    /// journaled as its effect (LPOP, LMOVE, ZPOPMIN … with the count served) and reported to the observers, so
    /// WATCH sees it and a BLMOVE push can serve further clients in the same pass.
    func serveBlockedClients(_ mask: UInt64, now: Int64) {
        guard blocking.entries.load(ordering: .relaxed) > 0 else { return }
        if let journal, !journal.acceptsWrites { return }
        while true {
            let ready = blocking.takeReady(mask)
            if ready.isEmpty { return }
            for key in ready {
                serveWaiters(on: key, mask, now: now)
            }
        }
    }

    private func serveWaiters(on ready: BlockingRegistry.ReadyKey, _ mask: UInt64, now: Int64) {
        let shard = shard(for: ready.hash)
        for waiter in blocking.waiters(db: ready.db, key: ready.key, hash: ready.hash) {
            let client = waiter.client
            guard client.isWaiting else {
                blocking.remove(client, keyIndex: waiter.keyIndex)
                continue
            }
            let type = ready.key.withUnsafeBytes { valueType(shard, ready.db, $0, ready.hash, now: now) }
            // No data left: the remaining clients keep waiting.
            guard let type else { return }
            // Redis 7.0 serves only clients waiting for the key's type; the others keep waiting.
            guard type == client.operation.valueType else { continue }
            let key = client.keys[waiter.keyIndex].buffer
            var destinationWrongType = false
            if case .listMove(let destination, let destinationHash, _, _) = client.operation {
                // Cannot happen (lockForWrite took the destination's shard); never touch an unlocked shard.
                guard mask & (1 << (destinationHash >> Self.shardShift)) != 0 else { continue }
                let destinationType = destination.withUnsafeReadableBytes {
                    valueType(self.shard(for: destinationHash), ready.db, $0, destinationHash, now: now)
                }
                destinationWrongType = destinationType != nil && destinationType != .list
            }
            guard client.claim() else {
                blocking.remove(client, keyIndex: waiter.keyIndex)
                continue
            }
            blocking.ended(client)
            for i in client.keys.indices where mask & (1 << (client.keys[i].hash >> Self.shardShift)) != 0 {
                blocking.remove(client, keyIndex: i)
            }
            var reply = ByteBuffer()
            if destinationWrongType {
                // As Redis 7.0: the client gets WRONGTYPE and stops waiting; nothing moves.
                reply.writeRESPError(CommandError.wrongType.message)
                client.delivery(client, reply, 0)
                continue
            }
            let record = pop(for: client, key: key, db: ready.db, now: now, into: &reply)
            guard let record else {
                client.operation.writeTimeoutReply(into: &reply, client.protocolVersion)
                client.delivery(client, reply, 0)
                continue
            }
            shard.changes &+= 1
            var sequence: UInt64 = 0
            if let journal {
                sequence = journal.append(db: ready.db, arguments: record)
            }
            if !observers.isEmpty {
                ready.key.withUnsafeBytes { notifyKeyChanged(db: ready.db, key: $0, hash: ready.hash) }
                if case .listMove(let destination, let destinationHash, _, _) = client.operation {
                    destination.withUnsafeReadableBytes {
                        notifyKeyChanged(db: ready.db, key: $0, hash: destinationHash)
                    }
                }
            }
            client.delivery(client, reply, sequence)
        }
    }

    /// The type of the live value at `key`, or nil. The caller holds the shard's lock.
    private func valueType(_ shard: Shard, _ db: Int, _ key: UnsafeRawBufferPointer, _ hash: UInt64, now: Int64)
        -> ValueType?
    {
        let slot = shard.find(db, key, hash, now: now)
        return slot >= 0 ? shard.entry(shard.tables[db], slot).type : nil
    }

    /// Pops for `client` from `key` (which holds data of its type), writes its reply and returns the journal record
    /// of the pop's effect; nil if nothing could be popped.
    private func pop(
        for client: BlockedClient,
        key: ByteBuffer,
        db: Int,
        now: Int64,
        into reply: inout ByteBuffer
    ) -> [ByteBuffer]? {
        let version = client.protocolVersion
        switch client.operation {
        case .listPop(let fromTail):
            guard let item = (try? popList(key, db: db, now: now, count: 1, fromTail: fromTail))??.first else {
                return nil
            }
            reply.writeRESPArrayHeader(2)
            reply.writeRESPBulkString(key)
            reply.writeRESPBulkString(item)
            return [fromTail ? JournalWords.rpop : JournalWords.lpop, key]
        case .listMultiPop(let fromTail, let count):
            guard let items = (try? popList(key, db: db, now: now, count: count, fromTail: fromTail)) ?? nil,
                !items.isEmpty
            else { return nil }
            Self.writeListMultiPopReply(key, items, into: &reply)
            return [fromTail ? JournalWords.rpop : JournalWords.lpop, key, JournalWords.number(Int64(items.count))]
        case .listMove(let destination, _, let fromTail, let toTail):
            guard
                let item = (try? moveListItem(key, destination, db: db, now: now, fromTail: fromTail, toTail: toTail))
                    ?? nil
            else { return nil }
            reply.writeRESPBulkString(item)
            return [
                JournalWords.lmove, key, destination, fromTail ? JournalWords.right : JournalWords.left,
                toTail ? JournalWords.right : JournalWords.left,
            ]
        case .sortedSetPop(let max):
            guard let popped = (try? popSortedSet(key, db: db, now: now, count: 1, max: max)) ?? nil,
                let element = popped.first
            else { return nil }
            reply.writeRESPArrayHeader(3)
            reply.writeRESPBulkString(key)
            reply.writeRESPBulkString(element.member)
            reply.writeRESPDouble(element.score, version)
            return [max ? JournalWords.zpopmax : JournalWords.zpopmin, key]
        case .sortedSetMultiPop(let max, let count):
            guard let popped = (try? popSortedSet(key, db: db, now: now, count: count, max: max)) ?? nil,
                !popped.isEmpty
            else { return nil }
            Self.writeSortedSetMultiPopReply(key, popped, version, into: &reply)
            return [max ? JournalWords.zpopmax : JournalWords.zpopmin, key, JournalWords.number(Int64(popped.count))]
        }
    }

    /// BLMPOP's (and LMPOP's) reply: `[key, [elements]]`.
    static func writeListMultiPopReply(_ key: ByteBuffer, _ items: [[UInt8]], into reply: inout ByteBuffer) {
        reply.writeRESPArrayHeader(2)
        reply.writeRESPBulkString(key)
        reply.writeRESPArrayHeader(items.count)
        for item in items { reply.writeRESPBulkString(item) }
    }

    /// BZMPOP's (and ZMPOP's) reply: `[key, [[member, score] ...]]`.
    static func writeSortedSetMultiPopReply(
        _ key: ByteBuffer,
        _ elements: [(member: [UInt8], score: Double)],
        _ version: RESPVersion,
        into reply: inout ByteBuffer
    ) {
        reply.writeRESPArrayHeader(2)
        reply.writeRESPBulkString(key)
        reply.writeRESPArrayHeader(elements.count)
        for element in elements {
            reply.writeRESPArrayHeader(2)
            reply.writeRESPBulkString(element.member)
            reply.writeRESPDouble(element.score, version)
        }
    }
}
