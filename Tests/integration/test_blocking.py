"""Blocking list and sorted-set commands (BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP BZPOPMIN BZPOPMAX BZMPOP) with several
real clients, against redis-server and neptune-server.

Tests parameterized with ``any_server`` run against both: Redis proves each expectation is Redis's. Deterministic
replies are compared byte for byte with redis-server's.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

import redis

from resp_client import ConnectionClosed, Error, RespClient
from servers import ServerProcess

PROTOCOLS = [2, 3]


@pytest.fixture(params=PROTOCOLS, ids=lambda p: f"resp{p}")
def protocol(request: pytest.FixtureRequest) -> int:
    return request.param


def connect(server: ServerProcess, protocol: int = 2) -> RespClient:
    c = RespClient(server.host, server.port)
    if protocol == 3:
        c.hello(3)
    return c


def info_field(c: RespClient, section: str, field: str) -> str:
    text = c.call("INFO", section)
    text = text.decode() if isinstance(text, (bytes, bytearray)) else str(text)
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1]
    raise AssertionError(f"{field} not in INFO {section}")


def wait_blocked(c: RespClient, count: int, timeout: float = 5.0) -> None:
    """Waits until INFO clients reports ``count`` blocked clients."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(info_field(c, "clients", "blocked_clients")) == count:
            return
        time.sleep(0.005)
    raise AssertionError(f"blocked_clients never reached {count}: {info_field(c, 'clients', 'blocked_clients')}")


def no_reply_yet(c: RespClient, wait: float = 0.1) -> bool:
    """True if nothing arrives on ``c`` within ``wait`` seconds."""
    data, closed = c.read_until_close(timeout=wait)
    assert not closed
    if data:
        c._buf[:0] = data  # keep it for the next read
        return False
    return True


# MARK: Replies compared with Redis

SCRIPT = [
    # Timeouts: parse errors, negative, rounding up to a millisecond, hexadecimal.
    ["BLPOP", "nokey", "-1"], ["BLPOP", "nokey", "abc"], ["BLPOP", "nokey", "nan"], ["BLPOP", "nokey", "inf"],
    ["BLPOP", "nokey", "-inf"], ["BLPOP", "nokey", "1e400"], ["BLPOP", "nokey", " 1"], ["BLPOP", "nokey", ""],
    ["BLPOP", "nokey", "9223372036854775807"], ["BLPOP", "nokey", "1e16"], ["BLPOP", "nokey", "0.0001"],
    ["BLPOP", "nokey", "1e-5"], ["BRPOP", "nokey", "0.01"], ["BLPOP", "nokey"], ["BLPOP"],
    ["BZPOPMIN", "nokey", "0.01"], ["BZPOPMAX", "nokey", "-0.5"], ["BZPOPMIN", "-1"],
    ["BLMOVE", "nokey", "dst", "LEFT", "RIGHT", "0.01"], ["BRPOPLPUSH", "nokey", "dst", "0.01"],
    ["BLMOVE", "a", "b", "up", "left", "-1"], ["BLMOVE", "a", "b", "left", "left", "-1"],
    ["BRPOPLPUSH", "a", "b", "x"], ["BLMOVE", "a", "b", "left"],
    ["BLMPOP", "0.01", "1", "nokey", "LEFT"], ["BLMPOP", "0.01", "1", "nokey", "LEFT", "COUNT", "0"],
    ["BLMPOP", "abc", "0", "l", "left"], ["BLMPOP", "-1", "1", "l", "left", "count", "0"],
    ["BLMPOP", "-1", "1", "l", "left"], ["BLMPOP", "1", "2", "nokey", "l"], ["BLMPOP", "1", "1", "l", "up"],
    ["BLMPOP", "1", "1", "l", "left", "count"], ["BLMPOP", "0", "1"],
    ["BZMPOP", "0.01", "1", "nokey", "MIN"], ["BZMPOP", "abc", "0", "z", "min"], ["BZMPOP", "-1", "1", "z", "min"],
    ["BZMPOP", "1", "1", "z", "middle"], ["BZMPOP", "1", "1", "z", "max", "count", "-2"],
    # Data present: served at once, as the non-blocking pops.
    ["RPUSH", "l", "a", "b", "c", "d"], ["BLPOP", "nokey", "l", "0"], ["BRPOP", "l", "nokey", "0"],
    ["BLMOVE", "l", "l2", "LEFT", "LEFT", "0"], ["BRPOPLPUSH", "l2", "l", "0"], ["LRANGE", "l", "0", "-1"],
    ["BLMPOP", "0", "2", "nokey", "l", "RIGHT", "COUNT", "10"], ["EXISTS", "l"],
    ["ZADD", "z", "1", "a", "2", "b", "3.5", "c", "4", "d"], ["BZPOPMIN", "nokey", "z", "0"],
    ["BZPOPMAX", "z", "0"], ["BZMPOP", "0", "1", "z", "MIN", "COUNT", "5"], ["EXISTS", "z"],
    # Wrong types: a key of another type met before a key with data is WRONGTYPE.
    ["SET", "s", "x"], ["RPUSH", "l", "v"], ["BLPOP", "nokey", "s", "l", "1"], ["BLPOP", "l", "s", "1"],
    ["BZPOPMIN", "s", "1"], ["BLMPOP", "1", "1", "s", "LEFT"], ["BZMPOP", "1", "1", "s", "MAX"],
    ["RPUSH", "src", "1"], ["BLMOVE", "src", "s", "LEFT", "LEFT", "1"], ["LRANGE", "src", "0", "-1"],
    ["BLMOVE", "s", "l", "LEFT", "LEFT", "1"],
    # Inside MULTI a blocking command never blocks: it replies as if its timeout elapsed.
    ["MULTI"], ["BLPOP", "empty", "0"], ["BRPOP", "empty", "0"], ["BLMOVE", "empty", "x", "LEFT", "LEFT", "0"],
    ["BRPOPLPUSH", "empty", "x", "0"], ["BLMPOP", "0", "1", "empty", "LEFT"], ["BZPOPMIN", "empty", "0"],
    ["BZPOPMAX", "empty", "0"], ["BZMPOP", "0", "1", "empty", "MIN"], ["LPUSH", "empty", "v"],
    ["BLPOP", "empty", "0"], ["EXEC"],
    ["MULTI"], ["BLPOP", "nokey", "-1"], ["EXEC"],
    # CLIENT UNBLOCK argument checks.
    ["CLIENT", "UNBLOCK", "999999"], ["CLIENT", "UNBLOCK", "abc"], ["CLIENT", "UNBLOCK", "abc", "foo"],
    ["CLIENT", "UNBLOCK", "999999", "timeout"], ["CLIENT", "UNBLOCK", "999999", "ERROR"],
    ["CLIENT", "UNBLOCK", "1", "timeout", "x"], ["CLIENT", "UNBLOCK"],
    ["COMMAND", "INFO", "blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop"],
]


def test_replies_match_redis(server_pair: tuple[ServerProcess, ServerProcess], protocol: int) -> None:
    replies = []
    for server in server_pair:
        c = connect(server, protocol)
        replies.append([c.call_raw(*command) for command in SCRIPT])
        c.close()
    reference, subject = replies
    for command, expected, got in zip(SCRIPT, reference, subject):
        if command[0] == "COMMAND":
            # Key specs (Redis 7's key_specs) are not reported by Neptune: compare the classic fields only.
            continue
        assert got == expected, command


def test_command_info_matches_redis(server_pair: tuple[ServerProcess, ServerProcess]) -> None:
    names = ["blpop", "brpop", "blmove", "brpoplpush", "blmpop", "bzpopmin", "bzpopmax", "bzmpop"]
    infos = []
    for server in server_pair:
        with connect(server) as c:
            infos.append(c.call("COMMAND", "INFO", *names))
    for expected, got in zip(*infos):
        # name, arity, flags, first key, last key, step, ACL categories
        assert got[:7] == expected[:7]


# MARK: Several clients


def test_fairness_first_blocked_first_served(any_server: ServerProcess, protocol: int) -> None:
    """Three clients block on the same key in turn; one push of three elements serves them in that order."""
    admin = connect(any_server)
    clients = [connect(any_server, protocol) for _ in range(3)]
    for i, c in enumerate(clients):
        c.send("BLPOP", "queue", "0")
        wait_blocked(admin, i + 1)
    assert admin.call("RPUSH", "queue", "a", "b", "c") == 3
    assert [c.read_reply().value for c in clients] == [[b"queue", b"a"], [b"queue", b"b"], [b"queue", b"c"]]
    assert admin.call("EXISTS", "queue") == 0
    # One push at a time: still in blocking order, and each push serves exactly one client.
    for i, c in enumerate(clients):
        c.send("BRPOP", "queue2", "0")
        wait_blocked(admin, i + 1)
    for i, value in enumerate(["x", "y", "z"]):
        assert admin.call("LPUSH", "queue2", value) == 1
        assert clients[i].read_reply().value == [b"queue2", value.encode()]
        assert all(no_reply_yet(c, 0.02) for c in clients[i + 1 :])
    assert int(info_field(admin, "clients", "blocked_clients")) == 0


def test_sorted_set_fairness_and_reply_shapes(server_pair: tuple[ServerProcess, ServerProcess], protocol: int) -> None:
    """BZPOPMIN/BZPOPMAX/BZMPOP served by a ZADD: the same bytes as Redis, in blocking order."""
    results = []
    for server in server_pair:
        admin = connect(server)
        waiting = [connect(server, protocol) for _ in range(3)]
        commands = [["BZPOPMIN", "z1", "zz", "0"], ["BZPOPMAX", "zz", "0"], ["BZMPOP", "0", "2", "z9", "zz", "MIN",
                                                                               "COUNT", "2"]]
        for i, (c, command) in enumerate(zip(waiting, commands)):
            c.send(*command)
            wait_blocked(admin, i + 1)
        admin.call("ZADD", "zz", "1", "a", "2.5", "b", "3", "c", "4", "d", "5e10", "e")
        results.append([c.read_reply().raw for c in waiting] + [admin.call_raw("ZRANGE", "zz", "0", "-1")])
        for c in [admin, *waiting]:
            c.close()
    assert results[1] == results[0]


def test_served_from_first_key_that_gets_data(any_server: ServerProcess, protocol: int) -> None:
    admin = connect(any_server)
    c = connect(any_server, protocol)
    c.send("BLPOP", "k1", "k2", "k3", "0")
    wait_blocked(admin, 1)
    admin.call("RPUSH", "k3", "three")
    assert c.read_reply().value == [b"k3", b"three"]
    # It no longer waits on k1: a later push stays in the list.
    admin.call("RPUSH", "k1", "one")
    assert admin.call("LRANGE", "k1", "0", "-1") == [b"one"]
    # BLMPOP with COUNT gets up to COUNT elements of the first key with data.
    c.send("BLMPOP", "0", "2", "m1", "m2", "RIGHT", "COUNT", "2")
    wait_blocked(admin, 1)
    admin.call("RPUSH", "m2", "a", "b", "c")
    assert c.read_reply().value == [b"m2", [b"c", b"b"]]
    assert admin.call("LRANGE", "m2", "0", "-1") == [b"a"]


def test_timeouts(any_server: ServerProcess, protocol: int) -> None:
    c = connect(any_server, protocol)
    # Every blocking command times out with a nil array (BLMOVE too, unlike its nil bulk inside MULTI).
    nil_array = b"*-1\r\n" if protocol == 2 else b"_\r\n"
    for command in [
        ["BLPOP", "t1", "t2", "0.2"],
        ["BZPOPMAX", "t3", "0.2"],
        ["BLMOVE", "t4", "t5", "RIGHT", "LEFT", "0.2"],
        ["BLMPOP", "0.2", "1", "t6", "LEFT"],
    ]:
        start = time.monotonic()
        assert c.call_raw(*command) == nil_array, command
        elapsed = time.monotonic() - start
        assert 0.15 <= elapsed < 2.0, (command, elapsed)
    # Commands pipelined behind a blocked one wait for it.
    c.send_many([["BRPOP", "t7", "0.1"], ["PING"]])
    assert c.read_reply().raw == nil_array
    assert c.read_reply().value in (b"PONG", "PONG")


def test_push_from_another_client_and_pipelined_commands_wait(any_server: ServerProcess) -> None:
    admin = connect(any_server)
    c = connect(any_server)
    c.send_many([["BLPOP", "jobs", "0"], ["PING"], ["LLEN", "jobs"]])
    wait_blocked(admin, 1)
    assert no_reply_yet(c)
    assert admin.call("RPUSH", "jobs", "j1", "j2") == 2
    assert c.read_reply().value == [b"jobs", b"j1"]
    assert c.read_reply().value == b"PONG"
    assert c.read_reply().value == 1


def test_no_third_client_steals_the_pushed_element(any_server: ServerProcess) -> None:
    """The element a push makes available goes to the blocked client even while another client pops in a loop."""
    admin = connect(any_server)
    blocked = connect(any_server)
    stop = threading.Event()
    stolen: list[bytes] = []

    def thief() -> None:
        t = connect(any_server)
        while not stop.is_set():
            t.send_many([["LPOP", "hot"]] * 16)
            for _ in range(16):
                value = t.read_reply().value
                if value is not None:
                    stolen.append(value)
        t.close()

    thread = threading.Thread(target=thief)
    thread.start()
    try:
        for i in range(40):
            blocked.send("BLPOP", "hot", "0")
            wait_blocked(admin, 1)
            admin.call("RPUSH", "hot", f"v{i}")
            assert blocked.read_reply().value == [b"hot", f"v{i}".encode()]
    finally:
        stop.set()
        thread.join()
    assert stolen == []


def test_blmove_chain_and_wrong_destination(any_server: ServerProcess) -> None:
    admin = connect(any_server)
    first = connect(any_server)
    second = connect(any_server)
    # first moves src -> mid; second waits on mid and moves it on to dst: one push serves both, in order.
    first.send("BLMOVE", "src", "mid", "LEFT", "RIGHT", "0")
    wait_blocked(admin, 1)
    second.send("BRPOPLPUSH", "mid", "dst", "0")
    wait_blocked(admin, 2)
    admin.call("RPUSH", "src", "item")
    assert first.read_reply().value == b"item"
    assert second.read_reply().value == b"item"
    assert admin.call("LRANGE", "dst", "0", "-1") == [b"item"]
    assert admin.call("EXISTS", "src", "mid") == 0
    # A destination of another type: the client gets WRONGTYPE when served, and nothing moves.
    admin.call("SET", "notalist", "x")
    first.send("BLMOVE", "src2", "notalist", "LEFT", "LEFT", "0")
    wait_blocked(admin, 1)
    admin.call("RPUSH", "src2", "v")
    reply = first.read_reply().value
    assert isinstance(reply, Error) and reply.startswith(b"WRONGTYPE")
    assert admin.call("LRANGE", "src2", "0", "-1") == [b"v"]
    assert int(info_field(admin, "clients", "blocked_clients")) == 0


def test_type_change_keeps_clients_blocked(any_server: ServerProcess) -> None:
    """Redis 7.0: a key written with another type does not serve (or fail) a blocked client."""
    admin = connect(any_server)
    c = connect(any_server)
    c.send("BLPOP", "typed", "0")
    wait_blocked(admin, 1)
    admin.call("ZADD", "typed", "1", "m")
    assert no_reply_yet(c)
    admin.call("DEL", "typed")
    admin.call("RPUSH", "typed", "v")
    assert c.read_reply().value == [b"typed", b"v"]


def test_keys_created_by_exec_rename_move_copy_swapdb(any_server: ServerProcess) -> None:
    admin = connect(any_server)
    c = connect(any_server)
    # A transaction: served after EXEC, with the list as EXEC left it.
    c.send("BLPOP", "tx", "0")
    wait_blocked(admin, 1)
    admin.call("MULTI")
    admin.call("RPUSH", "tx", "a")
    admin.call("RPUSH", "tx", "b")
    admin.call("LPOP", "tx")
    assert admin.call("EXEC") == [1, 2, b"a"]
    assert c.read_reply().value == [b"tx", b"b"]
    # RENAME onto the waited key.
    c.send("BRPOP", "renamed", "0")
    wait_blocked(admin, 1)
    admin.call("RPUSH", "tmp", "r1", "r2")
    admin.call("RENAME", "tmp", "renamed")
    assert c.read_reply().value == [b"renamed", b"r2"]
    # MOVE from another database.
    c.send("BLPOP", "moved", "0")
    wait_blocked(admin, 1)
    admin.call("SELECT", "1")
    admin.call("RPUSH", "moved", "m")
    admin.call("MOVE", "moved", "0")
    admin.call("SELECT", "0")
    assert c.read_reply().value == [b"moved", b"m"]
    # COPY to the waited key.
    c.send("BZPOPMIN", "copied", "0")
    wait_blocked(admin, 1)
    admin.call("ZADD", "orig", "7", "seven")
    admin.call("COPY", "orig", "copied")
    assert c.read_reply().value[:2] == [b"copied", b"seven"]
    # LMOVE, ZUNIONSTORE and ZRANGESTORE writing the waited key.
    c.send("BLPOP", "lmoved", "0")
    wait_blocked(admin, 1)
    admin.call("RPUSH", "lsrc", "l1")
    admin.call("LMOVE", "lsrc", "lmoved", "LEFT", "LEFT")
    assert c.read_reply().value == [b"lmoved", b"l1"]
    c.send("BZPOPMAX", "zstored", "0")
    wait_blocked(admin, 1)
    admin.call("ZADD", "zin", "1", "u1", "2", "u2")
    admin.call("ZUNIONSTORE", "zstored", "1", "zin")
    assert c.read_reply().value[:2] == [b"zstored", b"u2"]
    c.send("BZMPOP", "0", "1", "zranged", "MIN")
    wait_blocked(admin, 1)
    admin.call("ZRANGESTORE", "zranged", "zin", "0", "0")
    assert c.read_reply().value[0] == b"zranged"
    # SWAPDB brings a database where the key has data.
    c.send("BLPOP", "swapped", "0")
    wait_blocked(admin, 1)
    admin.call("SELECT", "2")
    admin.call("RPUSH", "swapped", "s")
    admin.call("SWAPDB", "0", "2")
    assert c.read_reply().value == [b"swapped", b"s"]


def test_disconnect_while_blocked_cleans_up(any_server: ServerProcess) -> None:
    admin = connect(any_server)
    c = connect(any_server)
    c.send("BLPOP", "gone", "0")
    wait_blocked(admin, 1)
    c.close()
    wait_blocked(admin, 0)
    admin.call("RPUSH", "gone", "kept")
    assert admin.call("LRANGE", "gone", "0", "-1") == [b"kept"]


def test_client_unblock_list_flags_and_info(any_server: ServerProcess, protocol: int) -> None:
    admin = connect(any_server)
    c = connect(any_server, protocol)
    cid = c.call("CLIENT", "ID")
    c.send("BLPOP", "u", "0")
    wait_blocked(admin, 1)
    line = [ln for ln in admin.call("CLIENT", "LIST").decode().splitlines() if ln.startswith(f"id={cid} ")][0]
    assert " flags=b " in line and " cmd=blpop " in line
    assert int(info_field(admin, "clients", "clients_in_timeout_table")) == 0
    assert admin.call("CLIENT", "UNBLOCK", cid) == 1
    assert c.read_reply().raw == (b"*-1\r\n" if protocol == 2 else b"_\r\n")
    assert admin.call("CLIENT", "UNBLOCK", cid) == 0
    c.send("BZPOPMIN", "u", "100")
    wait_blocked(admin, 1)
    assert int(info_field(admin, "clients", "clients_in_timeout_table")) == 1
    assert admin.call("CLIENT", "UNBLOCK", cid, "ERROR") == 1
    assert c.read_reply().raw == b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    assert int(info_field(admin, "clients", "blocked_clients")) == 0
    line = [ln for ln in admin.call("CLIENT", "LIST").decode().splitlines() if ln.startswith(f"id={cid} ")][0]
    assert " flags=N " in line
    # The connection keeps working.
    assert c.call("RPUSH", "u", "v") == 1


def test_watch_sees_the_served_pop(any_server: ServerProcess) -> None:
    admin = connect(any_server)
    watcher = connect(any_server)
    c = connect(any_server)
    c.send("BLPOP", "w", "0")
    wait_blocked(admin, 1)
    admin.call("RPUSH", "w", "a", "b")
    assert c.read_reply().value == [b"w", b"a"]
    watcher.call("WATCH", "w")
    c.send("BLPOP", "w", "0")
    assert c.read_reply().value == [b"w", b"b"]
    watcher.call("MULTI")
    watcher.call("RPUSH", "w", "c")
    assert watcher.call("EXEC") is None


def test_redis_py_blpop_and_bzpopmin(any_server: ServerProcess, protocol: int) -> None:
    r = redis.Redis(host=any_server.host, port=any_server.port, protocol=protocol, socket_timeout=10)
    pusher = redis.Redis(host=any_server.host, port=any_server.port, protocol=protocol, socket_timeout=10)
    assert r.blpop(["py1", "py2"], timeout=0.1) is None
    assert r.bzpopmin("pz", timeout=0.1) is None
    result: dict[str, object] = {}

    def waiter() -> None:
        result["list"] = r.blpop(["py1", "py2"], timeout=5)
        result["zset"] = r.bzpopmin(["pz"], timeout=5)

    thread = threading.Thread(target=waiter)
    thread.start()
    admin = connect(any_server)
    wait_blocked(admin, 1)
    pusher.rpush("py2", "hello")
    wait_blocked(admin, 1)
    pusher.zadd("pz", {"m1": 1.5, "m2": 3})
    thread.join(10)
    assert result["list"] in ([b"py2", b"hello"], (b"py2", b"hello"))
    assert tuple(result["zset"]) == (b"pz", b"m1", 1.5)


def test_served_pops_are_journaled(tmp_path: Path) -> None:
    """Under appendfsync always the served clients get their replies, and a restart replays the pops exactly."""
    workdir = tmp_path / "data"
    args = ["--appendonly", "yes", "--appendfsync", "always"]
    server = ServerProcess("neptune", workdir, args).start()
    try:
        admin = server.client()
        waiting = [server.client() for _ in range(4)]
        commands = [
            ["BLPOP", "jl", "0"], ["BLMOVE", "jl", "jdst", "RIGHT", "LEFT", "0"],
            ["BZMPOP", "0", "1", "jz", "MAX", "COUNT", "2"], ["BLMPOP", "0", "1", "jl", "LEFT", "COUNT", "5"],
        ]
        for i, (c, command) in enumerate(zip(waiting, commands)):
            c.send(*command)
            wait_blocked(admin, i + 1)
        admin.call("RPUSH", "jl", "1", "2", "3", "4", "5")
        admin.call("ZADD", "jz", "1", "a", "2", "b", "3", "c")
        assert waiting[0].read_reply().value == [b"jl", b"1"]
        assert waiting[1].read_reply().value == b"5"
        assert waiting[2].read_reply().value == [b"jz", [[b"c", b"3"], [b"b", b"2"]]]
        assert waiting[3].read_reply().value == [b"jl", [b"2", b"3", b"4"]]
        admin.call("RPUSH", "jl", "6")
        before = [admin.call("LRANGE", "jl", "0", "-1"), admin.call("LRANGE", "jdst", "0", "-1"),
                  admin.call("ZRANGE", "jz", "0", "-1", "WITHSCORES")]
        for c in [admin, *waiting]:
            c.close()
    finally:
        server.stop()
    server = ServerProcess("neptune", workdir, args).start()
    try:
        with server.client() as c:
            after = [c.call("LRANGE", "jl", "0", "-1"), c.call("LRANGE", "jdst", "0", "-1"),
                     c.call("ZRANGE", "jz", "0", "-1", "WITHSCORES")]
    finally:
        server.stop()
    assert before == [[b"6"], [b"5"], [b"a", b"1"]]
    assert after == before


def test_blocked_client_connection_closed_by_client_kill(any_server: ServerProcess) -> None:
    admin = connect(any_server)
    c = connect(any_server)
    cid = c.call("CLIENT", "ID")
    c.send("BLPOP", "killed", "0")
    wait_blocked(admin, 1)
    assert admin.call("CLIENT", "KILL", "ID", cid) == 1
    with pytest.raises(ConnectionClosed):
        c.read_reply()
    wait_blocked(admin, 0)
