/// Redis's sorted-set skip list (t_zset.c): nodes ordered by (score, member bytes), each level link carrying a span
/// so that rank queries and rank lookups are O(log n).
final class SkipList {
    final class Node {
        let member: [UInt8]
        var score: Double
        unowned(unsafe) var backward: Node?
        var levels: [Level]

        struct Level {
            var forward: Node?
            var span: Int
        }

        init(level: Int, score: Double, member: [UInt8]) {
            self.member = member
            self.score = score
            self.levels = Array(repeating: Level(forward: nil, span: 0), count: level)
        }
    }

    static let maxLevel = 32
    let header = Node(level: SkipList.maxLevel, score: 0, member: [])
    unowned(unsafe) var tail: Node?
    private(set) var length = 0
    private(set) var level = 1

    init() {}

    deinit {
        // Unlink iteratively so a long list does not release recursively.
        var node = header.levels[0].forward
        header.levels = []
        while let n = node {
            node = n.levels[0].forward
            n.levels = []
        }
    }

    /// Whether (score, member) sorts before the node's element.
    @inline(__always)
    static func precedes(_ node: Node, _ score: Double, _ member: [UInt8]) -> Bool {
        if node.score != score { return node.score < score }
        return node.member.withUnsafeBytes { a in member.withUnsafeBytes { b in [UInt8].compareBytes(a, b) < 0 } }
    }

    private func randomLevel() -> Int {
        var level = 1
        while level < Self.maxLevel && UInt32.random(in: 0..<0xFFFF) < 0xFFFF / 4 { level += 1 }
        return level
    }

    @discardableResult
    func insert(_ score: Double, _ member: [UInt8]) -> Node {
        var update = [Node](repeating: header, count: Self.maxLevel)
        var rank = [Int](repeating: 0, count: Self.maxLevel)
        var x = header
        for i in stride(from: level - 1, through: 0, by: -1) {
            rank[i] = i == level - 1 ? 0 : rank[i + 1]
            while let next = x.levels[i].forward, Self.precedes(next, score, member) {
                rank[i] += x.levels[i].span
                x = next
            }
            update[i] = x
        }
        let newLevel = randomLevel()
        if newLevel > level {
            for i in level..<newLevel {
                rank[i] = 0
                update[i] = header
                update[i].levels[i].span = length
            }
            level = newLevel
        }
        let node = Node(level: newLevel, score: score, member: member)
        for i in 0..<newLevel {
            node.levels[i].forward = update[i].levels[i].forward
            update[i].levels[i].forward = node
            node.levels[i].span = update[i].levels[i].span - (rank[0] - rank[i])
            update[i].levels[i].span = (rank[0] - rank[i]) + 1
        }
        for i in newLevel..<level { update[i].levels[i].span += 1 }
        node.backward = update[0] === header ? nil : update[0]
        if let next = node.levels[0].forward {
            next.backward = node
        } else {
            tail = node
        }
        length += 1
        return node
    }

    /// Removes the element (score, member); returns whether it was found.
    @discardableResult
    func delete(_ score: Double, _ member: [UInt8]) -> Bool {
        var update = [Node](repeating: header, count: Self.maxLevel)
        var x = header
        for i in stride(from: level - 1, through: 0, by: -1) {
            while let next = x.levels[i].forward, Self.precedes(next, score, member) { x = next }
            update[i] = x
        }
        guard let target = x.levels[0].forward, target.score == score, target.member == member else { return false }
        for i in 0..<level {
            if update[i].levels[i].forward === target {
                update[i].levels[i].span += target.levels[i].span - 1
                update[i].levels[i].forward = target.levels[i].forward
            } else {
                update[i].levels[i].span -= 1
            }
        }
        if let next = target.levels[0].forward {
            next.backward = target.backward
        } else {
            tail = target.backward
        }
        while level > 1 && header.levels[level - 1].forward == nil { level -= 1 }
        length -= 1
        return true
    }

    /// Number of elements for which `isBefore` holds; `isBefore` must hold for a prefix of the order.
    func countBefore(_ isBefore: (Node) -> Bool) -> Int {
        var x = header
        var rank = 0
        for i in stride(from: level - 1, through: 0, by: -1) {
            while let next = x.levels[i].forward, isBefore(next) {
                rank += x.levels[i].span
                x = next
            }
        }
        return rank
    }

    /// The node at 1-based `rank`, or nil.
    func node(atRank rank: Int) -> Node? {
        guard rank >= 1 && rank <= length else { return nil }
        var x = header
        var traversed = 0
        for i in stride(from: level - 1, through: 0, by: -1) {
            while let next = x.levels[i].forward, traversed + x.levels[i].span <= rank {
                traversed += x.levels[i].span
                x = next
            }
            if traversed == rank { return x }
        }
        return nil
    }
}
