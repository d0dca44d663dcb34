"""The client transport against both servers: a client that does not read its replies shows its pending output in
CLIENT LIST (`omem`), and once it reads them all it is back to `omem=0`.
"""

from __future__ import annotations

import socket
import time

import pytest

import redis

from servers import ServerProcess


def client_fields(r: redis.Redis, name: str) -> dict[str, str]:
    for line in r.execute_command("CLIENT", "LIST").decode().splitlines():
        fields = dict(item.split("=", 1) for item in line.split(" "))
        if fields.get("name") == name:
            return fields
    raise AssertionError(f"no client named {name}")


def test_unread_replies_show_as_output_memory(any_server: ServerProcess) -> None:
    r = redis.Redis(host=any_server.host, port=any_server.port)
    value = b"v" * (1 << 20)
    r.set("big", value)
    sock = socket.create_connection((any_server.host, any_server.port))
    try:
        sock.sendall(b"CLIENT SETNAME slow\r\n")
        assert sock.recv(100) == b"+OK\r\n"
        # 32 MiB of replies: far more than the socket buffers hold while nobody reads.
        sock.sendall(b"GET big\r\n" * 32)
        deadline = time.time() + 10
        fields = client_fields(r, "slow")
        while int(fields["omem"]) == 0 and time.time() < deadline:
            time.sleep(0.05)
            fields = client_fields(r, "slow")
        assert int(fields["omem"]) > 0
        expected = 32 * (len(value) + len(b"$1048576\r\n\r\n"))
        received = 0
        while received < expected:
            chunk = sock.recv(1 << 20)
            assert chunk, "connection closed early"
            received += len(chunk)
        assert received == expected
        deadline = time.time() + 10
        fields = client_fields(r, "slow")
        while fields["omem"] != "0" and time.time() < deadline:
            time.sleep(0.05)
            fields = client_fields(r, "slow")
        assert fields["omem"] == "0"
    finally:
        sock.close()
        r.close()
