import NIOCore
public import NeptuneCache
public import NeptuneRESP
import Synchronization

/// A clock tests move by hand, so expiry is exact and repeatable.
public final class ManualClock: NeptuneClock {
    private let now: Atomic<Int64>

    /// - Parameter milliseconds: Start time in Unix milliseconds.
    public init(milliseconds: Int64 = 1_700_000_000_000) {
        now = Atomic(milliseconds)
    }

    public func milliseconds() -> Int64 {
        now.load(ordering: .relaxed)
    }

    /// Moves time forward.
    public func advance(milliseconds: Int64) {
        now.add(milliseconds, ordering: .relaxed)
    }

    public func advance(seconds: Int64) {
        advance(milliseconds: seconds * 1000)
    }
}

/// Runs commands against an engine as one client session would and returns decoded replies.
public struct EngineSession {
    public let engine: Engine
    public var context: CommandContext

    public init(engine: Engine, protocolVersion: RESPVersion = .v2) {
        self.engine = engine
        self.context = CommandContext(protocolVersion: protocolVersion, reply: ByteBuffer())
    }

    /// Runs one command and returns its raw reply bytes as a string (for exact byte comparisons).
    public mutating func raw(_ arguments: [UInt8]...) -> String {
        raw(arguments)
    }

    public mutating func raw(_ arguments: [[UInt8]]) -> String {
        context.reply.clear()
        engine.execute(arguments.map { ByteBuffer(bytes: $0) }, context: &context)
        return String(decoding: context.reply.readableBytesView, as: UTF8.self)
    }

    /// Runs one command given as strings and returns its raw reply.
    public mutating func raw(_ arguments: String...) -> String {
        raw(arguments.map { Array($0.utf8) })
    }

    /// Runs one command and returns the decoded reply.
    @discardableResult
    public mutating func run(_ arguments: String...) -> RESPValue {
        run(arguments.map { Array($0.utf8) })
    }

    @discardableResult
    public mutating func run(_ arguments: [[UInt8]]) -> RESPValue {
        context.reply.clear()
        engine.execute(arguments.map { ByteBuffer(bytes: $0) }, context: &context)
        var decoder = RESPValueDecoder()
        do {
            guard let value = try decoder.decode(buffer: &context.reply) else { return .error("incomplete reply") }
            return value
        } catch {
            return .error("undecodable reply: \(error)")
        }
    }
}
