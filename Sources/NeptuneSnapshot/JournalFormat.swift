public import NIOCore

/// The journal's on-disk format.
///
/// A segment file starts with the 8-byte magic `NEPJRNL1`, then holds records back to back:
/// ```
/// u32 payload length | u32 CRC-32C of (sequence ‖ payload) | u64 sequence | payload
/// payload = u32 database | the command as a RESP multibulk (*N $len arg ...)
/// ```
/// All integers are little-endian. Sequence numbers increase by one from record to record. A transaction's records
/// are written contiguously between a `MULTI` record and an `EXEC` record.
public enum JournalFormat {
    public static let magic: [UInt8] = Array("NEPJRNL1".utf8)
    public static let recordHeaderSize = 16
    /// The record that opens a transaction (MULTI … EXEC): recovery applies the records up to the matching
    /// ``execRecord`` all together, or none of them if the journal ends first.
    public static let multiRecord: [UInt8] = Array("MULTI".utf8)
    /// The record that closes a transaction.
    public static let execRecord: [UInt8] = Array("EXEC".utf8)

    /// A decoded record.
    public struct Record: Equatable, Sendable {
        public var sequence: UInt64
        public var db: Int
        public var arguments: [[UInt8]]

        public init(sequence: UInt64, db: Int, arguments: [[UInt8]]) {
            self.sequence = sequence
            self.db = db
            self.arguments = arguments
        }
    }

    /// Appends one framed record to `out`.
    public static func encode(sequence: UInt64, db: Int, arguments: [[UInt8]], into out: inout [UInt8]) {
        encodeRecord(sequence: sequence, db: db, arguments: arguments, into: &out)
    }

    /// Appends one framed record to `out`, reading the arguments straight from their buffers: one pass, no
    /// intermediate arrays (the journal's hot path).
    public static func encode(sequence: UInt64, db: Int, arguments: [ByteBuffer], into out: inout [UInt8]) {
        encodeRecord(sequence: sequence, db: db, arguments: arguments, into: &out)
    }

    @inline(__always)
    static func encodeRecord<Argument: JournalArgument>(
        sequence: UInt64,
        db: Int,
        arguments: [Argument],
        into out: inout [UInt8]
    ) {
        var payloadLength = 4 + 1 + decimalDigits(arguments.count) + 2
        for argument in arguments {
            let count = argument.journalByteCount
            payloadLength += 1 + decimalDigits(count) + 2 + count + 2
        }
        out.reserveCapacity(out.count + recordHeaderSize + payloadLength)
        let start = out.count
        appendInteger(UInt32(truncatingIfNeeded: payloadLength), to: &out)
        appendInteger(UInt32(0), to: &out)  // the checksum, filled in below
        appendInteger(sequence, to: &out)
        appendInteger(UInt32(truncatingIfNeeded: db), to: &out)
        out.append(UInt8(ascii: "*"))
        appendDecimal(arguments.count, to: &out)
        out.append(13)
        out.append(10)
        for argument in arguments {
            out.append(UInt8(ascii: "$"))
            appendDecimal(argument.journalByteCount, to: &out)
            out.append(13)
            out.append(10)
            argument.appendJournalBytes(to: &out)
            out.append(13)
            out.append(10)
        }
        out.withUnsafeMutableBytes { bytes in
            let crc = CRC32C.update(0, UnsafeRawBufferPointer(rebasing: bytes[(start + 8)...]))
            bytes.storeBytes(of: crc.littleEndian, toByteOffset: start + 4, as: UInt32.self)
        }
    }

    @inline(__always)
    static func decimalDigits(_ value: Int) -> Int {
        var digits = 1
        var v = value
        while v >= 10 {
            v /= 10
            digits += 1
        }
        return digits
    }

    /// Appends a non-negative integer in decimal without going through `String`.
    @inline(__always)
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 10 {
            out.append(UInt8(48 + value))
            return
        }
        let digits = decimalDigits(value)
        let end = out.count + digits
        out.append(contentsOf: repeatElement(0, count: digits))
        var v = value
        var i = end - 1
        while i >= end - digits {
            out[i] = UInt8(48 + v % 10)
            v /= 10
            i -= 1
        }
    }

    static func appendInteger<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func readInteger<T: FixedWidthInteger>(_ bytes: UnsafeRawBufferPointer, _ offset: Int, as: T.Type) -> T {
        T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Why a journal cannot be loaded: the file, the byte offset and what is wrong there.
    public struct Corruption: Error, Equatable, Sendable, CustomStringConvertible {
        public let path: String
        public let offset: Int
        public let reason: String

        public init(path: String, offset: Int, reason: String) {
            self.path = path
            self.offset = offset
            self.reason = reason
        }

        public var description: String {
            "journal file \(path) is corrupt at offset \(offset): \(reason)"
        }
    }

    /// The result of scanning one segment.
    public struct Scan: Sendable {
        public var records: [Record]
        /// The byte offset of each record in ``records`` within the segment.
        public var recordOffsets: [Int] = []
        /// Bytes up to the end of the last valid record.
        public var validLength: Int
        /// Bytes after it that form an incomplete final record (a torn write), or 0.
        public var tornBytes: Int
        /// Zeros after the last record: space preallocated for records never written (not damage), or 0.
        public var unusedBytes: Int = 0
    }

    /// Scans a segment's bytes. A damaged final record (cut short, or failing its checksum while being the last
    /// thing in the file, with no valid record anywhere after its start) is a torn tail and is reported in
    /// ``Scan/tornBytes``; damage anywhere else throws.
    /// - Parameter expectedSequence: The sequence number the first record must carry, if known.
    public static func scan(_ bytes: [UInt8], path: String, expectedSequence: UInt64? = nil) throws(Corruption) -> Scan {
        var scan = try scanRecords(bytes, path: path, expectedSequence: expectedSequence)
        var offset = magic.count
        scan.recordOffsets.reserveCapacity(scan.records.count)
        for _ in scan.records {
            scan.recordOffsets.append(offset)
            offset += recordHeaderSize + bytes.withUnsafeBytes { Int(readInteger($0, offset, as: UInt32.self)) }
        }
        return scan
    }

    private static func scanRecords(
        _ bytes: [UInt8],
        path: String,
        expectedSequence: UInt64?
    ) throws(Corruption) -> Scan {
        var records: [Record] = []
        let walk = self.walk(bytes, path: path, expectedSequence: expectedSequence) { records.append($0) }
        if let corruption = walk.corruption { throw corruption }
        return Scan(
            records: records,
            validLength: walk.validLength,
            tornBytes: walk.tornBytes,
            unusedBytes: walk.unusedBytes
        )
    }

    /// What ``walk(_:path:expectedSequence:visit:)`` found in a segment.
    public struct Walk: Sendable {
        /// Bytes up to the end of the last valid record (where a repair would cut).
        public var validLength: Int
        /// Bytes after it that form an incomplete final record (a torn write), or 0.
        public var tornBytes: Int
        /// Damage before the end of the file, if any: the walk stopped there.
        public var corruption: Corruption?
        /// Zeros after the last record: space preallocated for records never written (not damage), or 0.
        public var unusedBytes: Int = 0
    }

    /// Visits the valid records of a segment in order and reports where they end and what follows: nothing, a
    /// torn tail, or corruption (the walk stops at the first damaged record, as recovery does).
    /// - Parameter expectedSequence: The sequence number the first record must carry, if known.
    public static func walk(
        _ bytes: [UInt8],
        path: String,
        expectedSequence: UInt64? = nil,
        visit: (Record) -> Void
    ) -> Walk {
        var expected = expectedSequence
        return bytes.withUnsafeBytes { buffer in
            if buffer.count < magic.count {
                // A header cut short is a torn creation of the file.
                return Walk(validLength: 0, tornBytes: buffer.count)
            }
            if !buffer.prefix(magic.count).elementsEqual(magic) {
                return Walk(
                    validLength: 0,
                    tornBytes: 0,
                    corruption: Corruption(path: path, offset: 0, reason: "not a Neptune journal (bad magic)")
                )
            }
            var offset = magic.count
            func corrupt(_ reason: String) -> Walk {
                Walk(validLength: offset, tornBytes: 0, corruption: Corruption(path: path, offset: offset, reason: reason))
            }
            while offset < buffer.count {
                let remaining = buffer.count - offset
                if buffer[offset] == 0 && isZero(buffer, from: offset) {
                    // The preallocated tail (no record has a zero length): the data ends here.
                    return Walk(validLength: offset, tornBytes: 0, unusedBytes: remaining)
                }
                if remaining < recordHeaderSize {
                    return Walk(validLength: offset, tornBytes: remaining)
                }
                let length = Int(readInteger(buffer, offset, as: UInt32.self))
                let crc = readInteger(buffer, offset + 4, as: UInt32.self)
                let sequence = readInteger(buffer, offset + 8, as: UInt64.self)
                let end = offset + recordHeaderSize + length
                if end > buffer.count {
                    // A record cut short by a crash is the last thing in the file. A damaged length field also
                    // points past the end: then whole, valid records follow it, and dropping them would lose them.
                    if let later = validRecord(in: buffer, after: offset, following: expected) {
                        return corrupt(
                            "record length \(length) runs past the end of the file, but a valid record "
                                + "(sequence \(later.sequence)) follows at offset \(later.offset)"
                        )
                    }
                    return Walk(validLength: offset, tornBytes: remaining)
                }
                let covered = UnsafeRawBufferPointer(rebasing: buffer[(offset + 8)..<end])
                if CRC32C.update(0, covered) != crc {
                    // The last record written, cut short by a crash: at the end of the file, or followed by
                    // nothing valid (in a preallocated segment, by zeros or by the rest of the torn batch).
                    if end == buffer.count || validRecord(in: buffer, after: offset, following: expected) == nil {
                        return Walk(validLength: offset, tornBytes: remaining)
                    }
                    return corrupt("record checksum mismatch")
                }
                if let e = expected, sequence != e {
                    return corrupt("sequence \(sequence) where \(e) was expected")
                }
                guard let (db, arguments) = parsePayload(UnsafeRawBufferPointer(rebasing: buffer[(offset + 16)..<end]))
                else {
                    return corrupt("malformed record payload")
                }
                visit(Record(sequence: sequence, db: db, arguments: arguments))
                expected = sequence &+ 1
                offset = end
            }
            return Walk(validLength: offset, tornBytes: 0)
        }
    }

    /// Whether every byte from `offset` to the end is zero.
    static func isZero(_ buffer: UnsafeRawBufferPointer, from offset: Int) -> Bool {
        var i = offset
        while i < buffer.count {
            if buffer[i] != 0 { return false }
            i += 1
        }
        return true
    }

    /// The first complete record after `offset` whose checksum holds and whose sequence number is at least
    /// `sequence` when known (records only ever increase), if any: proof that the damage at `offset` is not a torn
    /// tail.
    static func validRecord(
        in buffer: UnsafeRawBufferPointer,
        after offset: Int,
        following sequence: UInt64?
    ) -> (offset: Int, sequence: UInt64)? {
        var position = offset + 1
        while position + recordHeaderSize <= buffer.count {
            defer { position += 1 }
            let candidate = readInteger(buffer, position + 8, as: UInt64.self)
            // Every record takes at least a header, so a later record's sequence number is within this bound.
            if let sequence {
                guard candidate >= sequence,
                    candidate - sequence <= UInt64((buffer.count - offset) / recordHeaderSize + 1)
                else { continue }
            }
            let end = position + recordHeaderSize + Int(readInteger(buffer, position, as: UInt32.self))
            guard end <= buffer.count else { continue }
            let covered = UnsafeRawBufferPointer(rebasing: buffer[(position + 8)..<end])
            guard CRC32C.update(0, covered) == readInteger(buffer, position + 4, as: UInt32.self),
                parsePayload(UnsafeRawBufferPointer(rebasing: buffer[(position + 16)..<end])) != nil
            else { continue }
            return (position, candidate)
        }
        return nil
    }

    static func parsePayload(_ payload: UnsafeRawBufferPointer) -> (Int, [[UInt8]])? {
        guard payload.count >= 4 else { return nil }
        let db = Int(readInteger(payload, 0, as: UInt32.self))
        var i = 4
        func readNumber(after marker: UInt8) -> Int? {
            guard i < payload.count, payload[i] == marker else { return nil }
            i += 1
            var value = 0
            var digits = 0
            while i < payload.count, payload[i] >= 48, payload[i] <= 57 {
                value = value * 10 + Int(payload[i] - 48)
                i += 1
                digits += 1
                if digits > 18 { return nil }
            }
            guard digits > 0, i + 1 < payload.count, payload[i] == 13, payload[i + 1] == 10 else { return nil }
            i += 2
            return value
        }
        guard let count = readNumber(after: UInt8(ascii: "*")), count >= 1 else { return nil }
        var arguments: [[UInt8]] = []
        arguments.reserveCapacity(count)
        for _ in 0..<count {
            guard let length = readNumber(after: UInt8(ascii: "$")), i + length + 2 <= payload.count else { return nil }
            arguments.append(Array(payload[i..<(i + length)]))
            i += length
            guard payload[i] == 13, payload[i + 1] == 10 else { return nil }
            i += 2
        }
        return i == payload.count ? (db, arguments) : nil
    }
}

/// Something the journal can frame as a command argument: plain bytes or a buffer slice.
protocol JournalArgument {
    var journalByteCount: Int { get }
    func appendJournalBytes(to out: inout [UInt8])
}

extension Array: JournalArgument where Element == UInt8 {
    @inline(__always) var journalByteCount: Int { count }
    @inline(__always) func appendJournalBytes(to out: inout [UInt8]) { out.append(contentsOf: self) }
}

extension ByteBuffer: JournalArgument {
    @inline(__always) var journalByteCount: Int { readableBytes }
    @inline(__always) func appendJournalBytes(to out: inout [UInt8]) {
        withUnsafeReadableBytes { out.append(contentsOf: $0) }
    }
}
