import NIOCore
import NeptuneRESP

extension JournalWords {
    static let lmove = ByteBuffer(string: "LMOVE")
    static let left = ByteBuffer(string: "LEFT")
    static let right = ByteBuffer(string: "RIGHT")
}

extension Engine {
    /// BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP, with Redis 7.0's COMMAND INFO and DOCS
    /// metadata. Each pops at once when a key has data (journaled as the non-blocking pop it amounts to), and
    /// otherwise blocks (``block(_:keys:operation:timeout:)``).
    static var blockingCommands: [CommandSpec] {
        [
            spec("blpop", -3, ["write", "noscript", "blocking"], (1, -2, 1), ["write", "list", "slow", "blocking"],
                 "list", "Remove and get the first element in a list, or block until one is available",
                 since: "2.0.0", complexity: "O(N) where N is the number of provided keys.", blpop),
            spec("brpop", -3, ["write", "noscript", "blocking"], (1, -2, 1), ["write", "list", "slow", "blocking"],
                 "list", "Remove and get the last element in a list, or block until one is available",
                 since: "2.0.0", complexity: "O(N) where N is the number of provided keys.", brpop),
            spec("brpoplpush", 4, ["write", "denyoom", "noscript", "blocking"], (1, 2, 1),
                 ["write", "list", "slow", "blocking"], "list",
                 "Pop an element from a list, push it to another list and return it; or block until one is available",
                 since: "2.2.0", complexity: "O(1)", brpoplpush),
            spec("blmove", 6, ["write", "denyoom", "noscript", "blocking"], (1, 2, 1),
                 ["write", "list", "slow", "blocking"], "list",
                 "Pop an element from a list, push it to another list and return it; or block until one is available",
                 since: "6.2.0", complexity: "O(1)", blmove),
            spec("blmpop", -5, ["write", "blocking", "movablekeys"], (0, 0, 0), ["write", "list", "slow", "blocking"],
                 "list", "Pop elements from a list, or block until one is available", since: "7.0.0",
                 complexity: "O(N+M) where N is the number of provided keys and M is the number of elements "
                     + "returned.", blmpop),
            spec("bzpopmin", -3, ["write", "noscript", "blocking", "fast"], (1, -2, 1),
                 ["write", "sortedset", "fast", "blocking"], "sorted-set",
                 "Remove and return the member with the lowest score from one or more sorted sets, or block until "
                     + "one is available", since: "5.0.0",
                 complexity: "O(log(N)) with N being the number of elements in the sorted set.", bzpopmin),
            spec("bzpopmax", -3, ["write", "noscript", "blocking", "fast"], (1, -2, 1),
                 ["write", "sortedset", "fast", "blocking"], "sorted-set",
                 "Remove and return the member with the highest score from one or more sorted sets, or block until "
                     + "one is available", since: "5.0.0",
                 complexity: "O(log(N)) with N being the number of elements in the sorted set.", bzpopmax),
            spec("bzmpop", -5, ["write", "blocking", "movablekeys"], (0, 0, 0),
                 ["write", "sortedset", "slow", "blocking"], "sorted-set",
                 "Remove and return members with scores in a sorted set or block until one is available",
                 since: "7.0.0",
                 complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of "
                     + "elements in the sorted set, and M being the number of elements popped.", bzmpop),
        ]
    }

    static let timeoutNotFloat = CommandError("ERR timeout is not a float or out of range")
    static let timeoutNegative = CommandError("ERR timeout is negative")

    /// Parses a blocking command's timeout in seconds as Redis 7.0 does: a long double (`0.5`, `1e-3`, `0x10`),
    /// times 1000 rounded up to whole milliseconds; 0 means forever.
    /// - Returns: The timeout in milliseconds.
    /// - Throws: `ERR timeout is not a float or out of range` for text that is not a number (or NaN), and
    ///   `ERR timeout is negative` for a negative value or one too large for a 64-bit millisecond count (as
    ///   Redis's conversion to `long long` makes it negative).
    static func blockingTimeout(_ argument: ByteBuffer) throws -> Int64 {
        guard let seconds = argument.withUnsafeReadableBytes({ RedisNumber.parseLongDouble($0) }) else {
            throw timeoutNotFloat
        }
        let milliseconds = (seconds * 1000).rounded(.up)
        guard milliseconds.isFinite, let value = Int64(exactly: milliseconds), value >= 0 else {
            throw timeoutNegative
        }
        return value
    }

    // MARK: Lists

    static func blpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try blockingListPop(engine, a, &c, fromTail: false)
    }

    static func brpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try blockingListPop(engine, a, &c, fromTail: true)
    }

    /// BLPOP / BRPOP: the first key (in argument order) holding a list is popped, replied as `[key, element]`
    /// and journaled as LPOP / RPOP; a key of another type met first is WRONGTYPE.
    static func blockingListPop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, fromTail: Bool)
        throws
    {
        let timeout = try blockingTimeout(a[a.count - 1])
        let keys = a[1..<(a.count - 1)]
        for key in keys {
            guard let item = try engine.popList(key, db: c.db, now: c.now, count: 1, fromTail: fromTail)?.first
            else { continue }
            c.journal = .commands([[fromTail ? JournalWords.rpop : JournalWords.lpop, key]])
            c.reply.writeRESPArrayHeader(2)
            c.reply.writeRESPBulkString(key)
            c.reply.writeRESPBulkString(item)
            return
        }
        engine.block(&c, keys: keys, operation: .listPop(fromTail: fromTail), timeout: timeout)
    }

    static func blmove(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let fromTail = try listEnd(a[3])
        let toTail = try listEnd(a[4])
        let timeout = try blockingTimeout(a[5])
        try blockingMove(engine, a, &c, fromTail: fromTail, toTail: toTail, timeout: timeout)
    }

    static func brpoplpush(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let timeout = try blockingTimeout(a[3])
        try blockingMove(engine, a, &c, fromTail: true, toTail: false, timeout: timeout)
    }

    /// BLMOVE / BRPOPLPUSH: moves at once when the source has data (WRONGTYPE if either key holds another type),
    /// journaled as LMOVE; blocks on the source otherwise (the destination's type is checked when served).
    static func blockingMove(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        fromTail: Bool,
        toTail: Bool,
        timeout: Int64
    ) throws {
        if let item = try engine.moveListItem(a[1], a[2], db: c.db, now: c.now, fromTail: fromTail, toTail: toTail) {
            c.journal = .commands([
                [
                    JournalWords.lmove, a[1], a[2], fromTail ? JournalWords.right : JournalWords.left,
                    toTail ? JournalWords.right : JournalWords.left,
                ]
            ])
            c.reply.writeRESPBulkString(item)
            return
        }
        let destination = ByteBuffer(bytes: a[2].readableBytesView)
        let destinationHash = destination.withUnsafeReadableBytes { engine.hasher.hash($0) }
        engine.block(
            &c,
            keys: a[1..<2],
            operation: .listMove(
                destination: destination,
                destinationHash: destinationHash,
                fromTail: fromTail,
                toTail: toTail
            ),
            timeout: timeout
        )
    }

    /// BLMPOP timeout numkeys key [key ...] LEFT|RIGHT [COUNT count]: numkeys, the direction and COUNT are checked
    /// before the timeout, as in Redis.
    static func blmpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let arguments = try MultiPopArguments(a, numKeysAt: 2, whereWords: ("left", "right"))
        let timeout = try blockingTimeout(a[1])
        for key in arguments.keys {
            guard
                let items = try engine.popList(
                    key, db: c.db, now: c.now, count: arguments.count, fromTail: arguments.fromEnd),
                !items.isEmpty
            else { continue }
            c.journal = .commands([
                [arguments.fromEnd ? JournalWords.rpop : JournalWords.lpop, key, JournalWords.number(Int64(items.count))]
            ])
            writeListMultiPopReply(key, items, into: &c.reply)
            return
        }
        engine.block(
            &c,
            keys: arguments.keys[...],
            operation: .listMultiPop(fromTail: arguments.fromEnd, count: arguments.count),
            timeout: timeout
        )
    }

    // MARK: Sorted sets

    static func bzpopmin(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try blockingSortedSetPop(engine, a, &c, max: false)
    }

    static func bzpopmax(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try blockingSortedSetPop(engine, a, &c, max: true)
    }

    /// BZPOPMIN / BZPOPMAX: replied as `[key, member, score]`, journaled as ZPOPMIN / ZPOPMAX.
    static func blockingSortedSetPop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, max: Bool) throws {
        let timeout = try blockingTimeout(a[a.count - 1])
        let keys = a[1..<(a.count - 1)]
        for key in keys {
            guard let element = try engine.popSortedSet(key, db: c.db, now: c.now, count: 1, max: max)?.first else {
                continue
            }
            c.journal = .commands([[max ? JournalWords.zpopmax : JournalWords.zpopmin, key]])
            c.reply.writeRESPArrayHeader(3)
            c.reply.writeRESPBulkString(key)
            c.reply.writeRESPBulkString(element.member)
            c.reply.writeRESPDouble(element.score, c.protocolVersion)
            return
        }
        engine.block(&c, keys: keys, operation: .sortedSetPop(max: max), timeout: timeout)
    }

    /// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count].
    static func bzmpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let arguments = try MultiPopArguments(a, numKeysAt: 2, whereWords: ("min", "max"))
        let timeout = try blockingTimeout(a[1])
        for key in arguments.keys {
            guard
                let popped = try engine.popSortedSet(
                    key, db: c.db, now: c.now, count: arguments.count, max: arguments.fromEnd),
                !popped.isEmpty
            else { continue }
            c.journal = .commands([
                [
                    arguments.fromEnd ? JournalWords.zpopmax : JournalWords.zpopmin, key,
                    JournalWords.number(Int64(popped.count)),
                ]
            ])
            writeSortedSetMultiPopReply(key, popped, c.protocolVersion, into: &c.reply)
            return
        }
        engine.block(
            &c,
            keys: arguments.keys[...],
            operation: .sortedSetMultiPop(max: arguments.fromEnd, count: arguments.count),
            timeout: timeout
        )
    }
}
