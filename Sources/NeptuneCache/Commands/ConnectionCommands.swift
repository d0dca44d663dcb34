import NIOCore
import NeptuneRESP

extension Engine {
    static func ping(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        if a.count > 2 { throw CommandError.wrongArity("ping") }
        if let refusal = engine.writeRefusal { throw CommandError(refusal) }
        if c.isSubscribed && c.protocolVersion == .v2 {
            c.reply.writeRESPArrayHeader(2)
            c.reply.writeRESPBulkString("pong")
            if a.count == 2 { c.reply.writeRESPBulkString(a[1]) } else { c.reply.writeRESPBulkString("") }
            return
        }
        if a.count == 2 {
            c.reply.writeRESPBulkString(a[1])
        } else {
            c.reply.writeRESPSimpleString("PONG")
        }
    }

    static func echo(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        c.reply.writeRESPBulkString(a[1])
    }

    static func time(_ engine: Engine, _ a: [ByteBuffer], _ c: inout CommandContext) throws {
        let micros = engine.clock.microseconds()
        c.reply.writeRESPArrayHeader(2)
        c.reply.writeRESPBulkString(String(micros / 1_000_000))
        c.reply.writeRESPBulkString(String(micros % 1_000_000))
    }
}
