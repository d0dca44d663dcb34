"""Redis's own tools against the servers (redis-cli, redis-benchmark), and malformed protocol input.

The tool tests run against both servers: Redis shows the expectations are right, Neptune is what they check.
The malformed-input tests send the same bytes to redis-server and neptune-server and compare what comes back.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from resp_client import RespClient, Status
from servers import ServerProcess


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not on PATH (Debian: apt-get install redis-tools)", pytrace=False)
    return path


def redis_cli(server: ServerProcess, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    """Run redis-cli against ``server`` (output is not a terminal, so redis-cli prints raw replies)."""
    return subprocess.run(
        [_tool("redis-cli"), "-h", server.host, "-p", str(server.port), *args],
        input=stdin if stdin is not None else b"", capture_output=True, timeout=60,
    )


def cli_out(server: ServerProcess, *args: str, stdin: bytes | None = None) -> str:
    done = redis_cli(server, *args, stdin=stdin)
    assert done.returncode == 0, f"redis-cli {' '.join(args)} exited {done.returncode}: {done.stderr!r}"
    return done.stdout.decode(errors="replace")


# -- redis-cli ------------------------------------------------------------------------------------------------------


def test_redis_cli_smoke(any_server: ServerProcess) -> None:
    s = any_server
    assert cli_out(s, "ping") == "PONG\n"
    assert cli_out(s, "SET", "foo", "bar") == "OK\n"
    assert cli_out(s, "GET", "foo") == "bar\n"
    assert cli_out(s, "--no-raw", "GET", "foo") == '"bar"\n'
    assert cli_out(s, "GET", "missing") == "\n"
    assert cli_out(s, "INCR", "counter") == "1\n"
    assert cli_out(s, "INCR", "counter") == "2\n"
    assert cli_out(s, "--no-raw", "INCR", "counter") == "(integer) 3\n"
    assert cli_out(s, "DBSIZE") == "2\n"
    assert sorted(cli_out(s, "--scan").split()) == ["counter", "foo"]
    assert cli_out(s, "--scan", "--pattern", "c*").split() == ["counter"]
    assert cli_out(s, "INCR", "foo") == "ERR value is not an integer or out of range\n\n"


def test_redis_cli_binary_value_from_stdin(any_server: ServerProcess) -> None:
    """``redis-cli -x`` sends stdin as the last argument: every byte must come back unchanged."""
    payload = bytes(range(256)) + b"\r\n\x00end"
    assert cli_out(any_server, "-x", "SET", "bin", stdin=payload) == "OK\n"
    with any_server.client() as c:
        assert c.call("GET", "bin") == payload
        assert c.call("STRLEN", "bin") == len(payload)


def test_redis_cli_info_server(any_server: ServerProcess) -> None:
    out = cli_out(any_server, "INFO", "server")
    lines = out.replace("\r\n", "\n").split("\n")
    assert lines[0] == "# Server", out
    fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
    assert re.fullmatch(r"\d+\.\d+\.\d+", fields.get("redis_version", "")), out
    assert fields.get("tcp_port") == str(any_server.port), out
    assert fields.get("uptime_in_seconds", "").isdigit(), out
    assert fields.get("process_id") == str(any_server.proc.pid), out
    assert not any(line.startswith("# ") for line in lines[1:]), f"INFO server returned other sections:\n{out}"


# -- redis-benchmark ------------------------------------------------------------------------------------------------

BENCH_LINE = re.compile(r"^\s*(SET|GET|INCR|MSET \(10 keys\)): ([0-9.]+) requests per second")


def test_redis_benchmark(any_server: ServerProcess) -> None:
    done = subprocess.run(
        [_tool("redis-benchmark"), "-h", any_server.host, "-p", str(any_server.port),
         "-t", "set,get,incr,mset", "-n", "2000", "-q"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=120,
    )
    out = (done.stdout + done.stderr).decode(errors="replace")
    assert done.returncode == 0, out
    # -q progress lines end with \r; results end with \n.
    lines = re.split(r"[\r\n]+", out)
    results = {m.group(1): float(m.group(2)) for m in map(BENCH_LINE.match, lines) if m}
    assert set(results) == {"SET", "GET", "INCR", "MSET (10 keys)"}, out
    assert all(rps > 0 for rps in results.values()), out
    for bad in ("ERR", "Error", "error", "WARNING", "WRONGTYPE"):
        assert bad not in out, f"{bad!r} in redis-benchmark output:\n{out}"
    # 50 clients ran INCR counter:__rand_int__ 2000 times in total: every increment must have landed once.
    with any_server.client() as c:
        assert c.call("GET", "counter:__rand_int__") == b"2000"
        assert c.call("GET", "key:__rand_int__") == b"VXK"


# -- malformed input ------------------------------------------------------------------------------------------------

# Each of these makes Redis answer "-ERR Protocol error: ..." and close the connection.
PROTOCOL_ERRORS = {
    "multibulk-count-not-a-number": b"*abc\r\n",
    "multibulk-count-empty": b"*\r\n",
    "multibulk-count-minus-zero": b"*-0\r\n",
    "multibulk-count-leading-spaces": b"*  2\r\n",
    "multibulk-count-plus-sign": b"*+2\r\n",
    "multibulk-count-trailing-space": b"*2 \r\n",
    "multibulk-count-leading-zero": b"*01\r\n$4\r\nPING\r\n",
    "multibulk-count-oversized": b"*3000000000\r\n",
    "multibulk-count-int-max-plus-one": b"*2147483648\r\n",
    "multibulk-count-unterminated-64k": b"*" + b"1" * 70_000,
    "bulk-length-2147483648": b"*1\r\n$2147483648\r\n",
    "bulk-length-over-512mb": b"*1\r\n$536870913\r\n",
    "bulk-length-negative": b"*1\r\n$-5\r\n",
    "bulk-length-minus-one": b"*1\r\n$-1\r\n",
    "bulk-length-not-a-number": b"*1\r\n$abc\r\n",
    "bulk-length-empty": b"*1\r\n$\r\n",
    "bulk-length-plus-sign": b"*1\r\n$+4\r\nPING\r\n",
    "bulk-length-leading-zero": b"*1\r\n$04\r\nPING\r\n",
    "bulk-length-trailing-space": b"*1\r\n$4 \r\nPING\r\n",
    "bulk-length-unterminated-64k": b"*1\r\n$" + b"1" * 70_000,
    "expected-dollar-got-letter": b"*1\r\nxyz\r\n",
    "expected-dollar-got-integer": b"*2\r\n$3\r\nGET\r\n:1\r\n",
    "binary-garbage-instead-of-bulk": b"*1\r\n\xff\xfe\r\n",
    "inline-unterminated-64k": b"A" * 70_000,
    "inline-unbalanced-quotes": b'SET "foo\r\n',
    "inline-quote-then-letter": b'ECHO "a"b\r\n',
    "valid-command-then-garbage": b"*1\r\n$4\r\nPING\r\n*x\r\n",
    "error-after-partial-command": b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$-7\r\n",
}

# Each of these is accepted by Redis: ignored empty requests, inline syntax; the connection stays open.
ACCEPTED = {
    "empty-multibulk": b"*0\r\n*1\r\n$4\r\nPING\r\n",
    "negative-multibulk": b"*-1\r\n*1\r\n$4\r\nPING\r\n",
    "very-negative-multibulk": b"*-2147483649\r\n*1\r\n$4\r\nPING\r\n",
    "empty-inline-lines": b"\r\n\r\n\n*1\r\n$4\r\nPING\r\n",
    "inline-lf-only": b"PING\n",
    "inline-quoted-escapes": b"ECHO \"a\\x41\\n\\t\\\"\"\r\n",
    "inline-single-quotes": b"ECHO 'it\\'s \\x41'\r\n",
    "inline-extra-spaces": b"  SET   inline-key   \"v w\"  \r\n",
}

KEEPER_KEY = b"keeper:\x00\r\n"
KEEPER_VALUE = b"intact\r\n\x00\xff" * 100


def _send(client: RespClient, payload: bytes) -> None:
    try:
        client.send_raw(payload)
    except (BrokenPipeError, ConnectionResetError):
        pass  # closed while we were still sending: what was answered is read below


def _malformed(server: ServerProcess, payload: bytes, auth: bool = True) -> tuple[bytes, bool]:
    with server.client(auth=auth) as c:
        _send(c, payload)
        return c.read_until_close(timeout=5.0)


@pytest.fixture(scope="module")
def keepers(module_server_pair: tuple[ServerProcess, ServerProcess]):
    """One long-lived connection per server holding a binary key; it must survive every malformed client."""
    clients = [s.client() for s in module_server_pair]
    for c in clients:
        assert c.call("SET", KEEPER_KEY, KEEPER_VALUE) == Status(b"OK")
    yield clients
    for c in clients:
        c.close()


def _check_keepers(pair: tuple[ServerProcess, ServerProcess], keepers: list[RespClient]) -> None:
    for server, c in zip(pair, keepers):
        assert c.call("PING") == Status(b"PONG"), f"{server.name}: the other connection is no longer served"
        assert c.call("GET", KEEPER_KEY) == KEEPER_VALUE, f"{server.name}: data changed"
        with server.client() as fresh:
            assert fresh.call("GET", KEEPER_KEY) == KEEPER_VALUE, f"{server.name}: new connections not served"


@pytest.mark.parametrize("payload", PROTOCOL_ERRORS.values(), ids=PROTOCOL_ERRORS.keys())
def test_protocol_error_matches_redis(module_server_pair: tuple[ServerProcess, ServerProcess],
                                      keepers: list[RespClient], payload: bytes) -> None:
    reference, subject = module_server_pair
    ref_out, ref_closed = _malformed(reference, payload)
    assert ref_closed and b"-ERR Protocol error: " in ref_out, f"unexpected reference behaviour: {ref_out!r}"
    sub_out, sub_closed = _malformed(subject, payload)
    assert sub_out == ref_out, f"reply differs for {payload[:60]!r}: redis {ref_out!r}, neptune {sub_out!r}"
    assert sub_closed, f"{subject.name} kept the connection open after {sub_out!r}"
    _check_keepers(module_server_pair, keepers)


@pytest.mark.parametrize("payload", ACCEPTED.values(), ids=ACCEPTED.keys())
def test_accepted_oddities_match_redis(module_server_pair: tuple[ServerProcess, ServerProcess],
                                       keepers: list[RespClient], payload: bytes) -> None:
    replies = []
    for server in module_server_pair:
        with server.client() as c:
            c.send_raw(payload)
            first = c.read_reply().raw
            # Still open and in sync: the next command is answered normally.
            follow_up = c.call_raw("ECHO", "next")
            replies.append((first, follow_up))
    (ref_first, ref_next), (sub_first, sub_next) = replies
    assert ref_next == b"$4\r\nnext\r\n", f"unexpected reference behaviour: {replies!r}"
    assert sub_first == ref_first, f"reply differs for {payload!r}: redis {ref_first!r}, neptune {sub_first!r}"
    assert sub_next == ref_next, f"{module_server_pair[1].name} out of sync after {payload!r}: {sub_next!r}"
    _check_keepers(module_server_pair, keepers)


def test_command_split_into_single_bytes(any_server: ServerProcess) -> None:
    payload = b"*3\r\n$3\r\nSET\r\n$4\r\na\r\nb\r\n$3\r\n\x00\xff\n\r\n*2\r\n$3\r\nGET\r\n$4\r\na\r\nb\r\n"
    with any_server.client() as c:
        for i in range(len(payload)):
            c.send_raw(payload[i:i + 1])
        assert c.read_reply().raw == b"+OK\r\n"
        assert c.read_reply().raw == b"$3\r\n\x00\xff\n\r\n"


def test_unauthenticated_limits_match_redis(start_server) -> None:
    """With requirepass, Redis refuses big multibulk counts and bulk lengths before AUTH, and closes."""
    reference = start_server("redis", "--requirepass", "secret")
    subject = start_server("neptune", "--requirepass", "secret")
    for payload in (b"*11\r\n", b"*1\r\n$16385\r\n"):
        ref = _malformed(reference, payload, auth=False)
        assert ref[1] and ref[0].startswith(b"-ERR Protocol error: unauthenticated"), ref
        sub = _malformed(subject, payload, auth=False)
        assert sub == ref, f"{payload!r}: redis {ref!r}, neptune {sub!r}"
    # At the limits (10 arguments, 16 KB) the request is read and refused with NOAUTH; the connection stays open.
    request = b"*10\r\n$3\r\nDEL\r\n$16384\r\n" + b"x" * 16384 + b"\r\n" + b"$1\r\ny\r\n" * 8
    for server in (reference, subject):
        with server.client(auth=False) as c:
            c.send_raw(request)
            assert c.read_reply().raw == b"-NOAUTH Authentication required.\r\n", server.name
            assert c.call_raw("AUTH", "secret") == b"+OK\r\n", server.name
