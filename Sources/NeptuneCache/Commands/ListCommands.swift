public import NIOCore
import NeptuneRESP

extension Engine {
    // MARK: Pushes

    static func pushGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, head: Bool, onlyExisting: Bool)
        throws
    {
        let length = try engine.writeObject(a[1], db: c.db, now: c.now, .list, as: ListObject.self, create: !onlyExisting) {
            list in
            for i in 2..<a.count {
                if head { list.pushFront(a[i].bytes) } else { list.pushBack(a[i].bytes) }
            }
            return list.count
        }
        if length == nil { c.journal = .nothing }
        c.reply.writeRESPInteger(length ?? 0)
    }

    static func lpush(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try pushGeneric(engine, a, &c, head: true, onlyExisting: false)
    }

    static func rpush(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try pushGeneric(engine, a, &c, head: false, onlyExisting: false)
    }

    static func lpushx(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try pushGeneric(engine, a, &c, head: true, onlyExisting: true)
    }

    static func rpushx(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try pushGeneric(engine, a, &c, head: false, onlyExisting: true)
    }

    // MARK: Pops and moves (reusable by the blocking variants)

    /// Removes up to `count` items from the head (or the tail, with `fromTail`) of the list at `key`, in pop
    /// order; nil when the key is absent. The caller holds (or this takes) the key's shard lock.
    /// - Throws: ``CommandError/wrongType``.
    public func popList(_ key: ByteBuffer, db: Int, now: Int64, count: Int, fromTail: Bool) throws -> [[UInt8]]? {
        try writeObject(key, db: db, now: now, .list, as: ListObject.self, create: false) { list in
            var popped: [[UInt8]] = []
            popped.reserveCapacity(Swift.min(count, list.count))
            while popped.count < count, let item = fromTail ? list.popBack() : list.popFront() {
                popped.append(item)
            }
            return popped
        }
    }

    /// LMOVE's effect: pops from `source` (head or tail) and pushes onto `destination` (head or tail), atomically
    /// under both keys' shard locks. Returns the moved item, or nil when `source` is absent.
    /// - Throws: ``CommandError/wrongType`` if either key holds another type (nothing changes then).
    public func moveListItem(
        _ source: ByteBuffer,
        _ destination: ByteBuffer,
        db: Int,
        now: Int64,
        fromTail: Bool,
        toTail: Bool
    ) throws -> [UInt8]? {
        try withTwoKeys(source, destination) { k1, h1, s1, k2, h2, s2 in
            let srcSlot = s1.find(db, k1, h1, now: now)
            guard srcSlot >= 0 else { return nil }
            guard s1.entry(s1.tables[db], srcSlot).type == .list else { throw CommandError.wrongType }
            let dstSlot = s2.find(db, k2, h2, now: now)
            if dstSlot >= 0 && s2.entry(s2.tables[db], dstSlot).type != .list { throw CommandError.wrongType }
            if k1.elementsEqual(k2) {
                return try writeObject(s1, k1, h1, db: db, now: now, .list, as: ListObject.self, create: false) { list in
                    let item = fromTail ? list.popBack()! : list.popFront()!
                    if toTail { list.pushBack(item) } else { list.pushFront(item) }
                    return item
                }
            }
            let item = try writeObject(s1, k1, h1, db: db, now: now, .list, as: ListObject.self, create: false) { list in
                fromTail ? list.popBack()! : list.popFront()!
            }!
            _ = try writeObject(s2, k2, h2, db: db, now: now, .list, as: ListObject.self, create: true) { list in
                if toTail { list.pushBack(item) } else { list.pushFront(item) }
            }
            return item
        }
    }

    static func popGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, fromTail: Bool) throws {
        if a.count > 3 { throw CommandError.wrongArity(fromTail ? "rpop" : "lpop") }
        let hasCount = a.count == 3
        let count = hasCount ? try positiveCount(a[2]) : 1
        var popped: [[UInt8]]?
        if hasCount && count == 0 {
            popped = try engine.readObject(a[1], c, .list, as: ListObject.self) { $0 == nil ? nil : [] }
        } else {
            popped = try engine.popList(a[1], db: c.db, now: c.now, count: count, fromTail: fromTail)
        }
        if popped?.isEmpty ?? true { c.journal = .nothing }
        guard let popped else {
            return hasCount ? c.reply.writeRESPNullArray(c.protocolVersion) : c.reply.writeRESPNull(c.protocolVersion)
        }
        if hasCount {
            c.reply.writeRESPArrayHeader(popped.count)
            for item in popped { c.reply.writeRESPBulkString(item) }
        } else {
            c.reply.writeRESPBulkString(popped[0])
        }
    }

    static func lpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try popGeneric(engine, a, &c, fromTail: false)
    }

    static func rpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try popGeneric(engine, a, &c, fromTail: true)
    }

    /// LEFT or RIGHT: whether it means the tail.
    static func listEnd(_ argument: ByteBuffer) throws -> Bool {
        if argument.isCaseInsensitive("left") { return false }
        if argument.isCaseInsensitive("right") { return true }
        throw CommandError.syntax
    }

    static func lmoveGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, fromTail: Bool, toTail: Bool)
        throws
    {
        let item = try engine.moveListItem(a[1], a[2], db: c.db, now: c.now, fromTail: fromTail, toTail: toTail)
        guard let item else {
            c.journal = .nothing
            return c.reply.writeRESPNull(c.protocolVersion)
        }
        c.reply.writeRESPBulkString(item)
    }

    static func lmove(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let fromTail = try listEnd(a[3])
        let toTail = try listEnd(a[4])
        try lmoveGeneric(engine, a, &c, fromTail: fromTail, toTail: toTail)
    }

    static func rpoplpush(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try lmoveGeneric(engine, a, &c, fromTail: true, toTail: false)
    }

    static func lmpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let arguments = try MultiPopArguments(a, numKeysAt: 1, whereWords: ("left", "right"))
        for key in arguments.keys {
            guard
                let popped = try engine.popList(key, db: c.db, now: c.now, count: arguments.count,
                                                fromTail: arguments.fromEnd)
            else { continue }
            c.journal = .commands([
                [arguments.fromEnd ? JournalWords.rpop : JournalWords.lpop, key, JournalWords.number(Int64(popped.count))]
            ])
            c.reply.writeRESPArrayHeader(2)
            c.reply.writeRESPBulkString(key)
            c.reply.writeRESPArrayHeader(popped.count)
            for item in popped { c.reply.writeRESPBulkString(item) }
            return
        }
        c.journal = .nothing
        c.reply.writeRESPNullArray(c.protocolVersion)
    }

    // MARK: Reads

    static func llen(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .list, as: ListObject.self) { c.reply.writeRESPInteger($0?.count ?? 0) }
    }

    static func lindex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .list, as: ListObject.self) { list in
            guard let list else { return c.reply.writeRESPNull(c.protocolVersion) }
            let index = try integer(a[2])  // parsed after the key's type check, as in Redis
            let i = index < 0 ? Int64(list.count) + index : index
            guard i >= 0 && i < Int64(list.count) else { return c.reply.writeRESPNull(c.protocolVersion) }
            c.reply.writeRESPBulkString(list[Int(i)])
        }
    }

    static func lrange(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let start = try integer(a[2])
        let end = try integer(a[3])
        try engine.readObject(a[1], c, .list, as: ListObject.self) { list in
            guard let list else { return c.reply.writeRESPArrayHeader(0) }
            let range = rankWindow(start, end, length: list.count)
            c.reply.writeRESPArrayHeader(range.count)
            for i in range { c.reply.writeRESPBulkString(list[i]) }
        }
    }

    static func lpos(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        var rank: Int64 = 1
        var count: Int64 = -1
        var maxLength: Int64 = 0
        var j = 3
        while j < a.count {
            let more = j < a.count - 1
            if a[j].isCaseInsensitive("rank") && more {
                rank = try integer(a[j + 1])
                if rank == 0 {
                    throw CommandError(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... "
                            + "or use negative to start from the end of the list"
                    )
                }
            } else if a[j].isCaseInsensitive("count") && more {
                let message = CommandError("ERR COUNT can't be negative")
                count = try integer(a[j + 1], message)
                guard count >= 0 else { throw message }
            } else if a[j].isCaseInsensitive("maxlen") && more {
                let message = CommandError("ERR MAXLEN can't be negative")
                maxLength = try integer(a[j + 1], message)
                guard maxLength >= 0 else { throw message }
            } else {
                throw CommandError.syntax
            }
            j += 2
        }
        let element = a[2].bytes
        try engine.readObject(a[1], c, .list, as: ListObject.self) { list in
            guard let list else {
                return count != -1 ? c.reply.writeRESPArrayHeader(0) : c.reply.writeRESPNull(c.protocolVersion)
            }
            let fromTail = rank < 0
            // Redis negates the rank in a C long: LONG_MIN stays negative and matches the first hit from the tail.
            var skip = rank == .min ? 0 : rank.magnitude - 1
            var matches: [Int] = []
            var examined: Int64 = 0
            var i = fromTail ? list.count - 1 : 0
            while i >= 0 && i < list.count && (maxLength == 0 || examined < maxLength) {
                if list[i] == element {
                    if skip == 0 {
                        matches.append(i)
                        if count != 0 && Int64(matches.count) >= max(count, 1) { break }
                    } else {
                        skip -= 1
                    }
                }
                examined += 1
                i += fromTail ? -1 : 1
            }
            if count != -1 {
                c.reply.writeRESPArrayHeader(matches.count)
                for m in matches { c.reply.writeRESPInteger(m) }
            } else if let first = matches.first {
                c.reply.writeRESPInteger(first)
            } else {
                c.reply.writeRESPNull(c.protocolVersion)
            }
        }
    }

    // MARK: Changes in the middle

    static func lset(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        // The key and its type are checked before the index, as in Redis.
        let done: Void? = try engine.writeObject(a[1], db: c.db, now: c.now, .list, as: ListObject.self, create: false) {
            list in
            let index = try integer(a[2])
            let i = index < 0 ? Int64(list.count) + index : index
            guard i >= 0 && i < Int64(list.count) else { throw CommandError("ERR index out of range") }
            list[Int(i)] = a[3].bytes
        }
        guard done != nil else { throw CommandError.noSuchKey }
        c.reply.writeRESPSimpleString("OK")
    }

    static func ltrim(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let start = try integer(a[2])
        let end = try integer(a[3])
        let removed = try engine.writeObject(a[1], db: c.db, now: c.now, .list, as: ListObject.self, create: false) {
            list in
            let before = list.count
            let range = rankWindow(start, end, length: list.count)
            if range.count != before { list.trim(to: range) }
            return before - list.count
        } ?? 0
        if removed == 0 { c.journal = .nothing }
        c.reply.writeRESPSimpleString("OK")
    }

    static func lrem(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let limit = try integer(a[2])
        let element = a[3].bytes
        let removed = try engine.writeObject(a[1], db: c.db, now: c.now, .list, as: ListObject.self, create: false) {
            list in list.removeAll(element, limit: Int(clamping: limit))
        } ?? 0
        if removed == 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(removed)
    }

    static func linsert(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let after: Bool
        if a[2].isCaseInsensitive("after") {
            after = true
        } else if a[2].isCaseInsensitive("before") {
            after = false
        } else {
            throw CommandError.syntax
        }
        let pivot = a[3].bytes
        let result = try engine.writeObject(a[1], db: c.db, now: c.now, .list, as: ListObject.self, create: false) {
            list -> Int in
            guard let i = (0..<list.count).first(where: { list[$0] == pivot }) else { return -1 }
            list.insert(a[4].bytes, at: after ? i + 1 : i)
            return list.count
        } ?? 0
        if result <= 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(result)
    }
}

extension JournalWords {
    static let lpop = ByteBuffer(string: "LPOP")
    static let rpop = ByteBuffer(string: "RPOP")
}
