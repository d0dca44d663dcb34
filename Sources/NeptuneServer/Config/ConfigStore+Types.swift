extension ConfigStore {
    /// One `save <seconds> <changes>` rule: snapshot when at least `changes` writes happened in `seconds` seconds.
    public struct SaveRule: Hashable, Sendable {
        /// The period, in seconds (at least 1).
        public var seconds: Int
        /// The number of changes within the period (0 or more).
        public var changes: Int

        /// Creates a rule.
        ///
        /// - Parameters:
        ///   - seconds: The period, in seconds.
        ///   - changes: The number of changes within the period.
        public init(seconds: Int, changes: Int) {
            self.seconds = seconds
            self.changes = changes
        }
    }

    /// The client classes of `client-output-buffer-limit`.
    public enum ClientClass: Int, CaseIterable, Sendable {
        /// Ordinary clients.
        case normal = 0
        /// Replicas (`slave` in the configuration text; `replica` is accepted too).
        case replica = 1
        /// Clients subscribed to Pub/Sub channels.
        case pubsub = 2

        /// The name `CONFIG GET` reports.
        public var configName: String {
            switch self {
            case .normal: "normal"
            case .replica: "slave"
            case .pubsub: "pubsub"
            }
        }

        init?(configName bytes: [UInt8]) {
            switch String(decoding: ConfigSyntax.lowercased(bytes), as: UTF8.self) {
            case "normal": self = .normal
            case "slave", "replica": self = .replica
            case "pubsub": self = .pubsub
            default: return nil
            }
        }
    }

    /// The output buffer limits of one client class. Zero means no limit.
    public struct ClientOutputBufferLimit: Hashable, Sendable {
        /// A client is disconnected as soon as its output buffer holds this many bytes.
        public var hardLimitBytes: UInt64
        /// A client is disconnected once its output buffer held this many bytes for ``softLimitSeconds``.
        public var softLimitBytes: UInt64
        /// How long the soft limit may be exceeded.
        public var softLimitSeconds: Int

        /// Creates a limit.
        ///
        /// - Parameters:
        ///   - hardLimitBytes: The hard limit in bytes, 0 for none.
        ///   - softLimitBytes: The soft limit in bytes, 0 for none.
        ///   - softLimitSeconds: How long the soft limit may be exceeded.
        public init(hardLimitBytes: UInt64, softLimitBytes: UInt64, softLimitSeconds: Int) {
            self.hardLimitBytes = hardLimitBytes
            self.softLimitBytes = softLimitBytes
            self.softLimitSeconds = softLimitSeconds
        }
    }

    /// `appendfsync`: when the journal is flushed to disk.
    public enum AppendFsync: String, Sendable, CaseIterable {
        /// Before every reply.
        case always
        /// About once a second.
        case everysec
        /// When the operating system decides.
        case no
    }

    /// `maxmemory-policy`: what happens when `maxmemory` is reached.
    public enum MaxmemoryPolicy: String, Sendable, CaseIterable {
        case volatileLRU = "volatile-lru"
        case volatileLFU = "volatile-lfu"
        case volatileRandom = "volatile-random"
        case volatileTTL = "volatile-ttl"
        case allkeysLRU = "allkeys-lru"
        case allkeysLFU = "allkeys-lfu"
        case allkeysRandom = "allkeys-random"
        case noeviction = "noeviction"
        /// Neptune's scan-resistant S3-FIFO policy.
        case allkeysS3FIFO = "allkeys-s3fifo"
    }

    /// `loglevel`, from the most to the least verbose.
    public enum LogLevel: String, Sendable, CaseIterable {
        case debug
        case verbose
        case notice
        case warning
    }

    /// A replication primary (`replicaof <host> <port>`).
    struct Primary: Hashable, Sendable {
        var host: [UInt8]
        var port: Int
    }

    /// `rename-command <from> <to>` read from a configuration file: the server must apply (or refuse) these.
    public struct CommandRename: Hashable, Sendable {
        /// The command's name.
        public var from: [UInt8]
        /// Its new name; empty to remove the command.
        public var to: [UInt8]

        /// Creates a renaming.
        ///
        /// - Parameters:
        ///   - from: The command's name.
        ///   - to: Its new name; empty to remove the command.
        public init(from: [UInt8], to: [UInt8]) {
            self.from = from
            self.to = to
        }
    }

    /// `notify-keyspace-events`: the classes of keyspace notifications to publish.
    public struct KeyspaceEvents: OptionSet, Hashable, Sendable {
        public let rawValue: Int

        public init(rawValue: Int) {
            self.rawValue = rawValue
        }

        /// `K`: publish on `__keyspace@<db>__` channels.
        public static let keyspace = KeyspaceEvents(rawValue: 1 << 0)
        /// `E`: publish on `__keyevent@<db>__` channels.
        public static let keyevent = KeyspaceEvents(rawValue: 1 << 1)
        /// `g`: generic commands (DEL, EXPIRE, RENAME...).
        public static let generic = KeyspaceEvents(rawValue: 1 << 2)
        /// `$`: string commands.
        public static let string = KeyspaceEvents(rawValue: 1 << 3)
        /// `l`: list commands.
        public static let list = KeyspaceEvents(rawValue: 1 << 4)
        /// `s`: set commands.
        public static let set = KeyspaceEvents(rawValue: 1 << 5)
        /// `h`: hash commands.
        public static let hash = KeyspaceEvents(rawValue: 1 << 6)
        /// `z`: sorted set commands.
        public static let zset = KeyspaceEvents(rawValue: 1 << 7)
        /// `x`: expirations.
        public static let expired = KeyspaceEvents(rawValue: 1 << 8)
        /// `e`: evictions.
        public static let evicted = KeyspaceEvents(rawValue: 1 << 9)
        /// `t`: stream commands.
        public static let stream = KeyspaceEvents(rawValue: 1 << 10)
        /// `m`: key misses.
        public static let keyMiss = KeyspaceEvents(rawValue: 1 << 11)
        /// `d`: module key types.
        public static let module = KeyspaceEvents(rawValue: 1 << 12)
        /// `n`: new keys.
        public static let newKey = KeyspaceEvents(rawValue: 1 << 13)
        /// `A`: `g$lshzxetd`.
        public static let all: KeyspaceEvents = [
            .generic, .string, .list, .set, .hash, .zset, .expired, .evicted, .stream, .module,
        ]

        private static let letters: [(UInt8, KeyspaceEvents)] = [
            (UInt8(ascii: "g"), .generic), (UInt8(ascii: "$"), .string), (UInt8(ascii: "l"), .list),
            (UInt8(ascii: "s"), .set), (UInt8(ascii: "h"), .hash), (UInt8(ascii: "z"), .zset),
            (UInt8(ascii: "x"), .expired), (UInt8(ascii: "e"), .evicted), (UInt8(ascii: "t"), .stream),
            (UInt8(ascii: "d"), .module), (UInt8(ascii: "n"), .newKey),
        ]

        /// Parses the letters of `notify-keyspace-events`; `nil` if one is unknown.
        ///
        /// - Parameter configString: Letters among `Ag$lshzxeKEtmdn`.
        public init?(configString: [UInt8]) {
            var events: KeyspaceEvents = []
            for byte in configString {
                if byte == 0 {
                    break
                }
                switch byte {
                case UInt8(ascii: "A"): events.formUnion(.all)
                case UInt8(ascii: "K"): events.insert(.keyspace)
                case UInt8(ascii: "E"): events.insert(.keyevent)
                case UInt8(ascii: "m"): events.insert(.keyMiss)
                default:
                    guard let letter = Self.letters.first(where: { $0.0 == byte }) else {
                        return nil
                    }
                    events.insert(letter.1)
                }
            }
            self = events
        }

        /// The letters `CONFIG GET` reports, `A` standing for all of `g$lshzxetd`.
        public var configString: String {
            var bytes: [UInt8] = []
            if self.isSuperset(of: .all) {
                bytes.append(UInt8(ascii: "A"))
            } else {
                for (letter, event) in Self.letters where self.contains(event) {
                    bytes.append(letter)
                }
            }
            if self.contains(.keyspace) {
                bytes.append(UInt8(ascii: "K"))
            }
            if self.contains(.keyevent) {
                bytes.append(UInt8(ascii: "E"))
            }
            if self.contains(.keyMiss) {
                bytes.append(UInt8(ascii: "m"))
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }
}
