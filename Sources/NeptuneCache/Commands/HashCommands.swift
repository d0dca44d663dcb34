import NIOCore
import NeptuneRESP

extension Engine {
    // MARK: Writes

    static func hset(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count % 2 == 0 else { throw CommandError.wrongArity(a[0].isCaseInsensitive("hmset") ? "hmset" : "hset") }
        let limits = engine.collectionLimits
        let db = c.db
        let added = try engine.writeObject(a[1], db: db, now: c.now, .hash, as: HashObject.self, create: true) { hash in
            var added = 0
            var i = 2
            while i < a.count {
                let isNew = a[i].withUnsafeReadableBytes { f in
                    a[i + 1].withUnsafeReadableBytes { v in hash.set(f, v, limits: limits) }
                }
                if isNew { added += 1 }
                i += 2
            }
            return added
        }
        if a[0].isCaseInsensitive("hmset") {
            c.reply.writeRESPSimpleString("OK")
        } else {
            c.reply.writeRESPInteger(added ?? 0)
        }
    }

    static func hsetnx(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let limits = engine.collectionLimits
        let added = try engine.writeObject(a[1], db: c.db, now: c.now, .hash, as: HashObject.self, create: true) { hash in
            a[2].withUnsafeReadableBytes { f in
                if hash.contains(f) { return false }
                return a[3].withUnsafeReadableBytes { v in hash.set(f, v, limits: limits) }
            }
        }
        if added != true { c.journal = .nothing }
        c.reply.writeRESPInteger(added == true ? 1 : 0)
    }

    static func hdel(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let removed = try engine.writeObject(a[1], db: c.db, now: c.now, .hash, as: HashObject.self, create: false) { hash in
            var removed = 0
            for i in 2..<a.count {
                if a[i].withUnsafeReadableBytes({ hash.remove($0) }) { removed += 1 }
                if hash.isEmpty { break }
            }
            return removed
        } ?? 0
        if removed == 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(removed)
    }

    static func hincrby(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let increment = try integer(a[3])
        let limits = engine.collectionLimits
        let result = try engine.writeObject(a[1], db: c.db, now: c.now, .hash, as: HashObject.self, create: true) { hash in
            try a[2].withUnsafeReadableBytes { f -> Int64 in
                var current: Int64 = 0
                if let value = hash.value(f) {
                    guard let v = RedisNumber.parseInt64(value) else {
                        throw CommandError("ERR hash value is not an integer")
                    }
                    current = v
                }
                let (sum, overflow) = current.addingReportingOverflow(increment)
                guard !overflow else { throw CommandError.overflow }
                RedisNumber.formatInt64(sum).withUnsafeBytes { v in _ = hash.set(f, v, limits: limits) }
                return sum
            }
        }
        c.reply.writeRESPInteger(Int(result!))
    }

    static func hincrbyfloat(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let increment = a[3].withUnsafeReadableBytes({ RedisNumber.parseLongDouble($0) }) else {
            throw CommandError.notFloat
        }
        if increment.isNaN || increment.isInfinite { throw CommandError("ERR value is NaN or Infinity") }
        let limits = engine.collectionLimits
        let text = try engine.writeObject(a[1], db: c.db, now: c.now, .hash, as: HashObject.self, create: true) { hash in
            try a[2].withUnsafeReadableBytes { f -> [UInt8] in
                var current: Float80 = 0
                if let value = hash.value(f) {
                    guard let v = RedisNumber.parseLongDouble(value) else {
                        throw CommandError("ERR hash value is not a float")
                    }
                    current = v
                }
                let result = current + increment
                guard !result.isNaN && !result.isInfinite else {
                    throw CommandError("ERR increment would produce NaN or Infinity")
                }
                let text = RedisNumber.formatLongDouble(result, humanFriendly: true)
                text.withUnsafeBytes { v in _ = hash.set(f, v, limits: limits) }
                return text
            }
        }!
        // Journaled as the value it produced, as Redis propagates HSET.
        c.journal = .commands([[JournalWords.hset, a[1], a[2], ByteBuffer(bytes: text)]])
        c.reply.writeRESPBulkString(text)
    }

    // MARK: Reads

    static func hget(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            let found: Void? = a[2].withUnsafeReadableBytes { f in
                hash?.withValue(f) { c.reply.writeRESPBulkString($0) }
            }
            if found == nil { c.reply.writeRESPNull(c.protocolVersion) }
        }
    }

    static func hmget(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            c.reply.writeRESPArrayHeader(a.count - 2)
            for i in 2..<a.count {
                let found: Void? = a[i].withUnsafeReadableBytes { f in
                    hash?.withValue(f) { c.reply.writeRESPBulkString($0) }
                }
                if found == nil { c.reply.writeRESPNull(c.protocolVersion) }
            }
        }
    }

    static func hexists(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            let found = a[2].withUnsafeReadableBytes { hash?.contains($0) ?? false }
            c.reply.writeRESPInteger(found ? 1 : 0)
        }
    }

    static func hlen(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            c.reply.writeRESPInteger(hash?.count ?? 0)
        }
    }

    static func hstrlen(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            let length = a[2].withUnsafeReadableBytes { f in hash?.withValue(f) { $0.count } } ?? nil
            c.reply.writeRESPInteger(length ?? 0)
        }
    }

    /// HKEYS, HVALS, HGETALL.
    static func hgetallGeneric(_ a: [ByteBuffer], _ c: inout CommandContext, _ engine: Engine, keys: Bool, values: Bool)
        throws
    {
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            let n = hash?.count ?? 0
            if keys && values {
                c.reply.writeRESPMapHeader(n, c.protocolVersion)
            } else {
                c.reply.writeRESPArrayHeader(n)
            }
            hash?.forEach { f, v in
                if keys { c.reply.writeRESPBulkString(f) }
                if values { c.reply.writeRESPBulkString(v) }
            }
        }
    }

    static func hkeys(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try hgetallGeneric(a, &c, engine, keys: true, values: false)
    }

    static func hvals(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try hgetallGeneric(a, &c, engine, keys: false, values: true)
    }

    static func hgetall(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try hgetallGeneric(a, &c, engine, keys: true, values: true)
    }

    static func hrandfield(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count >= 3 else {
            return try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
                guard let hash else { return c.reply.writeRESPNull(c.protocolVersion) }
                let pairs = hash.pairs
                c.reply.writeRESPBulkString(pairs[Int.random(in: 0..<pairs.count)].field)
            }
        }
        let l = try rangeLong(a[2], min: -Int64.max, max: Int64.max)
        var withValues = false
        if a.count > 4 || (a.count == 4 && !a[3].isCaseInsensitive("withvalues")) {
            throw CommandError.syntax
        } else if a.count == 4 {
            withValues = true
            if l < -Int64.max / 2 || l > Int64.max / 2 { throw CommandError("ERR value is out of range") }
        }
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            guard let hash else { return c.reply.writeRESPArrayHeader(0) }
            let unique = l >= 0
            let count = Int(l.magnitude)
            if count == 0 { return c.reply.writeRESPArrayHeader(0) }
            let pairs = hash.pairs
            var chosen: [Int]
            if !unique || count == 1 {
                chosen = (0..<count).map { _ in Int.random(in: 0..<pairs.count) }
            } else if count >= pairs.count {
                chosen = Array(0..<pairs.count)
            } else {
                chosen = Array((0..<pairs.count).shuffled().prefix(count))
            }
            let v3 = c.protocolVersion == .v3
            c.reply.writeRESPArrayHeader(withValues && !v3 ? chosen.count * 2 : chosen.count)
            for i in chosen {
                if withValues && v3 { c.reply.writeRESPArrayHeader(2) }
                c.reply.writeRESPBulkString(pairs[i].field)
                if withValues { c.reply.writeRESPBulkString(pairs[i].value) }
            }
        }
    }

    /// Redis's getRangeLongFromObjectOrReply with no custom message.
    static func rangeLong(_ argument: ByteBuffer, min: Int64, max: Int64) throws -> Int64 {
        let value = try integer(argument)
        guard value >= min && value <= max else {
            throw CommandError("ERR value is out of range, value must between \(min) and \(max)")
        }
        return value
    }

    static func hscan(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let cursor = try scanCursor(a[2])
        try engine.readObject(a[1], c, .hash, as: HashObject.self) { hash in
            guard let hash else { return writeScanReply(0, [], &c) }
            let options = try ScanOptions(a, from: 3)
            var out: [[UInt8]] = []
            var next: UInt64 = 0
            if let table = hash.table?.dictionary {
                let window = scanWindow(total: table.count, cursor: cursor, count: options.count)
                next = window.next
                var index = table.index(table.startIndex, offsetBy: window.range.lowerBound)
                for _ in window.range {
                    let (f, v) = table[index]
                    if f.withUnsafeBytes({ options.matches($0) }) {
                        out.append(f)
                        out.append(v)
                    }
                    index = table.index(after: index)
                }
            } else {
                hash.forEach { f, v in
                    if options.matches(f) {
                        out.append(Array(f))
                        out.append(Array(v))
                    }
                }
            }
            writeScanReply(next, out, &c)
        }
    }
}

extension JournalWords {
    static let hset = ByteBuffer(string: "HSET")
}
