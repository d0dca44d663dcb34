extension Engine {
    /// The hash, set, sorted set and list commands, with Redis 7.0's COMMAND INFO and COMMAND DOCS metadata.
    static var collectionCommands: [CommandSpec] {
        func spec(
            _ name: String,
            _ arity: Int,
            _ flags: Set<String>,
            _ keys: (Int, Int, Int),
            _ categories: [String],
            _ group: String,
            _ summary: String,
            since: String,
            complexity: String,
            _ body: @escaping CommandBody
        ) -> CommandSpec {
            CommandSpec(
                name,
                arity: arity,
                flags: flags,
                keys: keys,
                categories: categories,
                group: group,
                summary: summary,
                since: since,
                complexity: complexity,
                body: body
            )
        }
        return [
            // Hashes
            spec("hset", -4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "hash", "fast"], "hash",
                 "Set the string value of a hash field", since: "2.0.0",
                 complexity: "O(1) for each field/value pair added, so O(N) to add N field/value pairs when "
                     + "the command is called with multiple field/value pairs.", hset),
            spec("hsetnx", 4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "hash", "fast"], "hash",
                 "Set the value of a hash field, only if the field does not exist", since: "2.0.0",
                 complexity: "O(1)", hsetnx),
            spec("hget", 3, ["readonly", "fast"], (1, 1, 1), ["read", "hash", "fast"], "hash",
                 "Get the value of a hash field", since: "2.0.0",
                 complexity: "O(1)", hget),
            spec("hmget", -3, ["readonly", "fast"], (1, 1, 1), ["read", "hash", "fast"], "hash",
                 "Get the values of all the given hash fields", since: "2.0.0",
                 complexity: "O(N) where N is the number of fields being requested.", hmget),
            spec("hmset", -4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "hash", "fast"], "hash",
                 "Set multiple hash fields to multiple values", since: "2.0.0",
                 complexity: "O(N) where N is the number of fields being set.", hset),
            spec("hdel", -3, ["write", "fast"], (1, 1, 1), ["write", "hash", "fast"], "hash",
                 "Delete one or more hash fields", since: "2.0.0",
                 complexity: "O(N) where N is the number of fields to be removed.", hdel),
            spec("hexists", 3, ["readonly", "fast"], (1, 1, 1), ["read", "hash", "fast"], "hash",
                 "Determine if a hash field exists", since: "2.0.0",
                 complexity: "O(1)", hexists),
            spec("hlen", 2, ["readonly", "fast"], (1, 1, 1), ["read", "hash", "fast"], "hash",
                 "Get the number of fields in a hash", since: "2.0.0",
                 complexity: "O(1)", hlen),
            spec("hstrlen", 3, ["readonly", "fast"], (1, 1, 1), ["read", "hash", "fast"], "hash",
                 "Get the length of the value of a hash field", since: "3.2.0",
                 complexity: "O(1)", hstrlen),
            spec("hkeys", 2, ["readonly"], (1, 1, 1), ["read", "hash", "slow"], "hash",
                 "Get all the fields in a hash", since: "2.0.0",
                 complexity: "O(N) where N is the size of the hash.", hkeys),
            spec("hvals", 2, ["readonly"], (1, 1, 1), ["read", "hash", "slow"], "hash",
                 "Get all the values in a hash", since: "2.0.0",
                 complexity: "O(N) where N is the size of the hash.", hvals),
            spec("hgetall", 2, ["readonly"], (1, 1, 1), ["read", "hash", "slow"], "hash",
                 "Get all the fields and values in a hash", since: "2.0.0",
                 complexity: "O(N) where N is the size of the hash.", hgetall),
            spec("hincrby", 4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "hash", "fast"], "hash",
                 "Increment the integer value of a hash field by the given number", since: "2.0.0",
                 complexity: "O(1)", hincrby),
            spec("hincrbyfloat", 4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "hash", "fast"], "hash",
                 "Increment the float value of a hash field by the given amount", since: "2.6.0",
                 complexity: "O(1)", hincrbyfloat),
            spec("hrandfield", -2, ["readonly"], (1, 1, 1), ["read", "hash", "slow"], "hash",
                 "Get one or multiple random fields from a hash", since: "6.2.0",
                 complexity: "O(N) where N is the number of fields returned", hrandfield),
            spec("hscan", -3, ["readonly"], (1, 1, 1), ["read", "hash", "slow"], "hash",
                 "Incrementally iterate hash fields and associated values", since: "2.8.0",
                 complexity: "O(1) for every call. O(N) for a complete iteration, including enough command "
                     + "calls for the cursor to return back to 0. N is the number of elements inside the "
                     + "collection..", hscan),
        ]
    }
}
