"""A small raw RESP2/RESP3 client for the integration tests.

It sends commands as multibulk requests (or raw bytes) and reads one full reply at a time, returning both the exact
bytes the server sent and a parsed value, so tests can compare servers byte for byte and still reason about values.

Parsed value types:
- simple string ``+``: :class:`Status` (a ``bytes`` subclass)
- error ``-`` and blob error ``!``: :class:`Error` (a ``bytes`` subclass)
- integer ``:`` and big number ``(``: ``int``
- bulk string ``$`` and verbatim string ``=``: ``bytes`` (:class:`Verbatim` for ``=``)
- null ``$-1``, ``*-1`` and ``_``: ``None``
- array ``*``: ``list``; set ``~``: :class:`RespSet`; push ``>``: :class:`Push`; map ``%``: :class:`RespMap`
- double ``,``: ``float``; boolean ``#``: ``bool``
- attribute ``|``: read and dropped; the value that follows it is returned (its raw bytes include the attribute)
"""

from __future__ import annotations

import socket
import time
from typing import Any, Iterable, NamedTuple


class Status(bytes):
    """A RESP simple string reply such as ``+OK``."""

    def __repr__(self) -> str:
        return f"Status({bytes(self)!r})"


class Error(bytes):
    """A RESP error reply (``-`` or ``!``); the bytes are the message without the leading ``-``."""

    @property
    def prefix(self) -> bytes:
        """The error code, the first word of the message (``ERR``, ``WRONGTYPE``, ``NOAUTH``...)."""
        return bytes(self).split(b" ", 1)[0]

    def __repr__(self) -> str:
        return f"Error({bytes(self)!r})"


class Verbatim(bytes):
    """A RESP3 verbatim string; ``fmt`` is its three-letter format (``txt``, ``mkd``)."""

    fmt: bytes = b"txt"

    def __repr__(self) -> str:
        return f"Verbatim({self.fmt!r}, {bytes(self)!r})"


class RespMap(list):
    """A RESP3 map, kept as a list of ``(key, value)`` pairs because keys may be unhashable."""

    def as_dict(self) -> dict:
        """The map as a dict; keys must be hashable (bytes, int...)."""
        return {k: v for k, v in self}


class RespSet(list):
    """A RESP3 set, kept as a list in the order the server sent it."""


class Push(list):
    """A RESP3 out-of-band push message."""


class Reply(NamedTuple):
    """One full reply: the exact bytes received and the parsed value."""

    raw: bytes
    value: Any


class ConnectionClosed(Exception):
    """The server closed the connection before a full reply arrived."""

    def __init__(self, partial: bytes) -> None:
        super().__init__(f"connection closed by server; partial reply: {partial!r}")
        self.partial = partial


class ProtocolViolation(Exception):
    """The server sent bytes that are not valid RESP."""


class _NeedMore(Exception):
    pass


def encode_arg(arg: Any) -> bytes:
    """The bytes of one command argument: bytes as they are, str as UTF-8, numbers in decimal."""
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return bytes(arg)
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):
        raise TypeError("bool is not a RESP argument")
    if isinstance(arg, (int, float)):
        return repr(arg).encode()
    raise TypeError(f"cannot encode {type(arg).__name__} as a RESP argument")


def encode_command(args: Iterable[Any]) -> bytes:
    """A command as a RESP multibulk request."""
    parts = [encode_arg(a) for a in args]
    out = [b"*%d\r\n" % len(parts)]
    for p in parts:
        out.append(b"$%d\r\n" % len(p))
        out.append(p)
        out.append(b"\r\n")
    return b"".join(out)


class RespClient:
    """A blocking RESP client over one TCP connection.

    >>> c = RespClient("127.0.0.1", 6379)
    >>> c.call("SET", "k", "v")
    Status(b'OK')
    >>> c.call_raw("GET", "k")
    b'$1\\r\\nv\\r\\n'
    """

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()
        self._closed_by_peer = False

    # -- sending ---------------------------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Send bytes exactly as given."""
        self.sock.sendall(data)

    def send(self, *args: Any) -> None:
        """Send one command as a multibulk request without reading its reply."""
        self.sock.sendall(encode_command(args))

    def send_many(self, commands: Iterable[Iterable[Any]]) -> None:
        """Send several commands in one write (pipelining)."""
        self.sock.sendall(b"".join(encode_command(c) for c in commands))

    # -- receiving -------------------------------------------------------------------------------------------------

    def read_reply(self) -> Reply:
        """Read one full reply (raw bytes and parsed value)."""
        while True:
            try:
                value, end = self._parse(0)
            except _NeedMore:
                self._fill()
                continue
            raw = bytes(self._buf[:end])
            del self._buf[:end]
            return Reply(raw, value)

    def call(self, *args: Any) -> Any:
        """Send one command and return the parsed reply (errors are returned as :class:`Error`, not raised)."""
        self.send(*args)
        return self.read_reply().value

    def call_raw(self, *args: Any) -> bytes:
        """Send one command and return the exact reply bytes."""
        self.send(*args)
        return self.read_reply().raw

    def request(self, *args: Any) -> Reply:
        """Send one command and return its :class:`Reply`."""
        self.send(*args)
        return self.read_reply()

    def read_until_close(self, timeout: float = 5.0) -> tuple[bytes, bool]:
        """Read everything until the server closes the connection or ``timeout`` seconds pass.

        Returns the bytes read and whether the server closed the connection.
        """
        deadline = time.monotonic() + timeout
        out = bytes(self._buf)
        self._buf.clear()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return out, False
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return out, False
            except (ConnectionResetError, BrokenPipeError):
                return out, True
            finally:
                self.sock.settimeout(self.timeout)
            if not data:
                return out, True
            out += data

    def hello(self, protover: int = 3, *extra: Any) -> Any:
        """Send ``HELLO protover [extra...]`` and return the parsed reply."""
        return self.call("HELLO", protover, *extra)

    def close(self) -> None:
        """Close the connection."""
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RespClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- parsing ---------------------------------------------------------------------------------------------------

    def _fill(self) -> None:
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise TimeoutError(
                f"no full reply from {self.host}:{self.port} within {self.timeout}s; "
                f"buffered: {bytes(self._buf[:200])!r}"
            ) from None
        except ConnectionResetError:
            data = b""
        if not data:
            self._closed_by_peer = True
            raise ConnectionClosed(bytes(self._buf))
        self._buf += data

    def _line(self, pos: int) -> tuple[bytes, int]:
        end = self._buf.find(b"\r\n", pos)
        if end < 0:
            raise _NeedMore
        return bytes(self._buf[pos:end]), end + 2

    def _int(self, line: bytes) -> int:
        try:
            return int(line)
        except ValueError:
            raise ProtocolViolation(f"bad integer in reply header: {line!r}") from None

    def _blob(self, pos: int) -> tuple[bytes | None, int]:
        line, pos = self._line(pos)
        n = self._int(line)
        if n < 0:
            return None, pos
        if len(self._buf) < pos + n + 2:
            raise _NeedMore
        if self._buf[pos + n:pos + n + 2] != b"\r\n":
            raise ProtocolViolation(f"bulk string of length {n} not followed by CRLF")
        return bytes(self._buf[pos:pos + n]), pos + n + 2

    def _aggregate(self, pos: int, factor: int = 1) -> tuple[list | None, int]:
        line, pos = self._line(pos)
        n = self._int(line)
        if n < 0:
            return None, pos
        items = []
        for _ in range(n * factor):
            v, pos = self._parse(pos)
            items.append(v)
        return items, pos

    def _parse(self, pos: int) -> tuple[Any, int]:
        if pos >= len(self._buf):
            raise _NeedMore
        t = self._buf[pos:pos + 1]
        pos += 1
        if t == b"+":
            line, pos = self._line(pos)
            return Status(line), pos
        if t == b"-":
            line, pos = self._line(pos)
            return Error(line), pos
        if t == b":" or t == b"(":
            line, pos = self._line(pos)
            return self._int(line), pos
        if t == b"$":
            return self._blob(pos)
        if t == b"*":
            return self._aggregate(pos)
        if t == b"_":
            line, pos = self._line(pos)
            if line:
                raise ProtocolViolation(f"null with payload {line!r}")
            return None, pos
        if t == b",":
            line, pos = self._line(pos)
            try:
                return float(line), pos
            except ValueError:
                raise ProtocolViolation(f"bad double {line!r}") from None
        if t == b"#":
            line, pos = self._line(pos)
            if line not in (b"t", b"f"):
                raise ProtocolViolation(f"bad boolean {line!r}")
            return line == b"t", pos
        if t == b"!":
            blob, pos = self._blob(pos)
            return Error(blob or b""), pos
        if t == b"=":
            blob, pos = self._blob(pos)
            if blob is None or len(blob) < 4 or blob[3:4] != b":":
                raise ProtocolViolation(f"bad verbatim string {blob!r}")
            v = Verbatim(blob[4:])
            v.fmt = blob[:3]
            return v, pos
        if t == b"%":
            items, pos = self._aggregate(pos, 2)
            if items is None:
                return None, pos
            return RespMap(zip(items[0::2], items[1::2])), pos
        if t == b"~":
            items, pos = self._aggregate(pos)
            return (None if items is None else RespSet(items)), pos
        if t == b">":
            items, pos = self._aggregate(pos)
            return (None if items is None else Push(items)), pos
        if t == b"|":
            _, pos = self._aggregate(pos, 2)
            return self._parse(pos)
        raise ProtocolViolation(f"unknown RESP type byte {bytes(t)!r} in {bytes(self._buf[:200])!r}")
