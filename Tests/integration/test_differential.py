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

RESP2_SEEDS = list(range(1, 21)) if LONG else [1, 2, 3, 4]
RESP2_COUNT = 50_000 if LONG else 3_000
RESP3_SEEDS = list(range(101, 106)) if LONG else [101]
RESP3_COUNT = 20_000 if LONG else 2_000
PIPELINE_SEEDS = list(range(201, 206)) if LONG else [201]
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
    }
    assert expected <= names, f"never generated: {sorted(expected - names)}"


def test_compare_normalises_only_what_redis_leaves_open() -> None:
    def r(raw: bytes, value: object) -> Reply:
        return Reply(raw, value)

    keys = Op([b"KEYS", b"*"], "keys")
    assert compare(keys, r(b"*2\r\n$1\r\na\r\n$1\r\nb\r\n", [b"a", b"b"]),
                   r(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n", [b"b", b"a"])) is None
    assert compare(keys, r(b"*1\r\n$1\r\na\r\n", [b"a"]), r(b"*1\r\n$1\r\nb\r\n", [b"b"])) is not None
    ttl = Op([b"PTTL", b"k"], "ttl_ms")
    assert compare(ttl, r(b":100000\r\n", 100000), r(b":99990\r\n", 99990)) is None
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
