public import NIOCore

/// A set: a sorted array of integers while every member is a canonical 64-bit integer and there are at most
/// `set-max-intset-entries` of them (Redis's `intset`), otherwise a `hashtable`: members in an array plus a
/// dictionary from member to position, so a random member (SPOP, SRANDMEMBER) is O(1).
public final class SetObject: CollectionObject, @unchecked Sendable {
    /// The intset encoding (sorted), or nil once converted.
    private(set) var ints: [Int64]? = []
    /// The hashtable encoding: members, and each member's index in `members`.
    private(set) var members: [[UInt8]] = []
    private var positions: [[UInt8]: Int] = [:]
    private var payload = 0

    override init() {}

    public override var valueType: ValueType { .set }
    public override var encodingName: String { ints == nil ? "hashtable" : "intset" }
    public override var count: Int { ints?.count ?? members.count }
    var isIntset: Bool { ints != nil }

    public override var memoryBytes: Int {
        if let ints { return 48 + arrayCost(ints.capacity * 8) }
        return 64 + members.capacity * 8 + positions.capacity * 17 + members.count * 72 + payload
    }

    public override func copy() -> CollectionObject {
        let other = SetObject()
        other.ints = ints
        other.members = members
        other.positions = positions
        other.payload = payload
        return other
    }

    // MARK: Access

    @inline(__always)
    private func intsIndex(_ value: Int64) -> (found: Bool, index: Int) {
        guard let ints else { return (false, 0) }
        var low = 0
        var high = ints.count
        while low < high {
            let mid = (low + high) / 2
            if ints[mid] < value { low = mid + 1 } else { high = mid }
        }
        return (low < ints.count && ints[low] == value, low)
    }

    func contains(_ member: UnsafeRawBufferPointer) -> Bool {
        if ints != nil {
            guard let v = RedisNumber.parseInt64(member) else { return false }
            return intsIndex(v).found
        }
        return positions[Array(member)] != nil
    }

    func contains(_ member: [UInt8]) -> Bool {
        if ints != nil {
            guard let v = RedisNumber.parseInt64(member) else { return false }
            return intsIndex(v).found
        }
        return positions[member] != nil
    }

    /// The member at `index` in iteration order (ascending for an intset).
    func member(at index: Int) -> [UInt8] {
        if let ints { return RedisNumber.formatInt64(ints[index]) }
        return members[index]
    }

    /// Every member in iteration order.
    var allMembers: [[UInt8]] {
        if let ints { return ints.map { RedisNumber.formatInt64($0) } }
        return members
    }

    func randomMember() -> [UInt8] {
        member(at: Int.random(in: 0..<count))
    }

    // MARK: Changes

    /// Adds `member`; returns true if it is new. Converts to a hashtable past the limits.
    @discardableResult
    func add(_ member: UnsafeRawBufferPointer, limits: CollectionLimits) -> Bool {
        if ints != nil {
            if let v = RedisNumber.parseInt64(member) {
                let (found, index) = intsIndex(v)
                if found { return false }
                ints!.insert(v, at: index)
                if ints!.count > limits.setMaxIntsetEntries { convertToTable() }
                return true
            }
            convertToTable()
        }
        let key = Array(member)
        if positions[key] != nil { return false }
        positions[key] = members.count
        members.append(key)
        payload += key.count
        return true
    }

    func add(_ member: [UInt8], limits: CollectionLimits) -> Bool {
        member.withUnsafeBytes { add($0, limits: limits) }
    }

    /// Removes `member`; returns whether it was there.
    @discardableResult
    func remove(_ member: UnsafeRawBufferPointer) -> Bool {
        if ints != nil {
            guard let v = RedisNumber.parseInt64(member) else { return false }
            let (found, index) = intsIndex(v)
            if found { ints!.remove(at: index) }
            return found
        }
        return remove(Array(member))
    }

    @discardableResult
    func remove(_ member: [UInt8]) -> Bool {
        if ints != nil { return member.withUnsafeBytes { remove($0) } }
        guard let index = positions.removeValue(forKey: member) else { return false }
        let last = members.removeLast()
        if index < members.count {
            members[index] = last
            positions[last] = index
        }
        payload -= member.count
        return true
    }

    private func convertToTable() {
        guard let old = ints else { return }
        ints = nil
        members.reserveCapacity(old.count)
        for v in old {
            let m = RedisNumber.formatInt64(v)
            positions[m] = members.count
            members.append(m)
            payload += m.count
        }
    }

    // MARK: Snapshot payload

    public override func serialize(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(isIntset ? 0 : 1))
        buffer.writeVarint(count)
        for i in 0..<count { buffer.writeLengthPrefixed(member(at: i)) }
    }

    static func decode(_ reader: inout PayloadReader) throws -> SetObject {
        let intset = try reader.encoding()
        let n = try reader.count(minimumSize: 1)
        let set = SetObject()
        if !intset { set.convertToTable() }
        var unlimited = CollectionLimits()
        unlimited.setMaxIntsetEntries = .max
        for _ in 0..<n {
            let member = try reader.bytes()
            if intset && RedisNumber.parseInt64(member) == nil {
                throw CollectionDecodingError("intset member is not an integer")
            }
            guard set.add(member, limits: unlimited) else { throw CollectionDecodingError("duplicate set member") }
        }
        return set
    }
}
