public import NIOCore
import NeptuneRESP

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A score bound of ZRANGEBYSCORE and friends: `1.5`, `(1.5`, `-inf`, `+inf`.
struct ScoreBound {
    var value: Double
    var exclusive: Bool

    /// Parses as Redis's zslParseRange: C `strtod` over the text up to its first NUL, which must be consumed.
    init?(_ argument: ByteBuffer) {
        var bytes = Array(argument.readableBytesView.prefix { $0 != 0 })
        exclusive = bytes.first == UInt8(ascii: "(")
        if exclusive { bytes.removeFirst() }
        bytes.append(0)
        let parsed: Double? = bytes.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { text in
                var end: UnsafeMutablePointer<CChar>?
                let v = strtod(text.baseAddress!, &end)
                guard let end, end.pointee == 0, !v.isNaN else { return nil }
                return v
            }
        }
        guard let parsed else { return nil }
        value = parsed
    }
}

/// A lexicographic bound of ZRANGEBYLEX and friends: `-`, `+`, `[member`, `(member`.
enum LexBound {
    case minimum
    case maximum
    case value([UInt8], exclusive: Bool)

    init?(_ argument: ByteBuffer) {
        let bytes = Array(argument.readableBytesView)
        guard let first = bytes.first else { return nil }
        switch first {
        case UInt8(ascii: "+") where bytes.count == 1: self = .maximum
        case UInt8(ascii: "-") where bytes.count == 1: self = .minimum
        case UInt8(ascii: "("): self = .value(Array(bytes.dropFirst()), exclusive: true)
        case UInt8(ascii: "["): self = .value(Array(bytes.dropFirst()), exclusive: false)
        default: return nil
        }
    }
}

extension Engine {
    // MARK: Ranges as rank windows

    /// Ranks `[start, end)` of the elements within a score range.
    static func scoreWindow(_ zset: SortedSetObject, _ min: ScoreBound, _ max: ScoreBound) -> Range<Int> {
        if min.value > max.value || (min.value == max.value && (min.exclusive || max.exclusive)) { return 0..<0 }
        let start = zset.countBefore { s, _ in min.exclusive ? s <= min.value : s < min.value }
        let end = zset.countBefore { s, _ in max.exclusive ? s < max.value : s <= max.value }
        return start..<Swift.max(start, end)
    }

    /// Ranks `[start, end)` of the elements within a lexicographic range (meaningful when scores are equal).
    ///
    /// When scores differ the order is not lexicographic and Redis's answer depends on how it searches: a listpack
    /// is scanned linearly from the head (or, `reverse`, from the tail) to the first member inside the bound, then
    /// members are taken while they stay inside the other bound. Small sorted sets reproduce that exactly; a skiplist
    /// is searched by rank, as Redis's skiplist is.
    static func lexWindow(_ zset: SortedSetObject, _ min: LexBound, _ max: LexBound, reverse: Bool = false)
        -> Range<Int>
    {
        func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
            a.withUnsafeBytes { x in b.withUnsafeBytes { [UInt8].compareBytes(x, $0) } }
        }
        func aboveMin(_ m: [UInt8]) -> Bool {
            switch min {
            case .minimum: true
            case .maximum: false
            case .value(let v, let exclusive): exclusive ? compare(m, v) > 0 : compare(m, v) >= 0
            }
        }
        func belowMax(_ m: [UInt8]) -> Bool {
            switch max {
            case .maximum: true
            case .minimum: false
            case .value(let v, let exclusive): exclusive ? compare(m, v) < 0 : compare(m, v) <= 0
            }
        }
        // Redis's empty-range test, then whether the range can overlap the first and last members at all.
        switch (min, max) {
        case (.maximum, _), (_, .minimum): return 0..<0
        case (.value(let a, let ax), .value(let b, let bx)):
            let order = compare(a, b)
            if order > 0 || (order == 0 && (ax || bx)) { return 0..<0 }
        default: break
        }
        let n = zset.count
        guard n > 0,
            let first = zset.elements(fromRank: 0, count: 1).first,
            let last = zset.elements(fromRank: n - 1, count: 1).first,
            aboveMin(last.member), belowMax(first.member)
        else { return 0..<0 }
        if !zset.isPacked {
            let start = zset.countBefore { _, m in !aboveMin(m) }
            let end = zset.countBefore { _, m in belowMax(m) }
            return start..<Swift.max(start, end)
        }
        let all = zset.allElements
        if reverse {
            guard let hi = all.lastIndex(where: { belowMax($0.member) }), aboveMin(all[hi].member) else { return 0..<0 }
            var lo = hi
            while lo > 0 && aboveMin(all[lo - 1].member) { lo -= 1 }
            return lo..<(hi + 1)
        }
        guard let lo = all.firstIndex(where: { aboveMin($0.member) }), belowMax(all[lo].member) else { return 0..<0 }
        var hi = lo + 1
        while hi < all.count && belowMax(all[hi].member) { hi += 1 }
        return lo..<hi
    }

    /// Redis's rank sanitizing (ZRANGE, ZREMRANGEBYRANK): negative ranks count from the end.
    static func rankWindow(_ start: Int64, _ end: Int64, length: Int) -> Range<Int> {
        let llen = Int64(length)
        var start = start
        var end = end
        if start < 0 { start = llen + start }
        if end < 0 { end = llen + end }
        if start < 0 { start = 0 }
        if start > end || start >= llen { return 0..<0 }
        if end >= llen { end = llen - 1 }
        return Int(start)..<Int(end + 1)
    }

    // MARK: Replies

    /// Writes elements with or without scores: RESP2 flat, RESP3 as [member, score] pairs.
    static func writeElements(_ elements: [SortedSetObject.Element], withScores: Bool, _ c: inout CommandContext) {
        let v3 = c.protocolVersion == .v3
        c.reply.writeRESPArrayHeader(withScores && !v3 ? elements.count * 2 : elements.count)
        for e in elements {
            if withScores && v3 { c.reply.writeRESPArrayHeader(2) }
            c.reply.writeRESPBulkString(e.member)
            if withScores { c.reply.writeRESPDouble(e.score, c.protocolVersion) }
        }
    }

    // MARK: ZADD ZINCRBY

    static func zadd(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zaddGeneric(engine, a, &c, incrementOnly: false)
    }

    static func zincrby(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zaddGeneric(engine, [a[0], a[1], ByteBuffer(string: "incr"), a[2], a[3]], &c, incrementOnly: true)
    }

    static func zaddGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, incrementOnly: Bool) throws {
        var nx = false
        var xx = false
        var ch = false
        var incr = false
        var gt = false
        var lt = false
        var scoreIndex = 2
        while scoreIndex < a.count {
            let opt = a[scoreIndex]
            if opt.isCaseInsensitive("nx") {
                nx = true
            } else if opt.isCaseInsensitive("xx") {
                xx = true
            } else if opt.isCaseInsensitive("ch") {
                ch = true
            } else if opt.isCaseInsensitive("incr") {
                incr = true
            } else if opt.isCaseInsensitive("gt") {
                gt = true
            } else if opt.isCaseInsensitive("lt") {
                lt = true
            } else {
                break
            }
            scoreIndex += 1
        }
        let elements = a.count - scoreIndex
        if elements % 2 != 0 || elements == 0 { throw CommandError.syntax }
        if nx && xx { throw CommandError("ERR XX and NX options at the same time are not compatible") }
        if (gt && nx) || (lt && nx) || (gt && lt) {
            throw CommandError("ERR GT, LT, and/or NX options at the same time are not compatible")
        }
        if incr && elements > 2 { throw CommandError("ERR INCR option supports a single increment-element pair") }
        var scores: [Double] = []
        for j in stride(from: scoreIndex, to: a.count, by: 2) { scores.append(try double(a[j])) }
        let limits = engine.collectionLimits
        let nanError = CommandError("ERR resulting score is not a number (NaN)")
        var added = 0
        var updated = 0
        var processed = 0
        var lastScore = 0.0
        _ = try engine.writeObject(a[1], db: c.db, now: c.now, .zset, as: SortedSetObject.self, create: !xx) { zset in
            if zset.count == 0 {
                // Redis sizes a new sorted set from the command's elements.
                var longest = 0
                for j in stride(from: scoreIndex + 1, to: a.count, by: 2) { longest = Swift.max(longest, a[j].readableBytes) }
                if elements / 2 > limits.zsetMaxListpackEntries || longest > limits.zsetMaxListpackValue {
                    zset.convertToSkiplist()
                }
            }
            for (i, j) in stride(from: scoreIndex + 1, to: a.count, by: 2).enumerated() {
                let member = a[j].bytes
                var score = scores[i]
                if let current = zset.score(member) {
                    if nx { continue }
                    if incr {
                        score += current
                        if score.isNaN { throw nanError }
                    }
                    if (lt && score >= current) || (gt && score <= current) { continue }
                    processed += 1
                    lastScore = score
                    if score != current {
                        zset.set(member, score, limits: limits)
                        updated += 1
                    }
                } else if !xx {
                    zset.set(member, score, limits: limits)
                    added += 1
                    processed += 1
                    lastScore = score
                }
            }
        }
        if added + updated == 0 { c.journal = .nothing }
        if incr {
            if processed > 0 {
                c.reply.writeRESPDouble(lastScore, c.protocolVersion)
            } else {
                c.reply.writeRESPNull(c.protocolVersion)
            }
        } else {
            c.reply.writeRESPInteger(ch ? added + updated : added)
        }
    }

    // MARK: Removal

    static func zrem(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let removed = try engine.writeObject(a[1], db: c.db, now: c.now, .zset, as: SortedSetObject.self, create: false) {
            zset in
            var removed = 0
            for i in 2..<a.count {
                if zset.remove(a[i].bytes) { removed += 1 }
                if zset.count == 0 { break }
            }
            return removed
        } ?? 0
        if removed == 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(removed)
    }

    static func zremrangeGeneric(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        _ window: (SortedSetObject) -> Range<Int>
    ) throws {
        let removed = try engine.writeObject(a[1], db: c.db, now: c.now, .zset, as: SortedSetObject.self, create: false) {
            zset in zset.removeRanks(window(zset))
        } ?? 0
        if removed == 0 { c.journal = .nothing }
        c.reply.writeRESPInteger(removed)
    }

    static func zremrangebyrank(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let start = try integer(a[2])
        let end = try integer(a[3])
        try zremrangeGeneric(engine, a, &c) { rankWindow(start, end, length: $0.count) }
    }

    static func zremrangebyscore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let min = ScoreBound(a[2]), let max = ScoreBound(a[3]) else {
            throw CommandError("ERR min or max is not a float")
        }
        try zremrangeGeneric(engine, a, &c) { scoreWindow($0, min, max) }
    }

    static func zremrangebylex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let min = LexBound(a[2]), let max = LexBound(a[3]) else {
            throw CommandError("ERR min or max not valid string range item")
        }
        try zremrangeGeneric(engine, a, &c) { lexWindow($0, min, max) }
    }

    // MARK: Point reads

    static func zscore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            if let score = zset?.score(a[2].bytes) {
                c.reply.writeRESPDouble(score, c.protocolVersion)
            } else {
                c.reply.writeRESPNull(c.protocolVersion)
            }
        }
    }

    static func zmscore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            c.reply.writeRESPArrayHeader(a.count - 2)
            for i in 2..<a.count {
                if let score = zset?.score(a[i].bytes) {
                    c.reply.writeRESPDouble(score, c.protocolVersion)
                } else {
                    c.reply.writeRESPNull(c.protocolVersion)
                }
            }
        }
    }

    static func zcard(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { c.reply.writeRESPInteger($0?.count ?? 0) }
    }

    static func zcount(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let min = ScoreBound(a[2]), let max = ScoreBound(a[3]) else {
            throw CommandError("ERR min or max is not a float")
        }
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            c.reply.writeRESPInteger(zset.map { scoreWindow($0, min, max).count } ?? 0)
        }
    }

    static func zlexcount(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard let min = LexBound(a[2]), let max = LexBound(a[3]) else {
            throw CommandError("ERR min or max not valid string range item")
        }
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            c.reply.writeRESPInteger(zset.map { lexWindow($0, min, max).count } ?? 0)
        }
    }

    static func zrankGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, reverse: Bool) throws {
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            guard let zset, let rank = zset.rank(a[2].bytes) else { return c.reply.writeRESPNull(c.protocolVersion) }
            c.reply.writeRESPInteger(reverse ? zset.count - 1 - rank : rank)
        }
    }

    static func zrank(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrankGeneric(engine, a, &c, reverse: false)
    }

    static func zrevrank(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrankGeneric(engine, a, &c, reverse: true)
    }

    // MARK: ZRANGE family

    enum RangeType { case auto, rank, score, lex }
    enum RangeDirection { case auto, forward, reverse }

    /// Redis's zrangeGenericCommand: every ZRANGE form, ZRANGESTORE and the legacy BYSCORE/BYLEX/REV commands.
    static func zrangeGeneric(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        keyIndex: Int,
        store: Bool,
        type presetType: RangeType,
        direction presetDirection: RangeDirection
    ) throws {
        var type = presetType
        var direction = presetDirection
        var withScores = false
        var offset: Int64 = 0
        var limit: Int64 = -1
        var j = keyIndex + 3
        while j < a.count {
            let left = a.count - j - 1
            if !store && a[j].isCaseInsensitive("withscores") {
                withScores = true
            } else if a[j].isCaseInsensitive("limit") && left >= 2 {
                offset = try integer(a[j + 1])
                limit = try integer(a[j + 2])
                j += 2
            } else if direction == .auto && a[j].isCaseInsensitive("rev") {
                direction = .reverse
            } else if type == .auto && a[j].isCaseInsensitive("bylex") {
                type = .lex
            } else if type == .auto && a[j].isCaseInsensitive("byscore") {
                type = .score
            } else {
                throw CommandError.syntax
            }
            j += 1
        }
        if direction == .auto { direction = .forward }
        if type == .auto { type = .rank }
        if limit != -1 && type == .rank {
            throw CommandError("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")
        }
        if withScores && type == .lex {
            throw CommandError("ERR syntax error, WITHSCORES not supported in combination with BYLEX")
        }
        let reverse = direction == .reverse
        var minIndex = keyIndex + 1
        var maxIndex = keyIndex + 2
        if reverse && type != .rank { swap(&minIndex, &maxIndex) }
        var window: (SortedSetObject) -> Range<Int>
        switch type {
        case .rank, .auto:
            let start = try integer(a[minIndex])
            let end = try integer(a[maxIndex])
            window = { zset in
                let w = rankWindow(start, end, length: zset.count)
                // REV ranks count from the end.
                return reverse ? (zset.count - w.upperBound)..<(zset.count - w.lowerBound) : w
            }
        case .score:
            guard let min = ScoreBound(a[minIndex]), let max = ScoreBound(a[maxIndex]) else {
                throw CommandError("ERR min or max is not a float")
            }
            window = { scoreWindow($0, min, max) }
        case .lex:
            guard let min = LexBound(a[minIndex]), let max = LexBound(a[maxIndex]) else {
                throw CommandError("ERR min or max not valid string range item")
            }
            window = { lexWindow($0, min, max, reverse: reverse) }
        }
        let select: (SortedSetObject) -> [SortedSetObject.Element] = { zset in
            let w = window(zset)
            if w.isEmpty || offset < 0 { return [] }
            let skip = Int(clamping: offset)
            guard skip < w.count else { return [] }
            let available = w.count - skip
            let take = limit < 0 ? available : Swift.min(available, Int(clamping: limit))
            if reverse { return zset.elements(fromRank: w.upperBound - 1 - skip, count: take, reverse: true) }
            return zset.elements(fromRank: w.lowerBound + skip, count: take)
        }
        if store {
            let result = try engine.readObject(a[keyIndex], c, .zset, as: SortedSetObject.self) { zset in
                zset.map(select) ?? []
            }
            let stored = SortedSetObject()
            let limits = engine.collectionLimits
            for e in result { stored.set(e.member, e.score, limits: limits) }
            engine.replaceValue(a[1], db: c.db, now: c.now, with: stored)
            c.reply.writeRESPInteger(result.count)
            return
        }
        try engine.readObject(a[keyIndex], c, .zset, as: SortedSetObject.self) { zset in
            writeElements(zset.map(select) ?? [], withScores: withScores, &c)
        }
    }

    static func zrange(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 1, store: false, type: .auto, direction: .auto)
    }

    static func zrangestore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 2, store: true, type: .auto, direction: .auto)
    }

    static func zrevrange(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 1, store: false, type: .rank, direction: .reverse)
    }

    static func zrangebyscore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 1, store: false, type: .score, direction: .forward)
    }

    static func zrevrangebyscore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 1, store: false, type: .score, direction: .reverse)
    }

    static func zrangebylex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 1, store: false, type: .lex, direction: .forward)
    }

    static func zrevrangebylex(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zrangeGeneric(engine, a, &c, keyIndex: 1, store: false, type: .lex, direction: .reverse)
    }

    // MARK: Pops

    /// Removes up to `count` lowest (or highest, with `max`) elements of the sorted set at `key`, under its
    /// shard's lock, and returns them in pop order; nil when the key is absent. ZPOPMIN, ZPOPMAX and ZMPOP use it,
    /// and so can the blocking variants.
    /// - Throws: ``CommandError/wrongType``.
    public func popSortedSet(_ key: ByteBuffer, db: Int, now: Int64, count: Int, max: Bool) throws
        -> [(member: [UInt8], score: Double)]?
    {
        try writeObject(key, db: db, now: now, .zset, as: SortedSetObject.self, create: false) { zset in
            let n = Swift.min(count, zset.count)
            let popped = max ? zset.elements(fromRank: zset.count - 1, count: n, reverse: true)
                : zset.elements(fromRank: 0, count: n)
            zset.removeRanks(max ? (zset.count - n)..<zset.count : 0..<n)
            return popped.map { ($0.member, $0.score) }
        }
    }

    static func zpopGeneric(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext, max: Bool) throws {
        if a.count > 3 { throw CommandError.syntax }
        let count = a.count == 3 ? try positiveCount(a[2]) : 1
        var popped: [(member: [UInt8], score: Double)] = []
        if count > 0 {
            popped = try engine.popSortedSet(a[1], db: c.db, now: c.now, count: count, max: max) ?? []
        } else {
            try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { _ in }
        }
        if popped.isEmpty { c.journal = .nothing }
        let elements = popped.map { SortedSetObject.Element(member: $0.member, score: $0.score) }
        if a.count == 3 {
            writeElements(elements, withScores: true, &c)
        } else {
            c.reply.writeRESPArrayHeader(elements.count * 2)
            for e in elements {
                c.reply.writeRESPBulkString(e.member)
                c.reply.writeRESPDouble(e.score, c.protocolVersion)
            }
        }
    }

    static func zpopmin(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zpopGeneric(engine, a, &c, max: false)
    }

    static func zpopmax(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zpopGeneric(engine, a, &c, max: true)
    }

    /// The arguments of ZMPOP after `numkeys` (and of BZMPOP after its timeout): keys, MIN|MAX, COUNT.
    public struct MultiPopArguments: Sendable {
        public var keys: [ByteBuffer]
        /// MAX (ZMPOP) or RIGHT (LMPOP).
        public var fromEnd: Bool
        public var count: Int

        /// Parses `numkeys key [key ...] <where> [COUNT count]` starting at `index`; `whereWords` are the lower-case
        /// words for the start and the end (`min`/`max`, `left`/`right`).
        public init(_ a: [ByteBuffer], numKeysAt index: Int, whereWords: (StaticString, StaticString)) throws {
            let n = try Engine.integer(a[index], CommandError("ERR numkeys should be greater than 0"))
            guard n >= 1 else { throw CommandError("ERR numkeys should be greater than 0") }
            let whereIndex = index + 1 + Int(clamping: n)
            guard n < Int64(a.count), whereIndex < a.count else { throw CommandError.syntax }
            keys = Array(a[(index + 1)..<whereIndex])
            if a[whereIndex].isCaseInsensitive(whereWords.0) {
                fromEnd = false
            } else if a[whereIndex].isCaseInsensitive(whereWords.1) {
                fromEnd = true
            } else {
                throw CommandError.syntax
            }
            count = -1
            var j = whereIndex + 1
            while j < a.count {
                if count == -1 && a[j].isCaseInsensitive("count") && j + 1 < a.count {
                    let message = CommandError("ERR count should be greater than 0")
                    let v = try Engine.integer(a[j + 1], message)
                    guard v >= 1 else { throw message }
                    count = Int(v)
                    j += 2
                } else {
                    throw CommandError.syntax
                }
            }
            if count == -1 { count = 1 }
        }
    }

    static func zmpop(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let arguments = try MultiPopArguments(a, numKeysAt: 1, whereWords: ("min", "max"))
        for key in arguments.keys {
            guard
                let popped = try engine.popSortedSet(
                    key,
                    db: c.db,
                    now: c.now,
                    count: arguments.count,
                    max: arguments.fromEnd
                )
            else { continue }
            c.journal = .commands([
                [arguments.fromEnd ? JournalWords.zpopmax : JournalWords.zpopmin, key,
                 JournalWords.number(Int64(popped.count))]
            ])
            writeMultiPopReply(key, popped.map { SortedSetObject.Element(member: $0.member, score: $0.score) }, &c)
            return
        }
        c.journal = .nothing
        c.reply.writeRESPNullArray(c.protocolVersion)
    }

    /// ZMPOP's reply: the key and its popped [member, score] pairs (nested in both protocols).
    static func writeMultiPopReply(_ key: ByteBuffer, _ elements: [SortedSetObject.Element], _ c: inout CommandContext) {
        c.reply.writeRESPArrayHeader(2)
        c.reply.writeRESPBulkString(key)
        c.reply.writeRESPArrayHeader(elements.count)
        for e in elements {
            c.reply.writeRESPArrayHeader(2)
            c.reply.writeRESPBulkString(e.member)
            c.reply.writeRESPDouble(e.score, c.protocolVersion)
        }
    }

    // MARK: Random members

    static func zrandmember(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        guard a.count >= 3 else {
            return try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
                guard let zset else { return c.reply.writeRESPNull(c.protocolVersion) }
                c.reply.writeRESPBulkString(zset.elements(fromRank: Int.random(in: 0..<zset.count), count: 1)[0].member)
            }
        }
        let l = try rangeLong(a[2], min: -Int64.max, max: Int64.max)
        var withScores = false
        if a.count > 4 || (a.count == 4 && !a[3].isCaseInsensitive("withscores")) {
            throw CommandError.syntax
        } else if a.count == 4 {
            withScores = true
            if l < -Int64.max / 2 || l > Int64.max / 2 { throw CommandError("ERR value is out of range") }
        }
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            guard let zset, l != 0 else { return c.reply.writeRESPArrayHeader(0) }
            let all = zset.allElements
            let count = Int(l.magnitude)
            let chosen: [SortedSetObject.Element]
            if l < 0 || count == 1 {
                chosen = (0..<count).map { _ in all[Int.random(in: 0..<all.count)] }
            } else if count >= all.count {
                chosen = all
            } else {
                chosen = Array(all.shuffled().prefix(count))
            }
            writeElements(chosen, withScores: withScores, &c)
        }
    }

    // MARK: ZUNION ZINTER ZDIFF

    enum ZSetOperation { case union, inter, diff }
    enum Aggregate { case sum, min, max }

    /// An input of the set operations: a sorted set, a plain set (every score 1), or nothing.
    struct OperationSource {
        var zset: SortedSetObject?
        var set: SetObject?
        var weight = 1.0

        var count: Int { zset?.count ?? set?.count ?? 0 }

        var elements: [SortedSetObject.Element] {
            if let zset { return zset.allElements }
            if let set { return set.allMembers.map { SortedSetObject.Element(member: $0, score: 1) } }
            return []
        }

        func score(_ member: [UInt8]) -> Double? {
            if let zset { return zset.score(member) }
            if let set { return set.contains(member) ? 1 : nil }
            return nil
        }
    }

    static func aggregate(_ target: inout Double, _ value: Double, _ how: Aggregate) {
        switch how {
        case .sum:
            target += value
            if target.isNaN { target = 0 }
        case .min: target = value < target ? value : target
        case .max: target = value > target ? value : target
        }
    }

    /// Redis's zunionInterDiffGenericCommand (ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD).
    static func zsetOperation(
        _ engine: Engine,
        _ a: [ByteBuffer],
        _ c: inout CommandContext,
        _ op: ZSetOperation,
        store: Bool,
        cardinalityOnly: Bool = false
    ) throws {
        let numKeysIndex = store ? 2 : 1
        let command = String(decoding: a[0].readableBytesView, as: UTF8.self).lowercased()
        let setCount = try integer(a[numKeysIndex])
        guard setCount >= 1 else {
            throw CommandError("ERR at least 1 input key is needed for '\(command)' command")
        }
        guard setCount <= Int64(a.count - numKeysIndex - 1) else { throw CommandError.syntax }
        let n = Int(setCount)
        let keys = Array(a[(numKeysIndex + 1)...(numKeysIndex + n)])
        let context = c
        try engine.withShards(of: store ? keys + [a[1]] : keys) {
            var sources: [OperationSource] = []
            for key in keys {
                let source: OperationSource = try engine.withKey(key) { k, hash, shard in
                    let slot = engine.lookupRead(shard, context.db, k, hash, now: context.now, touch: !context.noTouch)
                    guard slot >= 0 else { return OperationSource() }
                    let e = shard.entry(shard.tables[context.db], slot)
                    switch e.type {
                    case .zset: return OperationSource(zset: unsafeDowncast(e.object, to: SortedSetObject.self))
                    case .set: return OperationSource(set: unsafeDowncast(e.object, to: SetObject.self))
                    default: throw CommandError.wrongType
                    }
                }
                sources.append(source)
            }
            var how = Aggregate.sum
            var withScores = false
            var limit = 0
            var j = numKeysIndex + 1 + n
            while j < a.count {
                let remaining = a.count - j
                if op != .diff && !cardinalityOnly && remaining >= n + 1 && a[j].isCaseInsensitive("weights") {
                    for i in 0..<n {
                        sources[i].weight = try double(a[j + 1 + i], CommandError("ERR weight value is not a float"))
                    }
                    j += n + 1
                } else if op != .diff && !cardinalityOnly && remaining >= 2 && a[j].isCaseInsensitive("aggregate") {
                    let word = a[j + 1]
                    if word.isCaseInsensitive("sum") {
                        how = .sum
                    } else if word.isCaseInsensitive("min") {
                        how = .min
                    } else if word.isCaseInsensitive("max") {
                        how = .max
                    } else {
                        throw CommandError.syntax
                    }
                    j += 2
                } else if remaining >= 1 && !store && !cardinalityOnly && a[j].isCaseInsensitive("withscores") {
                    withScores = true
                    j += 1
                } else if cardinalityOnly && remaining >= 2 && a[j].isCaseInsensitive("limit") {
                    limit = try cardinalityLimit(a[j + 1])
                    j += 2
                } else {
                    throw CommandError.syntax
                }
            }
            let result = zsetCompute(sources, op, how, limit: cardinalityOnly ? limit : 0)
            if cardinalityOnly {
                return c.reply.writeRESPInteger(result.count)
            }
            let built = SortedSetObject()
            let limits = engine.collectionLimits
            for e in result { built.set(e.member, e.score, limits: limits) }
            if store {
                engine.replaceValue(a[1], db: context.db, now: context.now, with: built)
                c.reply.writeRESPInteger(built.count)
            } else {
                writeElements(built.allElements, withScores: withScores, &c)
            }
        }
    }

    static func zsetCompute(
        _ sources: [OperationSource],
        _ op: ZSetOperation,
        _ how: Aggregate,
        limit: Int
    ) -> [SortedSetObject.Element] {
        switch op {
        case .inter:
            if sources.contains(where: { $0.zset == nil && $0.set == nil }) { return [] }
            let ordered = sources.enumerated().sorted { ($0.element.count, $0.offset) < ($1.element.count, $1.offset) }
                .map { $0.element }
            var result: [SortedSetObject.Element] = []
            outer: for e in ordered[0].elements {
                var score = ordered[0].weight * e.score
                if score.isNaN { score = 0 }
                for other in ordered.dropFirst() {
                    guard let s = other.score(e.member) else { continue outer }
                    aggregate(&score, s * other.weight, how)
                }
                result.append(SortedSetObject.Element(member: e.member, score: score))
                if limit > 0 && result.count >= limit { break }
            }
            return result
        case .union:
            let ordered = sources.enumerated().sorted { ($0.element.count, $0.offset) < ($1.element.count, $1.offset) }
                .map { $0.element }
            var scores: [[UInt8]: Double] = [:]
            var order: [[UInt8]] = []
            for source in ordered {
                for e in source.elements {
                    var score = source.weight * e.score
                    if score.isNaN { score = 0 }
                    if var existing = scores[e.member] {
                        aggregate(&existing, score, how)
                        scores[e.member] = existing
                    } else {
                        scores[e.member] = score
                        order.append(e.member)
                    }
                }
            }
            return order.map { SortedSetObject.Element(member: $0, score: scores[$0]!) }
        case .diff:
            guard let first = sources.first, first.count > 0 else { return [] }
            return first.elements.filter { e in !sources.dropFirst().contains { $0.score(e.member) != nil } }
        }
    }

    static func zunion(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .union, store: false)
    }

    static func zinter(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .inter, store: false)
    }

    static func zdiff(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .diff, store: false)
    }

    static func zunionstore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .union, store: true)
    }

    static func zinterstore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .inter, store: true)
    }

    static func zdiffstore(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .diff, store: true)
    }

    static func zintercard(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        try zsetOperation(engine, a, &c, .inter, store: false, cardinalityOnly: true)
    }

    // MARK: ZSCAN

    /// A score as ZSCAN shows it: a listpack keeps integral scores within ±2^62 as integers (Redis's double2ll),
    /// otherwise the text is `%.17g`.
    static func scanScoreText(_ score: Double, packed: Bool) -> [UInt8] {
        let limit = Double(Int64.max / 2)
        if packed && score >= -limit && score <= limit && score == score.rounded(.towardZero) {
            return RedisNumber.formatInt64(Int64(score))
        }
        return Array(RESPFormat.double17g(score).utf8)
    }

    static func zscan(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let cursor = try scanCursor(a[2])
        try engine.readObject(a[1], c, .zset, as: SortedSetObject.self) { zset in
            guard let zset else { return writeScanReply(0, [], &c) }
            let options = try ScanOptions(a, from: 3)
            var elements = zset.allElements
            var next: UInt64 = 0
            if !zset.isPacked {
                let window = scanWindow(total: elements.count, cursor: cursor, count: options.count)
                elements = Array(elements[window.range])
                next = window.next
            }
            var out: [[UInt8]] = []
            for e in elements where e.member.withUnsafeBytes({ options.matches($0) }) {
                out.append(e.member)
                out.append(scanScoreText(e.score, packed: zset.isPacked))
            }
            writeScanReply(next, out, &c)
        }
    }
}

extension JournalWords {
    static let zpopmin = ByteBuffer(string: "ZPOPMIN")
    static let zpopmax = ByteBuffer(string: "ZPOPMAX")
}
