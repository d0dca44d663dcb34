#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Number formatting that matches the C `printf` formats Redis uses in its replies.
public enum RESPFormat {
    /// Formats `value` exactly like C's `"%.17g"`, the format of Redis 7.0's `addReplyDouble`.
    ///
    /// ```swift
    /// RESPFormat.double17g(0.1)   // "0.10000000000000001"
    /// RESPFormat.double17g(1e300) // "1.0000000000000001e+300"
    /// RESPFormat.double17g(-0.0)  // "-0"
    /// ```
    ///
    /// - Parameter value: The number to format.
    /// - Returns: The formatted text; `inf`, `-inf`, `nan` or `-nan` for non-finite values.
    public static func double17g(_ value: Double) -> String {
        withUnsafeTemporaryAllocation(byteCount: 64, alignment: 1) { scratch in
            let length = Self._formatDouble17g(value, into: scratch)
            return String(decoding: UnsafeRawBufferPointer(rebasing: scratch[..<length]), as: UTF8.self)
        }
    }

    /// Writes the `%.17g` text of `value` into `buffer` (at least 32 bytes) and returns its length.
    ///
    /// Infinities are spelled `inf`/`-inf` explicitly, as Redis does, instead of trusting the C library.
    @usableFromInline
    internal static func _formatDouble17g(_ value: Double, into buffer: UnsafeMutableRawBufferPointer) -> Int {
        precondition(buffer.count >= 32, "%.17g needs up to 24 bytes plus the terminator")
        if value.isInfinite {
            let text: StaticString = value > 0 ? "inf" : "-inf"
            return text.withUTF8Buffer { utf8 in
                buffer.copyMemory(from: UnsafeRawBufferPointer(utf8))
                return utf8.count
            }
        }
        let chars = buffer.bindMemory(to: CChar.self)
        let written = withVaList([value]) { arguments in
            vsnprintf(chars.baseAddress, chars.count, "%.17g", arguments)
        }
        precondition(written > 0 && Int(written) < chars.count, "vsnprintf failed to format a double")
        return Int(written)
    }
}
