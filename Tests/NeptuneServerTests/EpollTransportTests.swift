import Logging
import NIOCore
import NeptuneCache
import NeptuneRESP
import Synchronization
import Testing

@testable import NeptuneServer

/// The epoll transport itself: replies and requests larger than the socket buffers, connections on different
/// loops, closing, and the loop's timers and cross-thread tasks.
@Suite(.timeLimit(.minutes(1))) struct EpollTransportTests {
    @Test func largeRequestsAndRepliesArriveWholeAndInOrder() async throws {
        let server = try await RunningServer.start()
        var client = try await server.client()
        // 8 MiB: many reads into a growing input buffer, and a reply the socket takes in several sends (the rest
        // waits for EPOLLOUT), with pipelined commands behind it.
        let value = String(repeating: "0123456789abcdef", count: (8 << 20) / 16)
        #expect(try await client.call("SET", "big", value) == .simpleString("OK"))
        try await client.send([["GET", "big"], ["STRLEN", "big"], ["GET", "big"], ["PING"]])
        #expect(try await client.read() == .bulkString(Array(value.utf8)))
        #expect(try await client.read() == .integer(8 << 20))
        #expect(try await client.read() == .bulkString(Array(value.utf8)))
        #expect(try await client.read() == .simpleString("PONG"))
        let stats = try #require(try await client.call("INFO", "stats")?.stringValue)
        let input = try #require(Self.field("total_net_input_bytes", in: stats))
        let output = try #require(Self.field("total_net_output_bytes", in: stats))
        #expect(input > 8 << 20)
        #expect(output > 2 * (8 << 20))
        await client.close()
        await server.stop()
    }

    @Test func normalClientOverItsOutputLimitIsDisconnected() async throws {
        let server = try await RunningServer.start(["--client-output-buffer-limit", "normal 1mb 0 0"])
        var writer = try await server.client()
        // 64 MiB: far more than the socket buffers take at once, even with a client that reads as the server
        // sends (16 MiB once fit in a loaded CI run), so over 1 MiB stays queued in the server.
        let value = String(repeating: "0123456789abcdef", count: (64 << 20) / 16)
        #expect(try await writer.call("SET", "big", value) == .simpleString("OK"))
        #expect(try await writer.call("STRLEN", "big") == .integer(64 << 20))
        var reader = try await server.client()
        try await reader.send("GET", "big")
        #expect(try await reader.read() == nil)
        #expect(server.state.statistics.outputBufferLimitDisconnections.load(ordering: .relaxed) == 1)
        #expect(try await writer.call("PING") == .simpleString("PONG"))
        await writer.close()
        await server.stop()
    }

    @Test func blockedClientOnOneLoopIsServedFromAnother() async throws {
        // RunningServer starts two loops and connections alternate between them, so consecutive clients are on
        // different loops.
        let server = try await RunningServer.start()
        var waiter = try await server.client()
        var pusher = try await server.client()
        #expect(try await waiter.call("PING") == .simpleString("PONG"))
        try await waiter.send("BLPOP", "queue", "5")
        while try await pusher.call("CLIENT", "LIST")?.stringValue?.contains("cmd=blpop") != true {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(try await pusher.call("LPUSH", "queue", "job") == .integer(1))
        #expect(try await waiter.read() == .array([.bulkString(Array("queue".utf8)), .bulkString(Array("job".utf8))]))
        // A timeout fires from the waiter's own loop timer.
        #expect(try await waiter.call("BLPOP", "queue", "0.05") == .null)
        await waiter.close()
        await pusher.close()
        await server.stop()
    }

    @Test func closedConnectionsLeaveTheRegistryAndTheCounters() async throws {
        let server = try await RunningServer.start()
        var observer = try await server.client()
        // CLIENT INFO shows the socket's descriptor, as Redis does.
        let info = try #require(try await observer.call("CLIENT", "INFO")?.stringValue)
        let fd = info.split(separator: " ").first { $0.hasPrefix("fd=") }.flatMap { Int($0.dropFirst(3)) }
        #expect((fd ?? -1) > 2)
        for _ in 0..<10 {
            var client = try await server.client()
            #expect(try await client.call("PING") == .simpleString("PONG"))
            await client.close()
        }
        var connected = -1
        for _ in 0..<200 {
            let info = try #require(try await observer.call("INFO", "clients")?.stringValue)
            connected = Self.field("connected_clients", in: info) ?? -1
            if connected == 1 { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(connected == 1)
        let stats = try #require(try await observer.call("INFO", "stats")?.stringValue)
        #expect(Self.field("total_connections_received", in: stats) == 11)
        await observer.close()
        await server.stop()
        #expect(server.state.clients.count == 0)
    }

    @Test func loopRunsTimersInDeadlineOrderAndSkipsCancelledOnes() async throws {
        let loop = try EpollLoop(index: 0, logger: Logger(label: "neptune-test"))
        let fired = Mutex<[Int]>([])
        let (done, continuation) = AsyncStream.makeStream(of: Void.self)
        loop.onExit = { continuation.finish() }
        try loop.start()
        let (ran, ranContinuation) = AsyncStream.makeStream(of: Void.self)
        loop.execute {
            #expect(loop.inEventLoop)
            loop.schedule(afterMilliseconds: 60) {
                fired.withLock { $0.append(3) }
                ranContinuation.finish()
            }
            let cancelled = loop.schedule(afterMilliseconds: 20) { fired.withLock { $0.append(99) } }
            loop.schedule(afterMilliseconds: 30) { fired.withLock { $0.append(2) } }
            loop.schedule(afterMilliseconds: 0) { fired.withLock { $0.append(1) } }
            cancelled.cancel()
        }
        #expect(!loop.inEventLoop)
        for await _ in ran {}
        #expect(fired.withLock { $0 } == [1, 2, 3])
        loop.stop()
        for await _ in done {}
        // Tasks queued once the loop stopped are dropped, not run.
        loop.execute { fired.withLock { $0.append(100) } }
        #expect(fired.withLock { $0 } == [1, 2, 3])
    }

    /// A loop that polls before sleeping picks up work arriving within its poll window without going to sleep; with
    /// polling off it sleeps before every piece of work that arrives after it ran out (tasks sent 2 ms apart).
    @Test(arguments: [(UInt64(200_000_000), true), (UInt64(0), false)])
    func loopPollsBeforeSleeping(busyPollNanoseconds: UInt64, polls: Bool) async throws {
        let loop = try EpollLoop(index: 0, logger: Logger(label: "neptune-test"), busyPollNanoseconds: busyPollNanoseconds)
        let (done, continuation) = AsyncStream.makeStream(of: Void.self)
        loop.onExit = { continuation.finish() }
        try loop.start()
        let tasks = 20
        let ran = Atomic<Int>(0)
        // Let the loop settle (its first wait) before counting.
        try await Task.sleep(for: .milliseconds(20))
        let before = loop.sleeps.load(ordering: .relaxed)
        for _ in 0..<tasks {
            loop.execute { ran.add(1, ordering: .relaxed) }
            try await Task.sleep(for: .milliseconds(2))
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while ran.load(ordering: .relaxed) < tasks && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        let slept = loop.sleeps.load(ordering: .relaxed) - before
        loop.stop()
        for await _ in done {}
        #expect(ran.load(ordering: .relaxed) == tasks)
        if polls {
            #expect(slept < tasks / 4, "slept \(slept) times for \(tasks) tasks while polling")
        } else {
            #expect(slept >= tasks / 2, "slept only \(slept) times for \(tasks) tasks without polling")
        }
    }

    /// The work between iterations (a snapshot's copying) learns whether the iteration found events, and the wait
    /// it asks for is kept to the nanosecond (`epoll_pwait2`): asked for 0.3 ms, an idle loop comes back well
    /// within a millisecond (a wait rounded up to milliseconds never would).
    @Test func loopTellsItsWorkWhetherItWasIdleAndWaitsToTheNanosecond() async throws {
        let loop = try EpollLoop(index: 0, logger: Logger(label: "neptune-test"), busyPollNanoseconds: 0)
        let (done, continuation) = AsyncStream.makeStream(of: Void.self)
        loop.onExit = { continuation.finish() }
        let idleCalls = Atomic<Int>(0)
        let busyCalls = Atomic<Int>(0)
        let shortGaps = Atomic<Int>(0)
        let last = Atomic<UInt64>(0)
        loop.betweenIterations = { idle in
            let now = EpollLoop.monotonicNanoseconds()
            if idle {
                idleCalls.add(1, ordering: .relaxed)
                let previous = last.exchange(now, ordering: .relaxed)
                if previous > 0 && now - previous < 900_000 { shortGaps.add(1, ordering: .relaxed) }
            } else {
                busyCalls.add(1, ordering: .relaxed)
                last.store(0, ordering: .relaxed)
            }
            return 300_000
        }
        try loop.start()
        try await Task.sleep(for: .milliseconds(100))
        let ran = Atomic<Bool>(false)
        loop.execute { ran.store(true, ordering: .relaxed) }
        let deadline = ContinuousClock.now + .seconds(10)
        while !ran.load(ordering: .relaxed) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(1))
        }
        try await Task.sleep(for: .milliseconds(20))
        loop.stop()
        for await _ in done {}
        #expect(ran.load(ordering: .relaxed) == true)
        #expect(busyCalls.load(ordering: .relaxed) >= 1)
        #expect(idleCalls.load(ordering: .relaxed) >= 20)
        #expect(shortGaps.load(ordering: .relaxed) >= 10, "\(shortGaps.load(ordering: .relaxed)) waits under 0.9 ms")
    }

    private static func field(_ name: String, in info: String) -> Int? {
        for line in info.split(separator: "\r\n") where line.hasPrefix("\(name):") {
            return Int(line.dropFirst(name.count + 1))
        }
        return nil
    }
}
