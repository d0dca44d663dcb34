"""Differential tests: seeded random command sequences sent to redis-server and neptune-server, replies compared.

See differential.py for what is generated and how non-deterministic replies are normalised. The default mode sends
12,000+ commands; NEPTUNE_LONG_TESTS=1 sends about a million.
"""

from __future__ import annotations

import os

import pytest

from differential import (
    DifferentialRunner, Mismatch, Op, compare, fmt_args, generate, run_differential,
)
from resp_client import Reply
from servers import ServerProcess

LONG = os.environ.get("NEPTUNE_LONG_TESTS") == "1"

# A default run sends 32,000 random commands (about half of them to hashes, sets, sorted sets and lists).
RESP2_SEEDS = list(range(1, 21)) if LONG else [1, 2, 3, 4]
RESP2_COUNT = 50_000 if LONG else 5_000
RESP3_SEEDS = list(range(101, 106)) if LONG else [101, 102]
RESP3_COUNT = 20_000 if LONG else 3_000
PIPELINE_SEEDS = list(range(201, 206)) if LONG else [201, 202]
PIPELINE_COUNT = 20_000 if LONG else 3_000


def _run(pair: tuple[ServerProcess, ServerProcess], seed: int, count: int, *, protocol: int = 2,
         pipeline: bool = False) -> None:
    reference, subject = pair
    flags = (" --resp3" if protocol == 3 else "") + (" --pipeline" if pipeline else "")
    repro = f"python3 Tests/integration/differential.py --seed {seed} --count {count}{flags}"
    with reference.client() as a, subject.client() as b:
        try:
            outcome = run_differential(a, b, seed=seed, count=count, protocol=protocol, pipeline=pipeline,
                                       labels=(reference.name, subject.name), repro=repro)
        except Mismatch as e:
            pytest.fail(str(e), pytrace=False)
    assert outcome.commands == count
    assert outcome.mismatches == []


@pytest.mark.parametrize("seed", RESP2_SEEDS)
def test_random_commands_resp2(server_pair: tuple[ServerProcess, ServerProcess], seed: int) -> None:
    _run(server_pair, seed, RESP2_COUNT)


@pytest.mark.parametrize("seed", RESP3_SEEDS)
def test_random_commands_resp3(server_pair: tuple[ServerProcess, ServerProcess], seed: int) -> None:
    _run(server_pair, seed, RESP3_COUNT, protocol=3)


@pytest.mark.parametrize("seed", PIPELINE_SEEDS)
def test_random_commands_pipelined(server_pair: tuple[ServerProcess, ServerProcess], seed: int) -> None:
    _run(server_pair, seed, PIPELINE_COUNT, pipeline=True)


# -- fixed edge cases (a regression corpus: each once hit a bug or a subtle Redis rule) -----------------------------

KIND_BY_NAME = {b"TTL": "ttl_s", b"PTTL": "ttl_ms", b"EXPIRETIME": "abs_s", b"PEXPIRETIME": "abs_ms",
                b"KEYS": "keys", b"RANDOMKEY": "randomkey", b"DBSIZE": "dbsize"}

EDGE_CASES: dict[str, list[list[bytes]]] = {
    "expiry-at-int64-max": [
        [b"SET", b"a", b"1"], [b"PEXPIREAT", b"a", b"9223372036854775807"], [b"EXPIRETIME", b"a"],
        [b"PEXPIRETIME", b"a"], [b"TTL", b"a"], [b"PTTL", b"a"], [b"GET", b"a"],
        [b"EXPIREAT", b"a", b"9223372036854775"], [b"EXPIREAT", b"a", b"9223372036854776"],
        [b"EXPIRE", b"a", b"9223372036854775"], [b"PEXPIRE", b"a", b"9223372036854775807"],
        [b"SET", b"a", b"1", b"EX", b"9223372036854775"], [b"SET", b"a", b"1", b"PXAT", b"9223372036854775807"],
        [b"PEXPIRETIME", b"a"], [b"GETEX", b"a", b"EXAT", b"9223372036854775"], [b"EXPIRETIME", b"a"],
        [b"SETEX", b"a", b"9223372036854775", b"v"], [b"PSETEX", b"a", b"9223372036854775807", b"v"],
    ],
    "expiry-flags": [
        [b"SET", b"e", b"v"], [b"EXPIRE", b"e", b"1000", b"XX"], [b"EXPIRE", b"e", b"1000", b"GT"],
        [b"EXPIRE", b"e", b"1000", b"LT"], [b"TTL", b"e"], [b"EXPIRE", b"e", b"500", b"NX"],
        [b"EXPIRE", b"e", b"2000", b"GT"], [b"EXPIRE", b"e", b"100", b"GT"], [b"EXPIRE", b"e", b"100", b"LT"],
        [b"TTL", b"e"], [b"EXPIRE", b"e", b"100", b"NX", b"XX"], [b"EXPIRE", b"e", b"100", b"GT", b"LT"],
        [b"EXPIRE", b"e", b"100", b"NX", b"GT"], [b"EXPIRE", b"e", b"-1", b"GT"], [b"EXISTS", b"e"],
        [b"EXPIRE", b"e", b"-1", b"LT"], [b"EXISTS", b"e"], [b"PERSIST", b"e"], [b"EXPIRE", b"missing", b"100"],
    ],
    "setrange-limits": [
        [b"SETRANGE", b"r", b"536870912", b""], [b"EXISTS", b"r"], [b"SETRANGE", b"r", b"536870912", b"x"],
        [b"SETRANGE", b"r", b"-1", b"x"], [b"SETRANGE", b"r", b"3", b"abc"], [b"GET", b"r"],
        [b"SETRANGE", b"r", b"536870912", b""], [b"SETRANGE", b"r", b"536870911", b"xy"],
        [b"APPEND", b"r", b""], [b"GETRANGE", b"r", b"-100", b"-1"], [b"GETRANGE", b"r", b"5", b"2"],
        [b"GETRANGE", b"r", b"-9223372036854775808", b"9223372036854775807"], [b"SUBSTR", b"r", b"1", b"1"],
    ],
    "numbers": [
        [b"SET", b"n", b"9223372036854775806"], [b"INCR", b"n"], [b"INCR", b"n"], [b"DECRBY", b"n",
                                                                                   b"-9223372036854775808"],
        [b"SET", b"n", b"-9223372036854775808"], [b"DECR", b"n"], [b"INCRBY", b"n", b"-1"],
        [b"SET", b"f", b"10.50"], [b"INCRBYFLOAT", b"f", b"0.1"], [b"INCRBYFLOAT", b"f", b"1e200"],
        [b"INCRBYFLOAT", b"f", b"-1e200"], [b"INCRBYFLOAT", b"f", b"3.0e3"], [b"INCRBYFLOAT", b"f", b"1e309"],
        [b"INCRBYFLOAT", b"f", b"inf"], [b"INCRBYFLOAT", b"f", b"nan"], [b"INCRBYFLOAT", b"f", b"0x10"],
        [b"SET", b"g", b"5.0e3"], [b"INCRBYFLOAT", b"g", b"0"], [b"SET", b"g", b" 1"], [b"INCR", b"g"],
        [b"SET", b"g", b"+1"], [b"INCR", b"g"], [b"SET", b"g", b"-0"], [b"INCR", b"g"], [b"SET", b"g", b"007"],
        [b"INCR", b"g"], [b"INCRBYFLOAT", b"g", b"1.5"], [b"INCRBYFLOAT", b"z", b"17179869184.000001"],
        [b"INCRBYFLOAT", b"z", b"0.000000000000000001"], [b"INCRBYFLOAT", b"y", b"1e-320"],
        [b"INCRBYFLOAT", b"y", b"3.3333333333333333333"],
    ],
    "object-encoding": [
        [b"SET", b"o", b"12345"], [b"OBJECT", b"ENCODING", b"o"], [b"APPEND", b"o", b"6"],
        [b"OBJECT", b"ENCODING", b"o"], [b"SET", b"o", b"x" * 44], [b"OBJECT", b"ENCODING", b"o"],
        [b"SET", b"o", b"x" * 45], [b"OBJECT", b"ENCODING", b"o"], [b"SET", b"o", b"12345678901234567890"],
        [b"OBJECT", b"ENCODING", b"o"], [b"SET", b"o", b"-9223372036854775808"], [b"OBJECT", b"ENCODING", b"o"],
        [b"INCR", b"p"], [b"OBJECT", b"ENCODING", b"p"], [b"SETRANGE", b"q", b"0", b"1"],
        [b"OBJECT", b"ENCODING", b"q"], [b"INCRBYFLOAT", b"q", b"1"], [b"OBJECT", b"ENCODING", b"q"],
        [b"OBJECT", b"ENCODING", b"missing"], [b"OBJECT", b"REFCOUNT", b"p"], [b"OBJECT", b"FOO", b"p"],
        [b"OBJECT", b"ENCODING"], [b"OBJECT", b"ENCODING", b"o", b"extra"],
    ],
    "databases": [
        [b"SET", b"d", b"0"], [b"MOVE", b"d", b"0"], [b"MOVE", b"d", b"1"], [b"MOVE", b"d", b"1"],
        [b"SELECT", b"1"], [b"GET", b"d"], [b"COPY", b"d", b"d"], [b"COPY", b"d", b"d", b"DB", b"0"],
        [b"COPY", b"d", b"d", b"DB", b"16"], [b"COPY", b"d", b"d", b"DB", b"1"], [b"SWAPDB", b"0", b"1"],
        [b"GET", b"d"], [b"SWAPDB", b"0", b"16"], [b"SWAPDB", b"x", b"1"], [b"SELECT", b"16"],
        [b"SELECT", b"-1"], [b"SELECT", b"x"], [b"SELECT", b"0"], [b"GET", b"d"], [b"DBSIZE"],
        [b"FLUSHDB", b"ASYNC"], [b"DBSIZE"], [b"FLUSHDB", b"x"], [b"FLUSHALL", b"SYNC"], [b"SELECT", b"1"],
        [b"DBSIZE"], [b"SELECT", b"0"],
    ],
    "collection-encodings": [
        [b"CONFIG", b"SET", b"hash-max-listpack-entries", b"2"], [b"HSET", b"ce", b"a", b"1", b"b", b"2"],
        [b"OBJECT", b"ENCODING", b"ce"], [b"HSET", b"ce", b"c", b"3"], [b"OBJECT", b"ENCODING", b"ce"],
        [b"CONFIG", b"SET", b"hash-max-ziplist-value", b"3"], [b"HSET", b"ce2", b"a", b"1234"],
        [b"OBJECT", b"ENCODING", b"ce2"], [b"CONFIG", b"SET", b"set-max-intset-entries", b"2"],
        [b"SADD", b"cs", b"1", b"2"], [b"OBJECT", b"ENCODING", b"cs"], [b"SADD", b"cs", b"3"],
        [b"OBJECT", b"ENCODING", b"cs"], [b"CONFIG", b"SET", b"zset-max-listpack-entries", b"1"],
        [b"ZADD", b"cz", b"1", b"a"], [b"OBJECT", b"ENCODING", b"cz"], [b"ZADD", b"cz", b"2", b"b"],
        [b"OBJECT", b"ENCODING", b"cz"], [b"CONFIG", b"SET", b"zset-max-listpack-value", b"2"],
        [b"ZADD", b"cz2", b"1", b"abc"], [b"OBJECT", b"ENCODING", b"cz2"], [b"ZRANGE", b"cz", b"0", b"-1"],
        [b"RPUSH", b"cl", b"a"], [b"OBJECT", b"ENCODING", b"cl"],
        [b"CONFIG", b"SET", b"hash-max-listpack-entries", b"512", b"hash-max-listpack-value", b"64",
         b"set-max-intset-entries", b"512", b"zset-max-listpack-entries", b"128", b"zset-max-listpack-value", b"64"],
        [b"DEL", b"ce", b"ce2", b"cs", b"cz", b"cz2", b"cl"],
    ],
    "errors-and-echo": [
        [b"FOO"], [b"foo", b"a" * 200, b"b"], [b"GET\x00X", b"\r\nx"], [b""], [b"GET"], [b"SET", b"k"],
        [b"SET", b"k", b"v", b"EX"], [b"SET", b"k", b"v", b"EX", b"0"], [b"SET", b"k", b"v", b"NX", b"XX"],
        [b"SET", b"k", b"v", b"KEEPTTL", b"EX", b"100"], [b"SET", b"k", b"v", b"GET", b"NX"], [b"MSET", b"k"],
        [b"MGET"], [b"PING", b"a", b"b"], [b"PING", b""], [b"ECHO", b"\x00\r\n"], [b"KEYS", b"*"],
        [b"RENAME", b"nope", b"k"], [b"RENAME", b"k", b"k"], [b"RENAMENX", b"k", b"k"], [b"TYPE", b"k"],
        [b"GETEX", b"k", b"PERSIST", b"EX", b"100"], [b"GETEX", b"k", b"EX", b"0"], [b"GETDEL", b"k"],
    ],
}


@pytest.mark.parametrize("commands", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_match_redis(server_pair: tuple[ServerProcess, ServerProcess],
                                commands: list[list[bytes]]) -> None:
    reference, subject = server_pair
    ops = [Op(args, KIND_BY_NAME.get(args[0].upper(), "exact")) for args in commands]
    with reference.client() as a, subject.client() as b:
        runner = DifferentialRunner(a, b, seed=0, labels=(reference.name, subject.name))
        try:
            runner.run(ops, len(ops))
        except Mismatch as e:
            pytest.fail(str(e), pytrace=False)


# -- the harness itself ---------------------------------------------------------------------------------------------


def test_generator_is_reproducible() -> None:
    def ops(seed: int) -> list[str]:
        return [fmt_args(op.args) for _, op in zip(range(500), generate(seed, clock=lambda: 1_700_000_000.0))]

    assert ops(7) == ops(7)
    assert ops(7) != ops(8)


def test_generator_covers_the_command_families() -> None:
    names = {op.args[0].upper() for _, op in zip(range(20_000), generate(1))}
    expected = {
        b"GET", b"SET", b"SETNX", b"SETEX", b"PSETEX", b"GETSET", b"MGET", b"MSET", b"MSETNX", b"APPEND", b"STRLEN",
        b"INCR", b"DECR", b"INCRBY", b"DECRBY", b"INCRBYFLOAT", b"GETRANGE", b"SETRANGE", b"SUBSTR", b"GETDEL",
        b"GETEX", b"DEL", b"UNLINK", b"EXISTS", b"TYPE", b"RENAME", b"RENAMENX", b"KEYS", b"SCAN", b"RANDOMKEY",
        b"DBSIZE", b"TOUCH", b"COPY", b"EXPIRE", b"PEXPIRE", b"EXPIREAT", b"PEXPIREAT", b"TTL", b"PTTL",
        b"EXPIRETIME", b"PEXPIRETIME", b"PERSIST", b"OBJECT", b"FLUSHDB", b"SELECT", b"SWAPDB", b"MOVE", b"PING",
        b"ECHO",
        b"HSET", b"HSETNX", b"HGET", b"HMGET", b"HMSET", b"HDEL", b"HEXISTS", b"HLEN", b"HSTRLEN", b"HKEYS",
        b"HVALS", b"HGETALL", b"HINCRBY", b"HINCRBYFLOAT", b"HRANDFIELD", b"HSCAN",
        b"SADD", b"SREM", b"SMEMBERS", b"SISMEMBER", b"SMISMEMBER", b"SCARD", b"SPOP", b"SRANDMEMBER", b"SMOVE",
        b"SINTER", b"SINTERCARD", b"SUNION", b"SDIFF", b"SINTERSTORE", b"SUNIONSTORE", b"SDIFFSTORE", b"SSCAN",
        b"ZADD", b"ZINCRBY", b"ZREM", b"ZSCORE", b"ZMSCORE", b"ZCARD", b"ZCOUNT", b"ZLEXCOUNT", b"ZRANK",
        b"ZREVRANK", b"ZRANGE", b"ZRANGESTORE", b"ZRANGEBYSCORE", b"ZREVRANGEBYSCORE", b"ZRANGEBYLEX",
        b"ZREVRANGEBYLEX", b"ZREVRANGE", b"ZREMRANGEBYRANK", b"ZREMRANGEBYSCORE", b"ZREMRANGEBYLEX", b"ZPOPMIN",
        b"ZPOPMAX", b"ZMPOP", b"ZRANDMEMBER", b"ZUNION", b"ZINTER", b"ZDIFF", b"ZUNIONSTORE", b"ZINTERSTORE",
        b"ZDIFFSTORE", b"ZINTERCARD", b"ZSCAN",
        b"LPUSH", b"RPUSH", b"LPUSHX", b"RPUSHX", b"LPOP", b"RPOP", b"LLEN", b"LRANGE", b"LINDEX", b"LSET", b"LREM",
        b"LTRIM", b"LINSERT", b"LPOS", b"LMOVE", b"RPOPLPUSH", b"LMPOP",
    }
    assert expected <= names, f"never generated: {sorted(expected - names)}"


def test_unordered_replies_are_compared_as_multisets() -> None:
    def r(raw: bytes, value: object) -> Reply:
        return Reply(raw, value)

    members = Op([b"SMEMBERS", b"s"], "unordered")
    assert compare(members, r(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", [b"a", b"b"]),
                   r(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n", [b"b", b"a"])) is None
    assert compare(members, r(b"*2\r\n$1\r\na\r\n$1\r\na\r\n", [b"a", b"a"]),
                   r(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", [b"a", b"b"])) is not None
    pairs = Op([b"HGETALL", b"h"], "pairs")
    assert compare(pairs, r(b"1", [b"f", b"1", b"g", b"2"]), r(b"2", [b"g", b"2", b"f", b"1"])) is None
    # A value moved to another field is a difference.
    assert compare(pairs, r(b"1", [b"f", b"1", b"g", b"2"]), r(b"2", [b"f", b"2", b"g", b"1"])) is not None
    random = Op([b"SRANDMEMBER", b"s", b"2"], "random")
    assert compare(random, r(b"1", [b"a", b"b"]), r(b"2", [b"c", b"a"])) is None
    assert compare(random, r(b"1", [b"a", b"b"]), r(b"2", [b"a"])) is not None


def test_compare_normalises_only_what_redis_leaves_open() -> None:
    def r(raw: bytes, value: object) -> Reply:
        return Reply(raw, value)

    keys = Op([b"KEYS", b"*"], "keys")
    assert compare(keys, r(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", [b"a", b"b"]),
                   r(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n", [b"b", b"a"])) is None
    assert compare(keys, r(b"*1\r\n$1\r\na\r\n", [b"a"]), r(b"*1\r\n$1\r\nb\r\n", [b"b"])) is not None
    ttl = Op([b"PTTL", b"k"], "ttl_ms")
    assert compare(ttl, r(b":100000\r\n", 100000), r(b":99200\r\n", 99200)) is None
    assert compare(ttl, r(b":100000\r\n", 100000), r(b":100\r\n", 100)) is not None
    assert compare(ttl, r(b":-1\r\n", -1), r(b":-2\r\n", -2)) is not None
    ttl_s = Op([b"TTL", b"k"], "ttl_s")
    assert compare(ttl_s, r(b":100\r\n", 100), r(b":99\r\n", 99)) is None
    assert compare(ttl_s, r(b":100\r\n", 100), r(b":97\r\n", 97)) is not None
    exact = Op([b"GET", b"k"], "exact")
    assert compare(exact, r(b"$1\r\na\r\n", b"a"), r(b"+a\r\n", b"a")) is not None


def test_harness_reports_a_diverging_server(start_server) -> None:
    """Redis against Redis with different data: the runner must notice, in a reply and in the state check."""
    a_server, b_server = start_server("redis"), start_server("redis")
    with a_server.client() as a, b_server.client() as b:
        b.call("SET", "k3", "only-here")
        runner = DifferentialRunner(a, b, seed=5, repro="repro-hint")
        with pytest.raises(Mismatch) as info:
            runner.run([Op([b"PING"]), Op([b"GET", b"k3"])], 2)
        message = str(info.value)
        assert "seed=5" in message and "command index=1" in message and "repro-hint" in message
        assert "GET k3" in message and "0: PING" in message

        b.call("DEL", "k3")
        b.call("SELECT", "2")
        b.call("SET", "hidden", "x")
        b.call("SELECT", "0")
        runner = DifferentialRunner(a, b, seed=6)
        with pytest.raises(Mismatch) as info:
            runner.run([Op([b"PING"])], 1)
        assert "state check of db 2" in str(info.value)
