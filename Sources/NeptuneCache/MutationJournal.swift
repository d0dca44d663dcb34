public import NIOCore

/// Where the engine reports every change to the keyspace, in the order it applied them: the durability journal.
///
/// The engine calls ``append(db:arguments:)`` while it still holds the locks of every shard the change touched,
/// so for any key the journal order is the order in which the changes were applied, and replaying the journal
/// rebuilds the same keyspace. Commands whose effect depends on the clock or on chance are reported as their
/// effect (absolute expiry times), and keys that expire are reported as deletions, so replay is deterministic.
public protocol MutationJournal: AnyObject, Sendable {
    /// Records one change as a command to replay (name first). Must be quick: it runs under shard locks.
    /// - Returns: The record's sequence number (increasing).
    func append(db: Int, arguments: [ByteBuffer]) -> UInt64

    /// Records a transaction's changes contiguously, between a `MULTI` record and an `EXEC` record, so that
    /// recovery applies all of them or none. Must be quick: it runs under shard locks.
    /// - Returns: The sequence number of the closing `EXEC` record.
    func appendTransaction(_ records: [(db: Int, arguments: [ByteBuffer])]) -> UInt64

    /// Whether writes are currently accepted. When false the engine refuses write commands with
    /// ``refusalMessage`` (Redis's MISCONF-style error), while reads keep working.
    var acceptsWrites: Bool { get }

    /// The error text for refused writes, e.g. `MISCONF Errors writing to the journal: No space left on device`.
    var refusalMessage: String { get }

    /// Blocks the calling thread until record `sequence` is as durable as the journal's policy promises (on
    /// stable storage under `appendfsync always`). Never call it on an event loop.
    /// - Returns: false if the journal failed before the record was durable.
    func waitUntilDurable(_ sequence: UInt64) -> Bool

    /// Writes out what was appended, makes it durable and stops; later writes are refused.
    func close()
}

extension MutationJournal {
    /// Records are durable once appended (a journal without a durability delay).
    public func waitUntilDurable(_ sequence: UInt64) -> Bool { acceptsWrites }

    public func close() {}
}

extension MutationJournal {
    /// Appends `MULTI`, the records and `EXEC` one by one (contiguous only when no other thread appends meanwhile;
    /// real journals append them under one lock).
    public func appendTransaction(_ records: [(db: Int, arguments: [ByteBuffer])]) -> UInt64 {
        let db = records.first?.db ?? 0
        _ = append(db: db, arguments: [TransactionRecords.multi])
        for record in records { _ = append(db: record.db, arguments: record.arguments) }
        return append(db: db, arguments: [TransactionRecords.exec])
    }
}

/// The records that open and close a transaction in the journal.
public enum TransactionRecords {
    public static let multi = ByteBuffer(string: "MULTI")
    public static let exec = ByteBuffer(string: "EXEC")
}

/// What a write command asks the dispatcher to journal for it.
public enum JournalDirective: Sendable {
    /// Journal the command as it was received.
    case asReceived
    /// The command changed nothing: journal nothing.
    case nothing
    /// Journal these commands instead (their effect in deterministic form, e.g. SET ... PXAT for SET ... EX).
    case commands([[ByteBuffer]])
}
