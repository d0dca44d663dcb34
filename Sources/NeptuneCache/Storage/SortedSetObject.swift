public import NIOCore

/// A sorted set: while small (`zset-max-listpack-entries` members of at most `zset-max-listpack-value` bytes) a
/// ``PackedList`` of member and 8-byte score pairs in (score, member) order (`listpack`); past that a ``SkipList`` with
/// a member-to-score dictionary (`skiplist`), giving O(log n) insert, delete, rank and rank lookup.
public final class SortedSetObject: CollectionObject, @unchecked Sendable {
    struct Element: Equatable {
        var member: [UInt8]
        var score: Double
    }

    /// member, score, member, score ... in order (listpack encoding); empty once converted.
    private var packed = PackedList()
    /// The skiplist encoding, or nil while packed.
    private(set) var list: SkipList?
    private var scores: [[UInt8]: Double] = [:]
    private var payload = 0

    override init() {}

    public override var valueType: ValueType { .zset }
    public override var encodingName: String { list == nil ? "listpack" : "skiplist" }
    public override var count: Int { list?.length ?? packed.count / 2 }
    var isPacked: Bool { list == nil }

    public override var memoryBytes: Int {
        if list != nil {
            // A node (object, level array, member array) and a dictionary entry per member.
            return 96 + scores.capacity * 17 + count * 160 + payload * 2
        }
        return 48 + packed.heapBytes
    }

    public override func copy() -> CollectionObject {
        let other = SortedSetObject()
        if list != nil {
            other.convertToSkiplist()
            forEach { other.insertNew($0.member, $0.score) }
        } else {
            other.packed = packed
        }
        return other
    }

    // MARK: Packed helpers

    private func packedElements() -> [Element] {
        var result: [Element] = []
        result.reserveCapacity(packed.count / 2)
        var o = 0
        let end = packed.endOffset
        while o < end {
            let s = packed.next(o)
            let member = packed.array(at: o)
            let score = packed.withElement(at: s) { Double(bitPattern: $0.loadUnaligned(as: UInt64.self).littleEndian) }
            result.append(Element(member: member, score: score))
            o = packed.next(s)
        }
        return result
    }

    private func setPacked(_ elements: [Element]) {
        var list = PackedList()
        var size = 0
        for e in elements { size += PackedList.encodedSize(e.member.count) + 9 }
        list.reserveCapacity(size)
        for e in elements {
            var bits = e.score.bitPattern.littleEndian
            withUnsafeBytes(of: &bits) { score in e.member.withUnsafeBytes { member in list.append(member, score) } }
        }
        packed = list
    }

    @inline(__always)
    static func before(_ a: Element, _ score: Double, _ member: [UInt8]) -> Bool {
        if a.score != score { return a.score < score }
        return a.member.withUnsafeBytes { x in member.withUnsafeBytes { y in [UInt8].compareBytes(x, y) < 0 } }
    }

    // MARK: Access

    func score(_ member: [UInt8]) -> Double? {
        if list != nil { return scores[member] }
        return packedElements().first { $0.member == member }?.score
    }

    /// Number of elements, in order, for which `isBefore(score, member)` holds (it must hold for a prefix).
    func countBefore(_ isBefore: (Double, [UInt8]) -> Bool) -> Int {
        if let list { return list.countBefore { isBefore($0.score, $0.member) } }
        var n = 0
        for e in packedElements() {
            guard isBefore(e.score, e.member) else { break }
            n += 1
        }
        return n
    }

    /// 0-based rank of `member` in ascending order, or nil.
    func rank(_ member: [UInt8]) -> Int? {
        guard let score = score(member) else { return nil }
        return countBefore { s, m in
            s < score || (s == score && m.withUnsafeBytes { x in member.withUnsafeBytes { [UInt8].compareBytes(x, $0) < 0 } })
        }
    }

    /// Up to `count` elements starting at 0-based rank `start`, walking forward (ascending) or backward.
    func elements(fromRank start: Int, count: Int, reverse: Bool = false) -> [Element] {
        guard start >= 0 && start < self.count && count > 0 else { return [] }
        var result: [Element] = []
        result.reserveCapacity(Swift.min(count, self.count))
        if let list {
            var node = list.node(atRank: start + 1)
            while let n = node, result.count < count {
                result.append(Element(member: n.member, score: n.score))
                node = reverse ? n.backward : n.levels[0].forward
            }
            return result
        }
        let all = packedElements()
        var i = start
        while i >= 0 && i < all.count && result.count < count {
            result.append(all[i])
            i += reverse ? -1 : 1
        }
        return result
    }

    func forEach(_ body: (Element) -> Void) {
        if let list {
            var node = list.header.levels[0].forward
            while let n = node {
                body(Element(member: n.member, score: n.score))
                node = n.levels[0].forward
            }
            return
        }
        for e in packedElements() { body(e) }
    }

    var allElements: [Element] {
        elements(fromRank: 0, count: count)
    }

    // MARK: Changes

    /// Sets `member`'s score, inserting it if new (returns true then). Converts to a skiplist past the limits.
    @discardableResult
    func set(_ member: [UInt8], _ score: Double, limits: CollectionLimits) -> Bool {
        let score = score == 0 ? 0 : score  // Redis stores -0 as 0
        if list == nil {
            var all = packedElements()
            if let i = all.firstIndex(where: { $0.member == member }) {
                if all[i].score == score { return false }
                all.remove(at: i)
                let at = all.firstIndex { !Self.before($0, score, member) } ?? all.count
                all.insert(Element(member: member, score: score), at: at)
                setPacked(all)
                return false
            }
            if all.count + 1 > limits.zsetMaxListpackEntries || member.count > limits.zsetMaxListpackValue {
                convertToSkiplist()
            } else {
                let at = all.firstIndex { !Self.before($0, score, member) } ?? all.count
                all.insert(Element(member: member, score: score), at: at)
                setPacked(all)
                return true
            }
        }
        if let old = scores[member] {
            if old != score {
                list!.delete(old, member)
                list!.insert(score, member)
                scores[member] = score
            }
            return false
        }
        insertNew(member, score)
        return true
    }

    private func insertNew(_ member: [UInt8], _ score: Double) {
        list!.insert(score, member)
        scores[member] = score
        payload += member.count
    }

    @discardableResult
    func remove(_ member: [UInt8]) -> Bool {
        if list == nil {
            var all = packedElements()
            guard let i = all.firstIndex(where: { $0.member == member }) else { return false }
            all.remove(at: i)
            setPacked(all)
            return true
        }
        guard let score = scores.removeValue(forKey: member) else { return false }
        list!.delete(score, member)
        payload -= member.count
        return true
    }

    /// Removes the elements with 0-based ranks in `range`; returns how many.
    @discardableResult
    func removeRanks(_ range: Range<Int>) -> Int {
        let victims = elements(fromRank: range.lowerBound, count: range.count)
        if list == nil {
            var all = packedElements()
            all.removeSubrange(range.clamped(to: 0..<all.count))
            setPacked(all)
            return victims.count
        }
        for v in victims { remove(v.member) }
        return victims.count
    }

    func convertToSkiplist() {
        guard list == nil else { return }
        let all = packedElements()
        list = SkipList()
        packed.removeAll()
        for e in all { insertNew(e.member, e.score) }
    }

    // MARK: Snapshot payload

    public override func serialize(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(isPacked ? 0 : 1))
        buffer.writeVarint(count)
        forEach { e in
            buffer.writeLengthPrefixed(e.member)
            buffer.writeInteger(e.score.bitPattern, endianness: .little)
        }
    }

    static func decode(_ reader: inout PayloadReader) throws -> SortedSetObject {
        let packed = try reader.encoding()
        let n = try reader.count(minimumSize: 9)
        let zset = SortedSetObject()
        if !packed { zset.convertToSkiplist() }
        var unlimited = CollectionLimits()
        unlimited.zsetMaxListpackEntries = .max
        unlimited.zsetMaxListpackValue = .max
        for _ in 0..<n {
            let member = try reader.bytes()
            let score = try reader.double()
            guard !score.isNaN else { throw CollectionDecodingError("NaN score") }
            guard zset.set(member, score, limits: unlimited) else {
                throw CollectionDecodingError("duplicate sorted set member")
            }
        }
        return zset
    }
}
