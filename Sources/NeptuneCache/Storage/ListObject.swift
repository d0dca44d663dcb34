public import NIOCore

/// A list: a double-ended sequence of byte strings, O(1) at both ends and by index. Redis 7.0 reports every list
/// as `quicklist`, so `OBJECT ENCODING` does too. Items live in two arrays: `front` holds the head items in
/// reverse order and `back` the rest, so pushes and pops at either end are amortized O(1) and indexing is O(1).
public final class ListObject: CollectionObject, @unchecked Sendable {
    private var front: [[UInt8]] = []
    private var back: [[UInt8]] = []
    private var payload = 0

    override init() {}

    public override var valueType: ValueType { .list }
    public override var encodingName: String { "quicklist" }
    public override var count: Int { front.count + back.count }

    public override var memoryBytes: Int {
        48 + (front.capacity + back.capacity) * 8 + count * 32 + payload
    }

    public override func copy() -> CollectionObject {
        let other = ListObject()
        other.front = front
        other.back = back
        other.payload = payload
        return other
    }

    // MARK: Access

    subscript(index: Int) -> [UInt8] {
        get { index < front.count ? front[front.count - 1 - index] : back[index - front.count] }
        set {
            payload += newValue.count - self[index].count
            if index < front.count { front[front.count - 1 - index] = newValue } else { back[index - front.count] = newValue }
        }
    }

    /// Items in `range` (head first).
    func items(_ range: Range<Int>) -> [[UInt8]] {
        range.map { self[$0] }
    }

    var allItems: [[UInt8]] { items(0..<count) }

    // MARK: Changes

    func pushFront(_ item: [UInt8]) {
        front.append(item)
        payload += item.count
    }

    func pushBack(_ item: [UInt8]) {
        back.append(item)
        payload += item.count
    }

    func popFront() -> [UInt8]? {
        if front.isEmpty { rebalance(toFront: true) }
        guard let item = front.popLast() else { return nil }
        payload -= item.count
        return item
    }

    func popBack() -> [UInt8]? {
        if back.isEmpty { rebalance(toFront: false) }
        guard let item = back.popLast() else { return nil }
        payload -= item.count
        return item
    }

    /// Moves half of the other side over when one side runs empty, keeping pops amortized O(1).
    private func rebalance(toFront: Bool) {
        let all = allItems
        let half = toFront ? (all.count + 1) / 2 : all.count / 2
        front = Array(all[..<half].reversed())
        back = Array(all[half...])
    }

    /// Replaces the contents (head first), for changes in the middle.
    private func replaceAll(_ items: [[UInt8]]) {
        front = []
        back = items
    }

    func insert(_ item: [UInt8], at index: Int) {
        var all = allItems
        all.insert(item, at: index)
        replaceAll(all)
        payload += item.count
    }

    /// Keeps only the items in `range`.
    func trim(to range: Range<Int>) {
        let kept = range.isEmpty ? [] : Array(allItems[range])
        payload = kept.reduce(0) { $0 + $1.count }
        replaceAll(kept)
    }

    /// Removes items equal to `item`: up to `limit` from the head (limit > 0), from the tail (limit < 0), or all.
    func removeAll(_ item: [UInt8], limit: Int) -> Int {
        var all = allItems
        var removed = 0
        if limit >= 0 {
            var i = 0
            while i < all.count && (limit == 0 || removed < limit) {
                if all[i] == item {
                    all.remove(at: i)
                    removed += 1
                } else {
                    i += 1
                }
            }
        } else {
            var i = all.count - 1
            while i >= 0 && UInt(removed) < limit.magnitude {
                if all[i] == item {
                    all.remove(at: i)
                    removed += 1
                }
                i -= 1
            }
        }
        if removed > 0 {
            payload -= removed * item.count
            replaceAll(all)
        }
        return removed
    }

    // MARK: Snapshot payload

    public override func serialize(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(1))
        buffer.writeVarint(count)
        for i in 0..<count { buffer.writeLengthPrefixed(self[i]) }
    }

    static func decode(_ reader: inout PayloadReader) throws -> ListObject {
        guard try reader.byte() == 1 else { throw CollectionDecodingError("unknown list encoding") }
        let n = try reader.count(minimumSize: 1)
        let list = ListObject()
        for _ in 0..<n { list.pushBack(try reader.bytes()) }
        return list
    }
}
