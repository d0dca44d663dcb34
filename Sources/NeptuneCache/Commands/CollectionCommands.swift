extension Engine {
    /// The hash, set, sorted set and list commands, with Redis 7.0's COMMAND INFO and COMMAND DOCS metadata.
    static var collectionCommands: [CommandSpec] {
        [
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
                    // Sets
            spec("sadd", -3, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "set", "fast"], "set",
                 "Add one or more members to a set", since: "1.0.0",
                 complexity: "O(1) for each element added, so O(N) to add N elements when the command is "
                     + "called with multiple arguments.", sadd),
            spec("srem", -3, ["write", "fast"], (1, 1, 1), ["write", "set", "fast"], "set",
                 "Remove one or more members from a set", since: "1.0.0",
                 complexity: "O(N) where N is the number of members to be removed.", srem),
            spec("smembers", 2, ["readonly"], (1, 1, 1), ["read", "set", "slow"], "set",
                 "Get all the members in a set", since: "1.0.0",
                 complexity: "O(N) where N is the set cardinality.", smembers),
            spec("sismember", 3, ["readonly", "fast"], (1, 1, 1), ["read", "set", "fast"], "set",
                 "Determine if a given value is a member of a set", since: "1.0.0",
                 complexity: "O(1)", sismember),
            spec("smismember", -3, ["readonly", "fast"], (1, 1, 1), ["read", "set", "fast"], "set",
                 "Returns the membership associated with the given elements for a set", since: "6.2.0",
                 complexity: "O(N) where N is the number of elements being checked for membership", smismember),
            spec("scard", 2, ["readonly", "fast"], (1, 1, 1), ["read", "set", "fast"], "set",
                 "Get the number of members in a set", since: "1.0.0",
                 complexity: "O(1)", scard),
            spec("spop", -2, ["write", "fast"], (1, 1, 1), ["write", "set", "fast"], "set",
                 "Remove and return one or multiple random members from a set", since: "1.0.0",
                 complexity: "Without the count argument O(1), otherwise O(N) where N is the value of the "
                     + "passed count.", spop),
            spec("srandmember", -2, ["readonly"], (1, 1, 1), ["read", "set", "slow"], "set",
                 "Get one or multiple random members from a set", since: "1.0.0",
                 complexity: "Without the count argument O(1), otherwise O(N) where N is the absolute value of "
                     + "the passed count.", srandmember),
            spec("smove", 4, ["write", "fast"], (1, 2, 1), ["write", "set", "fast"], "set",
                 "Move a member from one set to another", since: "1.0.0",
                 complexity: "O(1)", smove),
            spec("sinter", -2, ["readonly"], (1, -1, 1), ["read", "set", "slow"], "set",
                 "Intersect multiple sets", since: "1.0.0",
                 complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
                     + "number of sets.", sinter),
            spec("sintercard", -3, ["readonly", "movablekeys"], (0, 0, 0), ["read", "set", "slow"], "set",
                 "Intersect multiple sets and return the cardinality of the result", since: "7.0.0",
                 complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
                     + "number of sets.", sintercard),
            spec("sunion", -2, ["readonly"], (1, -1, 1), ["read", "set", "slow"], "set",
                 "Add multiple sets", since: "1.0.0",
                 complexity: "O(N) where N is the total number of elements in all given sets.", sunion),
            spec("sdiff", -2, ["readonly"], (1, -1, 1), ["read", "set", "slow"], "set",
                 "Subtract multiple sets", since: "1.0.0",
                 complexity: "O(N) where N is the total number of elements in all given sets.", sdiff),
            spec("sinterstore", -3, ["write", "denyoom"], (1, -1, 1), ["write", "set", "slow"], "set",
                 "Intersect multiple sets and store the resulting set in a key", since: "1.0.0",
                 complexity: "O(N*M) worst case where N is the cardinality of the smallest set and M is the "
                     + "number of sets.", sinterstore),
            spec("sunionstore", -3, ["write", "denyoom"], (1, -1, 1), ["write", "set", "slow"], "set",
                 "Add multiple sets and store the resulting set in a key", since: "1.0.0",
                 complexity: "O(N) where N is the total number of elements in all given sets.", sunionstore),
            spec("sdiffstore", -3, ["write", "denyoom"], (1, -1, 1), ["write", "set", "slow"], "set",
                 "Subtract multiple sets and store the resulting set in a key", since: "1.0.0",
                 complexity: "O(N) where N is the total number of elements in all given sets.", sdiffstore),
            spec("sscan", -3, ["readonly"], (1, 1, 1), ["read", "set", "slow"], "set",
                 "Incrementally iterate Set elements", since: "2.8.0",
                 complexity: "O(1) for every call. O(N) for a complete iteration, including enough command "
                     + "calls for the cursor to return back to 0. N is the number of elements inside the "
                     + "collection..", sscan),
                    // Sorted sets
            spec("zadd", -4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "sortedset", "fast"], "sorted-set",
                 "Add one or more members to a sorted set, or update its score if it already exists", since: "1.2.0",
                 complexity: "O(log(N)) for each item added, where N is the number of elements in the sorted "
                     + "set.", zadd),
            spec("zincrby", 4, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "sortedset", "fast"], "sorted-set",
                 "Increment the score of a member in a sorted set", since: "1.2.0",
                 complexity: "O(log(N)) where N is the number of elements in the sorted set.", zincrby),
            spec("zrem", -3, ["write", "fast"], (1, 1, 1), ["write", "sortedset", "fast"], "sorted-set",
                 "Remove one or more members from a sorted set", since: "1.2.0",
                 complexity: "O(M*log(N)) with N being the number of elements in the sorted set and M the "
                     + "number of elements to be removed.", zrem),
            spec("zscore", 3, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Get the score associated with the given member in a sorted set", since: "1.2.0",
                 complexity: "O(1)", zscore),
            spec("zmscore", -3, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Get the score associated with the given members in a sorted set", since: "6.2.0",
                 complexity: "O(N) where N is the number of members being requested.", zmscore),
            spec("zcard", 2, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Get the number of members in a sorted set", since: "1.2.0",
                 complexity: "O(1)", zcard),
            spec("zcount", 4, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Count the members in a sorted set with scores within the given values", since: "2.0.0",
                 complexity: "O(log(N)) with N being the number of elements in the sorted set.", zcount),
            spec("zlexcount", 4, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Count the number of members in a sorted set between a given lexicographical range", since: "2.8.9",
                 complexity: "O(log(N)) with N being the number of elements in the sorted set.", zlexcount),
            spec("zrank", 3, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Determine the index of a member in a sorted set", since: "2.0.0",
                 complexity: "O(log(N))", zrank),
            spec("zrevrank", 3, ["readonly", "fast"], (1, 1, 1), ["read", "sortedset", "fast"], "sorted-set",
                 "Determine the index of a member in a sorted set, with scores ordered from high to low",
                 since: "2.0.0",
                 complexity: "O(log(N))", zrevrank),
            spec("zrange", -4, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Return a range of members in a sorted set", since: "1.2.0",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements returned.", zrange),
            spec("zrangestore", -5, ["write", "denyoom"], (1, 2, 1), ["write", "sortedset", "slow"], "sorted-set",
                 "Store a range of members from sorted set into another key", since: "6.2.0",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements stored into the destination key.", zrangestore),
            spec("zrangebyscore", -4, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Return a range of members in a sorted set, by score", since: "1.0.5",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements being returned. If M is constant (e.g. always asking for the "
                     + "first 10 elements with LIMIT), you can consider it O(log(N)).", zrangebyscore),
            spec("zrevrangebyscore", -4, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Return a range of members in a sorted set, by score, with scores ordered from high to low",
                 since: "2.2.0",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements being returned. If M is constant (e.g. always asking for the "
                     + "first 10 elements with LIMIT), you can consider it O(log(N)).", zrevrangebyscore),
            spec("zrangebylex", -4, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Return a range of members in a sorted set, by lexicographical range", since: "2.8.9",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements being returned. If M is constant (e.g. always asking for the "
                     + "first 10 elements with LIMIT), you can consider it O(log(N)).", zrangebylex),
            spec("zrevrangebylex", -4, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.",
                 since: "2.8.9",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements being returned. If M is constant (e.g. always asking for the "
                     + "first 10 elements with LIMIT), you can consider it O(log(N)).", zrevrangebylex),
            spec("zrevrange", -4, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Return a range of members in a sorted set, by index, with scores ordered from high to low",
                 since: "1.2.0",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements returned.", zrevrange),
            spec("zremrangebyrank", 4, ["write"], (1, 1, 1), ["write", "sortedset", "slow"], "sorted-set",
                 "Remove all members in a sorted set within the given indexes", since: "2.0.0",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements removed by the operation.", zremrangebyrank),
            spec("zremrangebyscore", 4, ["write"], (1, 1, 1), ["write", "sortedset", "slow"], "sorted-set",
                 "Remove all members in a sorted set within the given scores", since: "1.2.0",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements removed by the operation.", zremrangebyscore),
            spec("zremrangebylex", 4, ["write"], (1, 1, 1), ["write", "sortedset", "slow"], "sorted-set",
                 "Remove all members in a sorted set between the given lexicographical range", since: "2.8.9",
                 complexity: "O(log(N)+M) with N being the number of elements in the sorted set and M the "
                     + "number of elements removed by the operation.", zremrangebylex),
            spec("zpopmin", -2, ["write", "fast"], (1, 1, 1), ["write", "sortedset", "fast"], "sorted-set",
                 "Remove and return members with the lowest scores in a sorted set", since: "5.0.0",
                 complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being "
                     + "the number of elements popped.", zpopmin),
            spec("zpopmax", -2, ["write", "fast"], (1, 1, 1), ["write", "sortedset", "fast"], "sorted-set",
                 "Remove and return members with the highest scores in a sorted set", since: "5.0.0",
                 complexity: "O(log(N)*M) with N being the number of elements in the sorted set, and M being "
                     + "the number of elements popped.", zpopmax),
            spec("zmpop", -4, ["write", "movablekeys"], (0, 0, 0), ["write", "sortedset", "slow"], "sorted-set",
                 "Remove and return members with scores in a sorted set", since: "7.0.0",
                 complexity: "O(K) + O(M*log(N)) where K is the number of provided keys, N being the number of "
                     + "elements in the sorted set, and M being the number of elements popped.", zmpop),
            spec("zrandmember", -2, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Get one or multiple random elements from a sorted set", since: "6.2.0",
                 complexity: "O(N) where N is the number of elements returned", zrandmember),
            spec("zunion", -3, ["readonly", "movablekeys"], (0, 0, 0), ["read", "sortedset", "slow"], "sorted-set",
                 "Add multiple sorted sets", since: "6.2.0",
                 complexity: "O(N)+O(M*log(M)) with N being the sum of the sizes of the input sorted sets, and "
                     + "M being the number of elements in the resulting sorted set.", zunion),
            spec("zinter", -3, ["readonly", "movablekeys"], (0, 0, 0), ["read", "sortedset", "slow"], "sorted-set",
                 "Intersect multiple sorted sets", since: "6.2.0",
                 complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K "
                     + "being the number of input sorted sets and M being the number of elements in the "
                     + "resulting sorted set.", zinter),
            spec("zdiff", -3, ["readonly", "movablekeys"], (0, 0, 0), ["read", "sortedset", "slow"], "sorted-set",
                 "Subtract multiple sorted sets", since: "6.2.0",
                 complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the "
                     + "sets, N is the size of the first set, and K is the size of the result set.", zdiff),
            spec("zunionstore", -4, ["write", "denyoom", "movablekeys"], (1, 1, 1), ["write", "sortedset", "slow"],
                 "sorted-set",
                 "Add multiple sorted sets and store the resulting sorted set in a new key", since: "2.0.0",
                 complexity: "O(N)+O(M log(M)) with N being the sum of the sizes of the input sorted sets, and "
                     + "M being the number of elements in the resulting sorted set.", zunionstore),
            spec("zinterstore", -4, ["write", "denyoom", "movablekeys"], (1, 1, 1), ["write", "sortedset", "slow"],
                 "sorted-set",
                 "Intersect multiple sorted sets and store the resulting sorted set in a new key", since: "2.0.0",
                 complexity: "O(N*K)+O(M*log(M)) worst case with N being the smallest input sorted set, K "
                     + "being the number of input sorted sets and M being the number of elements in the "
                     + "resulting sorted set.", zinterstore),
            spec("zdiffstore", -4, ["write", "denyoom", "movablekeys"], (1, 1, 1), ["write", "sortedset", "slow"],
                 "sorted-set",
                 "Subtract multiple sorted sets and store the resulting sorted set in a new key", since: "6.2.0",
                 complexity: "O(L + (N-K)log(N)) worst case where L is the total number of elements in all the "
                     + "sets, N is the size of the first set, and K is the size of the result set.", zdiffstore),
            spec("zintercard", -3, ["readonly", "movablekeys"], (0, 0, 0), ["read", "sortedset", "slow"], "sorted-set",
                 "Intersect multiple sorted sets and return the cardinality of the result", since: "7.0.0",
                 complexity: "O(N*K) worst case with N being the smallest input sorted set, K being the number "
                     + "of input sorted sets.", zintercard),
            spec("zscan", -3, ["readonly"], (1, 1, 1), ["read", "sortedset", "slow"], "sorted-set",
                 "Incrementally iterate sorted sets elements and associated scores", since: "2.8.0",
                 complexity: "O(1) for every call. O(N) for a complete iteration, including enough command "
                     + "calls for the cursor to return back to 0. N is the number of elements inside the "
                     + "collection..", zscan),
                    // Lists
            spec("lpush", -3, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "list", "fast"], "list",
                 "Prepend one or multiple elements to a list", since: "1.0.0",
                 complexity: "O(1) for each element added, so O(N) to add N elements when the command is "
                     + "called with multiple arguments.", lpush),
            spec("rpush", -3, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "list", "fast"], "list",
                 "Append one or multiple elements to a list", since: "1.0.0",
                 complexity: "O(1) for each element added, so O(N) to add N elements when the command is "
                     + "called with multiple arguments.", rpush),
            spec("lpushx", -3, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "list", "fast"], "list",
                 "Prepend an element to a list, only if the list exists", since: "2.2.0",
                 complexity: "O(1) for each element added, so O(N) to add N elements when the command is "
                     + "called with multiple arguments.", lpushx),
            spec("rpushx", -3, ["write", "denyoom", "fast"], (1, 1, 1), ["write", "list", "fast"], "list",
                 "Append an element to a list, only if the list exists", since: "2.2.0",
                 complexity: "O(1) for each element added, so O(N) to add N elements when the command is "
                     + "called with multiple arguments.", rpushx),
            spec("lpop", -2, ["write", "fast"], (1, 1, 1), ["write", "list", "fast"], "list",
                 "Remove and get the first elements in a list", since: "1.0.0",
                 complexity: "O(N) where N is the number of elements returned", lpop),
            spec("rpop", -2, ["write", "fast"], (1, 1, 1), ["write", "list", "fast"], "list",
                 "Remove and get the last elements in a list", since: "1.0.0",
                 complexity: "O(N) where N is the number of elements returned", rpop),
            spec("llen", 2, ["readonly", "fast"], (1, 1, 1), ["read", "list", "fast"], "list",
                 "Get the length of a list", since: "1.0.0",
                 complexity: "O(1)", llen),
            spec("lrange", 4, ["readonly"], (1, 1, 1), ["read", "list", "slow"], "list",
                 "Get a range of elements from a list", since: "1.0.0",
                 complexity: "O(S+N) where S is the distance of start offset from HEAD for small lists, from "
                     + "nearest end (HEAD or TAIL) for large lists; and N is the number of elements in "
                     + "the specified range.", lrange),
            spec("lindex", 3, ["readonly"], (1, 1, 1), ["read", "list", "slow"], "list",
                 "Get an element from a list by its index", since: "1.0.0",
                 complexity: "O(N) where N is the number of elements to traverse to get to the element at "
                     + "index. This makes asking for the first or the last element of the list O(1).", lindex),
            spec("lset", 4, ["write", "denyoom"], (1, 1, 1), ["write", "list", "slow"], "list",
                 "Set the value of an element in a list by its index", since: "1.0.0",
                 complexity: "O(N) where N is the length of the list. Setting either the first or the last "
                     + "element of the list is O(1).", lset),
            spec("lrem", 4, ["write"], (1, 1, 1), ["write", "list", "slow"], "list",
                 "Remove elements from a list", since: "1.0.0",
                 complexity: "O(N+M) where N is the length of the list and M is the number of elements "
                     + "removed.", lrem),
            spec("ltrim", 4, ["write"], (1, 1, 1), ["write", "list", "slow"], "list",
                 "Trim a list to the specified range", since: "1.0.0",
                 complexity: "O(N) where N is the number of elements to be removed by the operation.", ltrim),
            spec("linsert", 5, ["write", "denyoom"], (1, 1, 1), ["write", "list", "slow"], "list",
                 "Insert an element before or after another element in a list", since: "2.2.0",
                 complexity: "O(N) where N is the number of elements to traverse before seeing the value "
                     + "pivot. This means that inserting somewhere on the left end on the list (head) "
                     + "can be considered O(1) and inserting somewhere on the right end (tail) is O(N).", linsert),
            spec("lpos", -3, ["readonly"], (1, 1, 1), ["read", "list", "slow"], "list",
                 "Return the index of matching elements on a list", since: "6.0.6",
                 complexity: "O(N) where N is the number of elements in the list, for the average case. When "
                     + "searching for elements near the head or the tail of the list, or when the MAXLEN "
                     + "option is provided, the command may run in constant time.", lpos),
            spec("lmove", 5, ["write", "denyoom"], (1, 2, 1), ["write", "list", "slow"], "list",
                 "Pop an element from a list, push it to another list and return it", since: "6.2.0",
                 complexity: "O(1)", lmove),
            spec("rpoplpush", 3, ["write", "denyoom"], (1, 2, 1), ["write", "list", "slow"], "list",
                 "Remove the last element in a list, prepend it to another list and return it", since: "1.2.0",
                 complexity: "O(1)", rpoplpush),
            spec("lmpop", -4, ["write", "movablekeys"], (0, 0, 0), ["write", "list", "slow"], "list",
                 "Pop elements from a list", since: "7.0.0",
                 complexity: "O(N+M) where N is the number of provided keys and M is the number of elements "
                     + "returned.", lmpop),
        ]
    }
}
