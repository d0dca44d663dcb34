import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import NeptuneServer
import NeptuneSnapshot
import NeptuneTestSupport
import Testing

/// Replies with a journal over real sockets: held until the fsync covering their writes (`always`) or their
/// write (`everysec`, `no`), released together per event loop, in order per connection, and never sent when the
/// journal fails.
@Suite(.timeLimit(.minutes(1))) struct DurableReplyTests {
    static let path = "/data/appendonlydir/journal.00000001"

    static func journal(_ fileSystem: FaultyFileSystem, policy: Journal.FsyncPolicy = .always) throws -> Journal {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return try Journal(path: path, fileSystem: fileSystem, policy: policy, nextSequence: 1, logger: logger)
    }

    /// Whether the journal file holds a record whose last argument is `key` (written, fsynced or not).
    static func written(_ key: String, in fileSystem: FaultyFileSystem) throws -> Bool {
        let scan = try JournalFormat.scan(fileSystem.contents(path) ?? [], path: path)
        return scan.records.contains { $0.arguments.count > 1 && $0.arguments[1] == Array(key.utf8) }
    }

    /// Many connections write at once: every reply comes, in order per connection, and every acknowledged write
    /// is on stable storage when its reply arrives.
    @Test func concurrentClientsGetEveryReplyAfterItsFsync() async throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Self.journal(fileSystem)
        let server = try await RunningServer.start(journal: journal)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<12 {
                group.addTask {
                    var client = try await server.client()
                    for i in 0..<20 {
                        // A pipelined write and read: the read's reply must not overtake the write's.
                        try await client.send([["SET", "k\(c)-\(i)", "v\(i)"], ["GET", "k\(c)-\(i)"]])
                        #expect(try await client.read() == .simpleString("OK"))
                        #expect(try await client.read() == .bulkString(Array("v\(i)".utf8)))
                        // Acknowledged means durable: the record is in what survives power loss.
                        let durable = fileSystem.crash()[Self.path] ?? []
                        let scan = try JournalFormat.scan(durable, path: Self.path)
                        #expect(scan.records.contains { $0.arguments[1] == Array("k\(c)-\(i)".utf8) })
                    }
                    await client.close()
                }
            }
            try await group.waitForAll()
        }
        #expect(journal.fsyncCount > 0)
        await server.stop()
        journal.close()
    }

    /// When the fsync fails, the waiting client is disconnected without an acknowledgment, later writes get
    /// MISCONF, and reads keep working.
    @Test func failedFsyncDisconnectsWithoutAcknowledging() async throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Self.journal(fileSystem)
        let server = try await RunningServer.start(journal: journal)
        var first = try await server.client()
        #expect(try await first.call("SET", "kept", "1") == .simpleString("OK"))
        fileSystem.failFsync(number: 1)
        #expect(try await first.call("SET", "lost", "2") == nil)  // closed, no +OK
        var second = try await server.client()
        let refused = try await second.call("SET", "other", "3")
        #expect(refused == .error("MISCONF Errors writing to the AOF file: Input/output error"))
        #expect(try await second.call("GET", "kept") == .bulkString(Array("1".utf8)))
        await second.close()
        await server.stop()
        journal.close()
    }

    /// Under `everysec` and `no` a write's reply leaves only once its record is written to the file (a kill -9
    /// then loses no acknowledged write), while a read on another connection does not wait for that write.
    @Test(arguments: [Journal.FsyncPolicy.everysec, .no])
    func replyWaitsForTheWrite(policy: Journal.FsyncPolicy) async throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Self.journal(fileSystem, policy: policy)
        let server = try await RunningServer.start(journal: journal)
        var writer = try await server.client()
        var reader = try await server.client()
        for i in 0..<5 {
            #expect(try await writer.call("SET", "quick\(i)", "v") == .simpleString("OK"))
            #expect(try Self.written("quick\(i)", in: fileSystem))
        }
        // The event loop writes records itself (as Redis does) until one write takes too long: that one holds the
        // loop up, and then the journal thread writes for a while, so a stalled disk stops no more reads.
        fileSystem.setWriteLatency(microseconds: 20_000)
        #expect(try await writer.call("SET", "stalled", "v") == .simpleString("OK"))
        #expect(try Self.written("stalled", in: fileSystem))
        // Long enough that the other client's GET is surely answered before it ends, even on a loaded machine.
        fileSystem.setWriteLatency(microseconds: 1_500_000)
        try await writer.send([["SET", "slow", "1"], ["GET", "slow"]])
        // The value becomes visible (the command ran) while its record is still being written: the read is not held.
        var seen: RESPValue? = nil
        for _ in 0..<100 where seen != .bulkString(Array("1".utf8)) {
            seen = try await reader.call("GET", "slow")
            if seen != .bulkString(Array("1".utf8)) { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(seen == .bulkString(Array("1".utf8)))
        #expect(try !Self.written("slow", in: fileSystem))
        #expect(try await writer.read() == .simpleString("OK"))
        #expect(try Self.written("slow", in: fileSystem))
        #expect(try await writer.read() == .bulkString(Array("1".utf8)))
        // QUIT right behind a write: both replies come, after the write, then the connection closes.
        try await writer.send([["SET", "last", "2"], ["QUIT"]])
        #expect(try await writer.read() == .simpleString("OK"))
        #expect(try Self.written("last", in: fileSystem))
        #expect(try await writer.read() == .simpleString("OK"))
        #expect(try await writer.read() == nil)
        if policy == .no { #expect(journal.fsyncCount == 0) }
        await reader.close()
        await server.stop()
        journal.close()
    }

    /// Under `everysec` a failed write (a dead disk) gives no `+OK`: the client is disconnected, later writes get
    /// MISCONF, reads keep working.
    @Test func failedWriteUnderEverysecDisconnectsWithoutAcknowledging() async throws {
        let fileSystem = FaultyFileSystem()
        let journal = try Self.journal(fileSystem, policy: .everysec)
        let server = try await RunningServer.start(journal: journal)
        var first = try await server.client()
        #expect(try await first.call("SET", "kept", "1") == .simpleString("OK"))
        fileSystem.failAfter(operations: 1)
        let misconf = RESPValue.error("MISCONF Errors writing to the AOF file: Input/output error")
        // Closed without a reply; or, if the once-a-second fsync hit the dead disk first, refused.
        let reply = try await first.call("SET", "lost", "2")
        #expect(reply == nil || reply == misconf)
        var second = try await server.client()
        #expect(try await second.call("SET", "other", "3") == misconf)
        #expect(try await second.call("GET", "kept") == .bulkString(Array("1".utf8)))
        await second.close()
        await server.stop()
        journal.close()
    }
}
