public import NIOCore
import NeptuneRESP
import Synchronization

/// How a blocked client's reply reaches its connection: called at most once per ``BlockedClient``, on whatever
/// thread served it (a pushing client's, under its shard locks, or the one that timed it out or unblocked it), so
/// it must only hand the reply over (queue it on the connection's event loop).
///
/// - Parameters:
///   - client: The client that was served or unblocked.
///   - reply: Its complete reply, in its protocol (the served elements, the nil reply on timeout, or an error).
///   - journalSequence: The journal record of the pop that served it (0 if nothing was journaled): under
///     `appendfsync always` the reply waits until that record is durable, as any write's reply does.
public typealias BlockedClientDelivery =
    @Sendable (_ client: BlockedClient, _ reply: ByteBuffer, _ journalSequence: UInt64) -> Void

/// What a blocked client will do once one of its keys gets data.
enum BlockingOperation: Sendable {
    /// BLPOP / BRPOP: one element, replied as `[key, element]`.
    case listPop(fromTail: Bool)
    /// BLMPOP: up to `count` elements, replied as `[key, [elements]]`.
    case listMultiPop(fromTail: Bool, count: Int)
    /// BLMOVE / BRPOPLPUSH: one element moved to `destination`, replied as the element.
    case listMove(destination: ByteBuffer, destinationHash: UInt64, fromTail: Bool, toTail: Bool)
    /// BZPOPMIN / BZPOPMAX: one member, replied as `[key, member, score]`.
    case sortedSetPop(max: Bool)
    /// BZMPOP: up to `count` members, replied as `[key, [[member, score] ...]]`.
    case sortedSetMultiPop(max: Bool, count: Int)

    /// The type the key must hold for the client to be served (a key of another type leaves it blocked).
    var valueType: ValueType {
        switch self {
        case .listPop, .listMultiPop, .listMove: .list
        case .sortedSetPop, .sortedSetMultiPop: .zset
        }
    }

    /// The reply when the timeout elapses: a nil array for every blocking command (`*-1`; `_` in RESP3), as
    /// Redis's `replyToBlockedClientTimedOut`.
    func writeTimeoutReply(into buffer: inout ByteBuffer, _ version: RESPVersion) {
        buffer.writeRESPNullArray(version)
    }

    /// The reply when the command may not block (inside MULTI) and has nothing to pop: BLMOVE and BRPOPLPUSH
    /// answer a nil bulk string (`$-1`), the others a nil array.
    func writeNotBlockingReply(into buffer: inout ByteBuffer, _ version: RESPVersion) {
        if case .listMove = self {
            buffer.writeRESPNull(version)
        } else {
            buffer.writeRESPNullArray(version)
        }
    }
}

/// A client waiting in a blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP)
/// for one of its keys to get data.
///
/// The engine creates it when such a command finds every key empty and the caller can wait (see
/// ``CommandContext/blockingDelivery``), and registers it on its keys in arrival order, so clients blocked on a key
/// are served first blocked, first served. It ends exactly once, whichever comes first: a write gives one of its
/// keys data (the engine pops for it right after that write, under the write's shard locks, journals the pop and
/// calls the delivery), its deadline passes or CLIENT UNBLOCK ends it (the host calls
/// ``Engine/unblock(_:with:)``), or its connection closes (``Engine/unblock(_:with:)`` with
/// ``UnblockOutcome/disconnected``).
public final class BlockedClient: Sendable {
    /// One key the client waits on.
    struct Key: Sendable {
        let bytes: [UInt8]
        let buffer: ByteBuffer
        let hash: UInt64
    }

    /// The connection's CLIENT ID.
    public let clientID: Int
    /// When the wait ends with the nil reply, in Unix milliseconds; nil waits until served or unblocked.
    public let deadline: Int64?
    let db: Int
    /// The keys in the order the command named them, without repeats.
    let keys: [Key]
    let operation: BlockingOperation
    let protocolVersion: RESPVersion
    let delivery: BlockedClientDelivery
    /// Set once, by whoever ends the wait.
    private let ended = Atomic<Bool>(false)

    init(
        clientID: Int,
        deadline: Int64?,
        db: Int,
        keys: [Key],
        operation: BlockingOperation,
        protocolVersion: RESPVersion,
        delivery: @escaping BlockedClientDelivery
    ) {
        self.clientID = clientID
        self.deadline = deadline
        self.db = db
        self.keys = keys
        self.operation = operation
        self.protocolVersion = protocolVersion
        self.delivery = delivery
    }

    /// Whether the client still waits (nobody served or unblocked it yet).
    public var isWaiting: Bool { !ended.load(ordering: .acquiring) }

    /// Ends the wait if it has not ended; true for the one caller that ended it.
    func claim() -> Bool {
        !ended.exchange(true, ordering: .acquiringAndReleasing)
    }

    /// The reply the client gets when its timeout elapses: nil (`*-1` in RESP2, `_` in RESP3).
    public var timeoutReply: ByteBuffer {
        var buffer = ByteBuffer()
        operation.writeTimeoutReply(into: &buffer, protocolVersion)
        return buffer
    }
}

/// How a wait ends when no data served it.
public enum UnblockOutcome: Sendable, Equatable {
    /// The timeout elapsed (or CLIENT UNBLOCK … TIMEOUT): the client gets the nil reply.
    case timeout
    /// CLIENT UNBLOCK … ERROR: the client gets this error (its text without the leading `-`).
    case error(String)
    /// The connection closed: nothing is delivered.
    case disconnected

    /// CLIENT UNBLOCK … ERROR's error.
    public static let unblockedError = UnblockOutcome.error("UNBLOCKED client unblocked via CLIENT UNBLOCK")
}
