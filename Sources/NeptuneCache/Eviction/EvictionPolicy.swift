/// What the engine does when `maxmemory` is reached (`maxmemory-policy`): Redis's eight policies plus
/// `allkeys-s3fifo`, Neptune's scan-resistant policy (S3-FIFO, Yang et al., SOSP 2023).
public enum EvictionPolicy: String, Sendable, CaseIterable {
    case volatileLRU = "volatile-lru"
    case volatileLFU = "volatile-lfu"
    case volatileRandom = "volatile-random"
    case volatileTTL = "volatile-ttl"
    case allkeysLRU = "allkeys-lru"
    case allkeysLFU = "allkeys-lfu"
    case allkeysRandom = "allkeys-random"
    case noeviction = "noeviction"
    /// S3-FIFO: new keys enter a small FIFO queue (10% of the keys); a key read while there moves to the main
    /// part, one that was not is evicted and remembered in a ghost filter (it goes straight to the main part if it
    /// comes back soon). The main part is a CLOCK with a 2-bit frequency per key, swept by a hand over the key
    /// table. A hit only sets bits in the entry's header: no list moves under the lock.
    case allkeysS3FIFO = "allkeys-s3fifo"

    /// Whether only keys with a TTL may be evicted.
    public var isVolatile: Bool {
        switch self {
        case .volatileLRU, .volatileLFU, .volatileRandom, .volatileTTL: true
        default: false
        }
    }

    /// Whether the policy ranks keys by Redis's LFU counter (OBJECT FREQ is then available).
    public var isLFU: Bool { self == .allkeysLFU || self == .volatileLFU }

    /// Whether the policy ranks keys by Redis's LRU clock.
    public var isLRU: Bool { self == .allkeysLRU || self == .volatileLRU }

    /// What an entry's 24-bit access field holds under this policy.
    var accessMode: AccessMode {
        switch self {
        case .allkeysLFU, .volatileLFU: .lfu
        case .allkeysS3FIFO: .s3fifo
        default: .lru
        }
    }
}

/// The meaning of an entry's 24-bit access field.
enum AccessMode: UInt8, Sendable {
    /// Redis's LRU clock: seconds, 24 bits (OBJECT IDLETIME).
    case lru
    /// Redis's LFU data: the last decrement time in minutes (16 bits) above an 8-bit logarithmic counter.
    case lfu
    /// S3-FIFO: bits 0-1 the access frequency (0...3), bit 2 set while in the small queue, bits 8-23 the ticket
    /// of the key's small-queue item.
    case s3fifo
}

/// Redis's LFU counter (evict.c): a logarithmic 8-bit counter that halves in meaning per doubling of accesses,
/// decremented by one per `lfu-decay-time` minutes without access.
enum LFU {
    /// A new key's counter (`LFU_INIT_VAL`), so new keys are not evicted before they have a chance to be used.
    static let initialValue: UInt32 = 5

    /// Minutes since the epoch, 16 bits (`LFUGetTimeInMinutes`).
    @inline(__always)
    static func minutes(_ now: Int64) -> UInt32 {
        UInt32(truncatingIfNeeded: now / 60_000) & 0xFFFF
    }

    /// Access data for a new key.
    @inline(__always)
    static func initial(_ now: Int64) -> UInt32 {
        minutes(now) << 8 | initialValue
    }

    /// The counter after decay (`LFUDecrAndReturn`): what OBJECT FREQ reports and eviction ranks.
    @inline(__always)
    static func decayed(_ access: UInt32, now: Int64, decayTime: Int) -> UInt32 {
        let last = access >> 8
        let counter = access & 0xFF
        guard decayTime > 0 else { return counter }
        let current = minutes(now)
        let elapsed = current >= last ? current - last : 65535 - last + current
        let periods = Int(elapsed) / decayTime
        return periods > Int(counter) ? 0 : counter - UInt32(periods)
    }

    /// One access (`updateLFU`): decay, then a logarithmic increment with probability
    /// 1 / ((counter - 5) * lfu-log-factor + 1).
    @inline(__always)
    static func touched(_ access: UInt32, now: Int64, logFactor: Int, decayTime: Int, random: Double) -> UInt32 {
        var counter = decayed(access, now: now, decayTime: decayTime)
        if counter < 255 {
            let base = max(0, Double(Int(counter) - Int(initialValue)))
            if random < 1.0 / (base * Double(logFactor) + 1) { counter += 1 }
        }
        return minutes(now) << 8 | counter
    }
}

/// The eviction settings the shards read under their locks (copied into every shard when they change).
struct EvictionTuning: Sendable {
    var mode: AccessMode = .lru
    var lfuLogFactor = 10
    var lfuDecayTime = 1
}
