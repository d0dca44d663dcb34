"""The test client's own RESP2/RESP3 parser, fed canned bytes (no server needed)."""

from __future__ import annotations

import socket
import threading

import pytest

from resp_client import (
    ConnectionClosed, Error, ProtocolViolation, Push, RespClient, RespMap, RespSet, Status, Verbatim, encode_command,
)


def _client_fed(data: bytes, chunk: int = 0) -> RespClient:
    """A client whose server side is a local socket sending ``data`` (in ``chunk``-byte pieces if non-zero)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            step = chunk or len(data) or 1
            for i in range(0, len(data), step):
                conn.sendall(data[i:i + step])
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return RespClient("127.0.0.1", port, timeout=5)


def test_encode_command() -> None:
    assert encode_command(["SET", b"k\r\n", 12]) == b"*3\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n"


@pytest.mark.parametrize("chunk", [0, 1, 3])
def test_parses_every_resp3_type(chunk: int) -> None:
    replies = [
        (b"+OK\r\n", Status(b"OK")),
        (b"-ERR bad\r\n", Error(b"ERR bad")),
        (b":-42\r\n", -42),
        (b"$5\r\na\r\nbc\r\n", b"a\r\nbc"),
        (b"$-1\r\n", None),
        (b"*-1\r\n", None),
        (b"*2\r\n$1\r\nx\r\n:1\r\n", [b"x", 1]),
        (b"_\r\n", None),
        (b",3.5\r\n", 3.5),
        (b"#t\r\n", True),
        (b"(12345678901234567890\r\n", 12345678901234567890),
        (b"!8\r\nSYNTAX x\r\n", Error(b"SYNTAX x")),
        (b"=7\r\ntxt:abc\r\n", Verbatim(b"abc")),
        (b"%1\r\n+k\r\n:1\r\n", RespMap([(b"k", 1)])),
        (b"~2\r\n:1\r\n:2\r\n", RespSet([1, 2])),
        (b">2\r\n+message\r\n+x\r\n", Push([b"message", b"x"])),
        (b"|1\r\n+ttl\r\n:3\r\n+after-attribute\r\n", Status(b"after-attribute")),
    ]
    with _client_fed(b"".join(raw for raw, _ in replies), chunk) as c:
        for raw, value in replies:
            reply = c.read_reply()
            assert reply.raw == raw
            assert reply.value == value
            assert type(reply.value) is type(value)
        reply = c.read_until_close(timeout=5)
        assert reply == (b"", True)


def test_verbatim_format_is_kept() -> None:
    with _client_fed(b"=8\r\nmkd:# hi\r\n") as c:
        v = c.read_reply().value
    assert isinstance(v, Verbatim) and v.fmt == b"mkd" and v == b"# hi"


def test_truncated_reply_reports_connection_closed() -> None:
    with _client_fed(b"$10\r\nabc") as c:
        with pytest.raises(ConnectionClosed) as info:
            c.read_reply()
    assert info.value.partial == b"$10\r\nabc"


def test_rejects_non_resp_bytes() -> None:
    with _client_fed(b"HTTP/1.1 400\r\n") as c:
        with pytest.raises(ProtocolViolation):
            c.read_reply()
