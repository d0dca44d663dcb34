import NIOCore

/// Why the engine deleted a key by itself.
enum EngineDeletion {
    case expired
    case evicted
}

extension Shard {
    // MARK: Deletions the engine makes by itself

    /// Deletes the key in `slot` because it expired or was evicted, and counts it: ``deleteByEngine(_:_:)``
    /// journals a `DEL` (so replay never depends on the clock or on memory) and tells the keyspace observers.
    func deleteByEngine(_ db: Int, _ slot: Int, reason: EngineDeletion) {
        prepareToChange(db: db, slot: slot, removing: true)
        switch reason {
        case .expired: expiredKeys += 1
        case .evicted: evictedKeys += 1
        }
        deleteByEngine(db, slot)
    }

    // MARK: Access data

    /// The time used for LFU data.
    @inline(__always)
    func evictionNow() -> Int64 {
        clock?.milliseconds() ?? 0
    }

    /// A fast random number (xorshift), under the lock.
    @inline(__always)
    func nextRandom() -> UInt64 {
        var x = randomState
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
        randomState = x
        return x
    }

    /// The access data after one access under the current policy.
    @inline(__always)
    func touched(_ access: UInt32, now: Int64) -> UInt32 {
        switch tuning.mode {
        case .lru:
            return UInt32(truncatingIfNeeded: now / 1000) & 0xFF_FFFF
        case .lfu:
            let random = Double(nextRandom() >> 11) * 0x1.0p-53
            return LFU.touched(
                access,
                now: now,
                logFactor: tuning.lfuLogFactor,
                decayTime: tuning.lfuDecayTime,
                random: random
            )
        case .s3fifo:
            return S3Bits.touched(access)
        }
    }

    /// Records a read of `e` (the caller holds the lock): an LRU clock store, an LFU counter step, or S3-FIFO's
    /// frequency bits. Never moves anything.
    @inline(__always)
    func touch(_ e: Entry, now: Int64) {
        e.access = touched(e.access, now: now)
    }

    /// Access data for a key being inserted into `table` (LFU's initial counter, or S3-FIFO's queue entry).
    func newKeyAccess(_ table: KeyTable, hash: UInt64, lruClock: UInt32) -> UInt32 {
        switch tuning.mode {
        case .lru:
            return lruClock
        case .lfu:
            return LFU.initial(evictionNow())
        case .s3fifo:
            let s3 = s3State(table)
            if s3.takeGhost(hash: hash) { return 0 }
            let ticket = s3.enqueueSmall(hash: hash)
            if s3.smallCount * 10 > table.count + 64 {
                // Not under memory pressure (eviction keeps the small queue at 10%): the oldest small keys
                // graduate to the main part, so the queue holds its 10% share when eviction starts (every insert
                // then enters it and every eviction takes from it while it holds 10% or more, so a queue that
                // started larger would stay larger).
                promoteOldestSmall(table, s3)
            }
            return S3Bits.small(ticket: ticket)
        }
    }

    func s3State(_ table: KeyTable) -> S3FIFOState {
        if let s3 = table.s3 { return s3 }
        let s3 = S3FIFOState()
        table.s3 = s3
        return s3
    }

    /// Updates the S3-FIFO counts when `e` leaves `table`.
    @inline(__always)
    func forgetS3(_ table: KeyTable, _ e: Entry) {
        if e.access & S3Bits.smallFlag != 0, let s3 = table.s3 { s3.smallCount -= 1 }
    }

    /// Resets every entry's access data for a new policy (Redis lets old data "take some time to adjust";
    /// Neptune's S3-FIFO bits must be consistent with its queues, so all modes start clean).
    func resetAccessData(now: Int64) {
        for table in tables {
            // Created on the table's first insert or eviction (s3State), so empty databases cost nothing.
            table.s3 = nil
            let initial: UInt32
            switch tuning.mode {
            case .lru: initial = UInt32(truncatingIfNeeded: now / 1000) & 0xFF_FFFF
            case .lfu: initial = LFU.initial(now)
            case .s3fifo: initial = 0
            }
            for slot in 0..<table.capacity where table.isLive(slot) {
                entry(table, slot).access = initial
            }
        }
    }

    // MARK: Memory accounting

    /// Adds the change in this shard's bytes since the last call to `counter`. Call under the lock.
    @inline(__always)
    func publishMemory(_ counter: MemoryCounter) {
        let bytes = memoryBytes
        let delta = bytes - publishedBytes
        if delta != 0 {
            publishedBytes = bytes
            counter.add(delta)
        }
    }

    // MARK: Sampling (Redis's policies)

    /// Up to `count` live keys of `db` from a random position on (Redis's dictGetSomeKeys), only keys with a TTL
    /// when `volatileOnly`. Calls `body` with each key's slot and entry.
    func sample(_ db: Int, count: Int, volatileOnly: Bool, _ body: (Int, Entry) -> Void) {
        let table = tables[db]
        guard table.count > 0, !volatileOnly || table.volatileCount > 0 else { return }
        var slot = Int(truncatingIfNeeded: nextRandom()) & table.mask
        var found = 0
        var examined = 0
        let wanted = min(count, volatileOnly ? table.volatileCount : table.count)
        while found < wanted && examined <= table.mask {
            if table.isLive(slot) {
                let e = entry(table, slot)
                if !volatileOnly || e.hasExpiry {
                    body(slot, e)
                    found += 1
                }
            }
            slot = (slot &+ 1) & table.mask
            examined += 1
        }
    }

    // MARK: S3-FIFO

    /// The slot whose key's hash has bits 0...47 equal to `item`'s, or -1.
    func findS3Item(_ table: KeyTable, _ item: UInt64) -> Int {
        let hash48 = item & S3FIFOState.hashMask
        let tag = KeyTable.tag(hash48)
        var i = Int(truncatingIfNeeded: hash48) & table.mask
        while true {
            let s = table.slots[i]
            if s == KeyTable.emptySlot { return -1 }
            if s != KeyTable.deletedSlot && s >> 48 == tag {
                let key = Entry(slab.pointer(s & KeyTable.refMask)).key
                if hasher.hash(key) & S3FIFOState.hashMask == hash48 { return i }
            }
            i = (i &+ 1) & table.mask
        }
    }

    /// The live entry a small-queue item stands for, or -1 if the item is stale.
    private func resolveSmall(_ table: KeyTable, _ item: UInt64) -> Int {
        let slot = findS3Item(table, item)
        guard slot >= 0 else { return -1 }
        let access = entry(table, slot).access
        guard access & S3Bits.smallFlag != 0, S3Bits.ticket(access) == UInt32(truncatingIfNeeded: item >> 48) else {
            return -1
        }
        return slot
    }

    /// Moves the oldest key of the small queue to the main part (no memory pressure).
    private func promoteOldestSmall(_ table: KeyTable, _ s3: S3FIFOState) {
        while let item = s3.popSmall() {
            let slot = resolveSmall(table, item)
            guard slot >= 0 else { continue }
            let e = entry(table, slot)
            e.access = e.access & S3Bits.frequencyMask
            s3.smallCount -= 1
            return
        }
        s3.smallCount = 0
    }

    /// S3-FIFO's choice of the next key of `db` to evict, or -1 if the table is empty. Bounded work: at most a
    /// few sweeps of the hand over the table (frequencies are at most 3).
    ///
    /// The small queue gives up its oldest key while it holds at least 10% of the table's keys: evicted (and
    /// remembered in the ghost filter) if it was not read meanwhile, else moved to the main part. Otherwise the
    /// main part's CLOCK hand picks the victim.
    func s3Victim(_ db: Int) -> Int {
        let table = tables[db]
        guard table.count > 0 else { return -1 }
        let s3 = s3State(table)
        s3.sizeGhost(forKeys: table.count)
        // Small queue first while it holds at least 10% of the keys (or the main part is empty).
        while s3.smallCount > 0 && (s3.smallCount * 10 >= table.count || s3.smallCount == table.count) {
            guard let item = s3.popSmall() else {
                s3.smallCount = 0
                break
            }
            let slot = resolveSmall(table, item)
            guard slot >= 0 else { continue }
            let e = entry(table, slot)
            s3.smallCount -= 1
            if e.access & S3Bits.frequencyMask == 0 {
                // Not read while in the small queue: evict it, and remember it in the ghost filter.
                e.access = 0
                s3.addGhost(hash: hasher.hash(e.key))
                return slot
            }
            // Read while in the small queue: on to the main part, frequency reset.
            e.access = 0
        }
        // Main part: CLOCK over the table's slots.
        var slot = s3.hand & table.mask
        var steps = 0
        let limit = 4 * (table.mask + 1)
        while steps < limit {
            if table.isLive(slot) {
                let e = entry(table, slot)
                let access = e.access
                if access & S3Bits.smallFlag == 0 {
                    if access & S3Bits.frequencyMask == 0 {
                        s3.hand = (slot &+ 1) & table.mask
                        return slot
                    }
                    e.access = access - 1
                }
            }
            slot = (slot &+ 1) & table.mask
            steps += 1
        }
        s3.hand = slot
        // Only small-queue keys are left (or every key was hot four times over): take the one at the hand.
        while !table.isLive(slot) { slot = (slot &+ 1) & table.mask }
        return slot
    }
}
