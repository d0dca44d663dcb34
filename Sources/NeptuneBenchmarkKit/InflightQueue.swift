/// A first-in first-out ring of requests awaiting replies: when each was (or was scheduled to be) sent, and which
/// command it was. Grows by doubling; never shrinks.
struct InflightQueue {
    private var starts: [UInt64]
    private var commands: [Int32]
    private var head = 0
    private(set) var count = 0
    private var mask: Int

    init(capacity: Int) {
        var size = 16
        while size < capacity {
            size <<= 1
        }
        self.starts = [UInt64](repeating: 0, count: size)
        self.commands = [Int32](repeating: 0, count: size)
        self.mask = size - 1
    }

    var isEmpty: Bool { self.count == 0 }

    @inline(__always)
    mutating func append(start: UInt64, command: Int) {
        if self.count == self.mask + 1 {
            self.grow()
        }
        let slot = (self.head + self.count) & self.mask
        self.starts[slot] = start
        self.commands[slot] = Int32(truncatingIfNeeded: command)
        self.count += 1
    }

    @inline(__always)
    mutating func removeFirst() -> (start: UInt64, command: Int)? {
        guard self.count > 0 else {
            return nil
        }
        let slot = self.head
        self.head = (slot + 1) & self.mask
        self.count -= 1
        return (self.starts[slot], Int(self.commands[slot]))
    }

    private mutating func grow() {
        let size = (self.mask + 1) * 2
        var starts = [UInt64](repeating: 0, count: size)
        var commands = [Int32](repeating: 0, count: size)
        for offset in 0..<self.count {
            let slot = (self.head + offset) & self.mask
            starts[offset] = self.starts[slot]
            commands[offset] = self.commands[slot]
        }
        self.starts = starts
        self.commands = commands
        self.head = 0
        self.mask = size - 1
    }
}
