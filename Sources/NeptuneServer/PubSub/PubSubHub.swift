public import NIOCore
import NeptuneCache
import NeptuneRESP
import Synchronization

/// The server's pub/sub registry: which clients listen to which channels and patterns.
///
/// PUBLISH looks the receivers up under the registry's lock, then hands each one the message without holding it:
/// delivery only enqueues the message on the receiver's event loop, so a slow subscriber never stalls a publisher
/// (its output buffer grows until the `client-output-buffer-limit pubsub` limit closes it).
public final class PubSubHub: Sendable {
    private struct State {
        /// Channel → subscribers by client id.
        var channels: [[UInt8]: [Int: ClientConnection]] = [:]
        /// Pattern → subscribers by client id.
        var patterns: [[UInt8]: [Int: ClientConnection]] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Adds `client` to `channel`'s subscribers (or `pattern`'s when `isPattern`).
    func add(_ client: ClientConnection, _ name: [UInt8], isPattern: Bool) {
        state.withLock {
            if isPattern {
                $0.patterns[name, default: [:]][client.id] = client
            } else {
                $0.channels[name, default: [:]][client.id] = client
            }
        }
    }

    /// Removes `client` from `channel`'s (or `pattern`'s) subscribers.
    func remove(_ client: ClientConnection, _ name: [UInt8], isPattern: Bool) {
        state.withLock {
            if isPattern {
                $0.patterns[name]?.removeValue(forKey: client.id)
                if $0.patterns[name]?.isEmpty == true { $0.patterns.removeValue(forKey: name) }
            } else {
                $0.channels[name]?.removeValue(forKey: client.id)
                if $0.channels[name]?.isEmpty == true { $0.channels.removeValue(forKey: name) }
            }
        }
    }

    /// Sends `message` to every subscriber of `channel` and of every matching pattern.
    /// - Returns: The number of clients that received it (a client subscribed twice counts twice, as in Redis).
    @discardableResult
    public func publish(channel: ByteBuffer, message: ByteBuffer) -> Int {
        let channelBytes = Array(channel.readableBytesView)
        let (direct, matched): ([ClientConnection], [([UInt8], [ClientConnection])]) = state.withLock { state in
            let direct = state.channels[channelBytes].map { Array($0.values) } ?? []
            var matched: [([UInt8], [ClientConnection])] = []
            for (pattern, clients) in state.patterns
            where GlobPattern.matches(pattern: pattern, string: channelBytes) {
                matched.append((pattern, Array(clients.values)))
            }
            return (direct, matched)
        }
        var receivers = 0
        if !direct.isEmpty {
            var formats = MessageFormats { version in
                var buffer = ByteBuffer()
                buffer.reserveCapacity(channel.readableBytes + message.readableBytes + 40)
                buffer.writeRESPPushHeader(3, version)
                buffer.writeRESPBulkString("message")
                buffer.writeRESPBulkString(channel)
                buffer.writeRESPBulkString(message)
                return buffer
            }
            for client in direct {
                client.deliver(formats.message(for: client.pushProtocol))
                receivers += 1
            }
        }
        for (pattern, clients) in matched {
            var formats = MessageFormats { version in
                var buffer = ByteBuffer()
                buffer.writeRESPPushHeader(4, version)
                buffer.writeRESPBulkString("pmessage")
                buffer.writeRESPBulkString(pattern)
                buffer.writeRESPBulkString(channel)
                buffer.writeRESPBulkString(message)
                return buffer
            }
            for client in clients {
                client.deliver(formats.message(for: client.pushProtocol))
                receivers += 1
            }
        }
        return receivers
    }

    /// Active channels (with at least one subscriber) matching `pattern` (all when nil), for PUBSUB CHANNELS.
    public func channels(matching pattern: [UInt8]?) -> [[UInt8]] {
        state.withLock { state in
            state.channels.keys.filter { pattern == nil || GlobPattern.matches(pattern: pattern!, string: $0) }
        }
    }

    /// Subscriber count of `channel` (PUBSUB NUMSUB).
    public func subscriberCount(_ channel: [UInt8]) -> Int {
        state.withLock { $0.channels[channel]?.count ?? 0 }
    }

    /// Number of channels with subscribers (INFO's `pubsub_channels`).
    public var channelCount: Int {
        state.withLock { $0.channels.count }
    }

    /// Number of distinct patterns with subscribers (PUBSUB NUMPAT).
    public var patternCount: Int {
        state.withLock { $0.patterns.count }
    }

    /// A message encoded once per protocol version, on demand.
    private struct MessageFormats {
        let build: (RESPVersion) -> ByteBuffer
        var v2: ByteBuffer?
        var v3: ByteBuffer?

        init(_ build: @escaping (RESPVersion) -> ByteBuffer) {
            self.build = build
        }

        mutating func message(for version: RESPVersion) -> ByteBuffer {
            switch version {
            case .v2:
                if v2 == nil { v2 = build(.v2) }
                return v2!
            case .v3:
                if v3 == nil { v3 = build(.v3) }
                return v3!
            }
        }
    }
}
