import NIOCore
import NeptuneRESP

extension Engine {
    // MARK: Single-set commands

    static func sadd(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let limits = engine.collectionLimits
        let added = try engine.writeObject(a[1], db: c.db, now: c.now, .set, as: SetObject.self, create: true) { set in
            var added = 0
            for i in 2..<a.count where a[i].withUnsafeReadableBytes({ set.add($0, limits: limits) }) { added += 1 }
            return added
        } ?? 0
        if added == 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(added)
    }

    static func srem(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let removed = try engine.writeObject(a[1], db: c.db, now: c.now, .set, as: SetObject.self, create: false) { set in
            var removed = 0
            for i in 2..<a.count {
                if a[i].withUnsafeReadableBytes({ set.remove($0) }) { removed += 1 }
                if set.count == 0 { break }
            }
            return removed
        } ?? 0
        if removed == 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(removed)
    }

    static func smembers(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
            writeSet(set?.allMembers ?? [], &c)
        }
    }

    static func writeSet(_ members: [[UInt8]], _ c: inout CommandContext) {
        c.reply.writeRESPSetHeader(members.count, c.protocolVersion)
        for m in members { c.reply.writeRESPBulkString(m) }
    }

    static func sismember(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
            c.reply.writeRESPInteger(a[2].withUnsafeReadableBytes { set?.contains($0) ?? false } ? 1 : 0)
        }
    }

    static func smismember(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
            c.reply.writeRESPArrayHeader(a.count - 2)
            for i in 2..<a.count {
                c.reply.writeRESPInteger(a[i].withUnsafeReadableBytes { set?.contains($0) ?? false } ? 1 : 0)
            }
        }
    }

    static func scard(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
            c.reply.writeRESPInteger(set?.count ?? 0)
        }
    }

    /// Removes and returns up to `count` random members of the set at `key` (all of them when `count` reaches the
    /// size); nil when the key is absent. Shared by SPOP and reusable by other callers.
    /// - Throws: ``CommandError/wrongType``.
    func popRandomMembers(_ key: ByteBuffer, db: Int, now: Int64, count: Int) throws -> [[UInt8]]? {
        try writeObject(key, db: db, now: now, .set, as: SetObject.self, create: false) { set in
            if count >= set.count {
                let all = set.allMembers
                for m in all { set.remove(m) }
                return all
            }
            var popped: [[UInt8]] = []
            popped.reserveCapacity(count)
            for _ in 0..<count {
                let m = set.randomMember()
                set.remove(m)
                popped.append(m)
            }
            return popped
        }
    }

    static func spop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        if a.count > 3 { throw CommandError.syntax }
        let withCount = a.count == 3
        let count = withCount ? try positiveCount(a[2]) : 1
        // Type and existence come before a zero count is served.
        let popped: [[UInt8]]?
        if count == 0 {
            try engine.readObject(a[1], c, .set, as: SetObject.self) { _ in }
            popped = []
        } else {
            popped = try engine.popRandomMembers(a[1], db: c.db, now: c.now, count: count)
        }
        let members = popped ?? []
        if members.isEmpty {
            c.journal = .nothing
        } else {
            c.journal = .commands([[JournalWords.srem, a[1]] + members.map { ByteBuffer(bytes: $0) }])
        }
        if withCount {
            writeSet(members, &c)
        } else if let m = members.first {
            c.reply.writeRESPBulkString(m)
        } else {
            c.reply.writeRESPNull(c.protocolVersion)
        }
    }

    static func srandmember(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        if a.count > 3 { throw CommandError.syntax }
        guard a.count == 3 else {
            return try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
                guard let set else { return c.reply.writeRESPNull(c.protocolVersion) }
                c.reply.writeRESPBulkString(set.randomMember())
            }
        }
        let l = try rangeLong(a[2], min: -Int64.max, max: Int64.max)
        try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
            guard let set, l != 0 else { return c.reply.writeRESPArrayHeader(0) }
            let count = Int(l.magnitude)
            var chosen: [[UInt8]]
            if l < 0 {
                chosen = (0..<count).map { _ in set.randomMember() }
            } else if count >= set.count {
                chosen = set.allMembers
            } else {
                chosen = (0..<set.count).shuffled().prefix(count).map { set.member(at: $0) }
            }
            c.reply.writeRESPArrayHeader(chosen.count)
            for m in chosen { c.reply.writeRESPBulkString(m) }
        }
    }

    static func smove(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let limits = engine.collectionLimits
        let db = c.db
        let now = c.now
        let moved: Bool = try engine.withTwoKeys(a[1], a[2]) { k1, h1, s1, k2, h2, s2 in
            let srcSlot = s1.find(db, k1, h1, now: now)
            guard srcSlot >= 0 else { return false }
            let dstSlot = s2.find(db, k2, h2, now: now)
            let src = s1.entry(s1.tables[db], srcSlot)
            guard src.type == .set else { throw CommandError.wrongType }
            if dstSlot >= 0 && s2.entry(s2.tables[db], dstSlot).type != .set { throw CommandError.wrongType }
            let member = a[3]
            if k1.elementsEqual(k2) {
                let isMember = member.withUnsafeReadableBytes { unsafeDowncast(src.object, to: SetObject.self).contains($0) }
                c.reply.writeRESPInteger(isMember ? 1 : 0)
                c.journal = .nothing
                return true
            }
            let removed = try engine.writeObject(s1, k1, h1, db: db, now: now, .set, as: SetObject.self, create: false) {
                set in member.withUnsafeReadableBytes { set.remove($0) }
            }
            guard removed == true else { return false }
            _ = try engine.writeObject(s2, k2, h2, db: db, now: now, .set, as: SetObject.self, create: true) { set in
                member.withUnsafeReadableBytes { set.add($0, limits: limits) }
            }
            c.reply.writeRESPInteger(1)
            return true
        }
        if !moved {
            c.journal = .nothing
            c.reply.writeRESPInteger(0)
        }
    }

    // MARK: Multi-set algebra

    /// The sets at `keys` (nil for absent keys), read under their shards' locks.
    /// - Throws: ``CommandError/wrongType`` if any key holds another type.
    func sets(_ keys: ArraySlice<ByteBuffer>, _ c: CommandContext) throws -> [SetObject?] {
        var result: [SetObject?] = []
        for key in keys {
            result.append(try readObject(key, c, .set, as: SetObject.self) { $0 })
        }
        return result
    }

    enum SetOperation { case union, difference }

    /// Members of the intersection of `sets`, stopping after `limit` (0: no limit).
    static func intersect(_ sets: [SetObject?], limit: Int = 0) -> [[UInt8]] {
        guard !sets.contains(where: { $0 == nil }) else { return [] }
        let ordered = sets.map { $0! }.sorted { $0.count < $1.count }
        var result: [[UInt8]] = []
        let smallest = ordered[0]
        for i in 0..<smallest.count {
            let m = smallest.member(at: i)
            if ordered.dropFirst().allSatisfy({ $0.contains(m) }) {
                result.append(m)
                if limit > 0 && result.count >= limit { break }
            }
        }
        return result
    }

    static func unionOrDifference(_ sets: [SetObject?], _ operation: SetOperation) -> [[UInt8]] {
        switch operation {
        case .union:
            var seen: Set<[UInt8]> = []
            var result: [[UInt8]] = []
            for set in sets {
                guard let set else { continue }
                for i in 0..<set.count {
                    let m = set.member(at: i)
                    if seen.insert(m).inserted { result.append(m) }
                }
            }
            return result
        case .difference:
            guard let first = sets.first, let first else { return [] }
            var result: [[UInt8]] = []
            for i in 0..<first.count {
                let m = first.member(at: i)
                if !sets.dropFirst().contains(where: { $0?.contains(m) ?? false }) { result.append(m) }
            }
            return result
        }
    }

    static func setAlgebra(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        store: Bool,
        _ compute: ([SetObject?]) -> [[UInt8]]
    ) throws {
        let keys = store ? a[2...] : a[1...]
        let context = c
        let members: [[UInt8]] = try engine.withShards(of: Array(a[1...])) {
            let members = compute(try engine.sets(keys, context))
            if store {
                let result = SetObject()
                let limits = engine.collectionLimits
                for m in members { _ = result.add(m, limits: limits) }
                engine.replaceValue(a[1], db: context.db, now: context.now, with: result)
            }
            return members
        }
        if store {
            c.reply.writeRESPInteger(members.count)
        } else {
            writeSet(members, &c)
        }
    }

    static func sinter(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setAlgebra(engine, a, &c, store: false) { intersect($0) }
    }

    static func sinterstore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setAlgebra(engine, a, &c, store: true) { intersect($0) }
    }

    static func sunion(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setAlgebra(engine, a, &c, store: false) { unionOrDifference($0, .union) }
    }

    static func sunionstore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setAlgebra(engine, a, &c, store: true) { unionOrDifference($0, .union) }
    }

    static func sdiff(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setAlgebra(engine, a, &c, store: false) { unionOrDifference($0, .difference) }
    }

    static func sdiffstore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try setAlgebra(engine, a, &c, store: true) { unionOrDifference($0, .difference) }
    }

    /// Parses `numkeys key [key ...]` and the options after it, as SINTERCARD, ZINTERCARD, LMPOP and ZMPOP do.
    static func numKeys(_ a: [ByteBuffer], at index: Int) throws -> Int {
        let message = CommandError("ERR numkeys should be greater than 0")
        let n = try integer(a[index], message)
        guard n >= 1 else { throw message }
        guard n <= a.count - index - 1 else { throw CommandError("ERR Number of keys can't be greater than number of args") }
        return Int(n)
    }

    static func sintercard(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let n = try numKeys(a, at: 1)
        var limit = 0
        var j = 2 + n
        while j < a.count {
            if a[j].isCaseInsensitive("limit") && j + 1 < a.count {
                limit = try cardinalityLimit(a[j + 1])
                j += 2
            } else {
                throw CommandError.syntax
            }
        }
        let keys = a[2..<2 + n]
        let context = c
        let count = try engine.withShards(of: Array(keys)) {
            intersect(try engine.sets(keys, context), limit: limit).count
        }
        c.reply.writeRESPInteger(count)
    }

    static func sscan(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let cursor = try scanCursor(a[2])
        try engine.readObject(a[1], c, .set, as: SetObject.self) { set in
            guard let set else { return writeScanReply(0, [], &c) }
            let options = try ScanOptions(a, from: 3)
            var out: [[UInt8]] = []
            var next: UInt64 = 0
            var range = 0..<set.count
            if !set.isIntset {
                let window = scanWindow(total: set.count, cursor: cursor, count: options.count)
                range = window.range
                next = window.next
            }
            for i in range {
                let m = set.member(at: i)
                if m.withUnsafeBytes({ options.matches($0) }) { out.append(m) }
            }
            writeScanReply(next, out, &c)
        }
    }
}

extension JournalWords {
    static let srem = ByteBuffer(string: "SREM")
}
