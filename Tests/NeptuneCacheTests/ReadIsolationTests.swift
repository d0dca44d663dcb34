import NIOCore
@testable import NeptuneCache
import NeptuneRESP
import NeptuneTestSupport
import Synchronization
import Testing

/// Multi-key reads lock all their keys' shards together, so they never observe half of an MSET, a DEL of several
/// keys or an EXEC, even while such writes run on another thread.
@Suite struct ReadIsolationTests {
    final class Shared: Sendable {
        let stop = Atomic<Bool>(false)
        let torn = Mutex<[String]>([])
    }

    @Test func multiKeyReadsNeverSeeHalfAWrite() async {
        let engine = Engine(clock: ManualClock())
        // Two keys in different shards.
        var found: [String] = []
        var shards: Set<UInt64> = []
        var i = 0
        while found.count < 2 {
            let key = "iso\(i)"
            let shard = Array(key.utf8).withUnsafeBytes { engine.keyHash($0) } >> Engine.shardShift
            if shards.insert(shard).inserted { found.append(key) }
            i += 1
        }
        let names = found
        let shared = Shared()
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                var writer = EngineSession(engine: engine)
                for round in 0..<3000 {
                    if round % 3 == 0 {
                        writer.run("MULTI")
                        writer.run("SET", names[0], "t")
                        writer.run("SET", names[1], "t")
                        writer.run("EXEC")
                    } else {
                        writer.run("MSET", names[0], "m", names[1], "m")
                    }
                    writer.run("DEL", names[0], names[1])
                }
                shared.stop.store(true, ordering: .releasing)
            }
            group.addTask {
                var reader = EngineSession(engine: engine)
                while !shared.stop.load(ordering: .acquiring) {
                    for (command, reply) in [
                        ("EXISTS", reader.run("EXISTS", names[0], names[1])),
                        ("TOUCH", reader.run("TOUCH", names[0], names[1])),
                        ("DBSIZE", reader.run("DBSIZE")),
                    ] where reply == .integer(1) {
                        shared.torn.withLock { $0.append(command) }
                    }
                    if case .array(let keys) = reader.run("KEYS", "iso*"), keys.count == 1 {
                        shared.torn.withLock { $0.append("KEYS") }
                    }
                }
            }
        }
        #expect(shared.torn.withLock { $0 } == [])
    }
}
