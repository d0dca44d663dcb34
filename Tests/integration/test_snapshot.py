"""Snapshots against the real server: restart from snapshot + journal, BGSAVE under writers, `lz4 -t` on the
file, snapshot-only recovery with `appendonly no`, and a corrupted snapshot that stops the start."""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from resp_client import Status
from servers import ServerError, ServerProcess

LZ4 = shutil.which("lz4")


def wait_for_bgsave(client, timeout: float = 30.0) -> str:
    """Waits until no background save runs; returns rdb_last_bgsave_status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = client.call("INFO", "persistence").decode()
        if "rdb_bgsave_in_progress:0\r\n" in info:
            return info.split("rdb_last_bgsave_status:")[1].split("\r\n")[0]
        time.sleep(0.02)
    raise AssertionError("background save did not finish")


def lz4_test(path: Path) -> None:
    if LZ4 is None:
        pytest.skip("lz4 command-line tool not installed")
    result = subprocess.run([LZ4, "-t", "-q", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"lz4 -t {path}: {result.stderr}"


def test_restart_with_snapshot_and_journal_keeps_data(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    args = ["--appendonly", "yes", "--appendfsync", "always"]
    server = ServerProcess("neptune", workdir, args).start()
    try:
        with server.client() as c:
            for i in range(500):
                assert c.call("SET", f"before:{i}", f"v{i}") == Status(b"OK")
            assert c.call("SET", "ttl", "x", "EX", "1000") == Status(b"OK")
            assert c.call("BGSAVE") == Status(b"Background saving started")
            assert wait_for_bgsave(c) == "ok"
            for i in range(200):
                assert c.call("SET", f"after:{i}", f"w{i}") == Status(b"OK")
            assert c.call("DEL", "before:0") == 1
    finally:
        server.stop()
    snapshot = workdir / "dump.nsnap"
    assert snapshot.exists()
    lz4_test(snapshot)
    # The journal segments covered by the snapshot are gone; the one after it remains.
    segments = sorted(p.name for p in (workdir / "appendonlydir").iterdir())
    assert len(segments) == 1, segments

    server = ServerProcess("neptune", workdir, args).start()
    try:
        with server.client() as c:
            assert c.call("DBSIZE") == 700
            assert c.call("GET", "before:0") is None
            assert c.call("GET", "before:499") == b"v499"
            assert c.call("GET", "after:199") == b"w199"
            assert 990 <= c.call("TTL", "ttl") <= 1000
            info = c.call("INFO", "persistence").decode()
            assert "rdb_last_load_keys_loaded:501\r\n" in info, info
            assert "loading:0\r\n" in info
    finally:
        server.stop()


def test_bgsave_while_writers_run(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    args = ["--appendonly", "yes", "--appendfsync", "everysec"]
    server = ServerProcess("neptune", workdir, args).start()
    acknowledged: dict[str, bytes] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        with server.client() as c:
            i = 0
            while not stop.is_set():
                key, value = f"w{index}:{i % 3000}", f"{index}-{i}".encode()
                if c.call("SET", key, value) == Status(b"OK"):
                    with lock:
                        acknowledged[key] = value
                i += 1

    try:
        threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(4)]
        for t in threads:
            t.start()
        saves = 0
        with server.client() as c:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                reply = c.call("BGSAVE")
                if reply == Status(b"Background saving started"):
                    saves += 1
                assert wait_for_bgsave(c) == "ok"
        stop.set()
        for t in threads:
            t.join(10)
        assert saves >= 2
        lz4_test(workdir / "dump.nsnap")
        # The event loop copied the shards of the background saves (between its iterations).
        log = "".join(path.read_text(errors="replace") for path in (server.stdout_path, server.stderr_path))
        helped = [int(n) for n in re.findall(r"slices-by-helpers=(\d+)", log)]
        assert len(helped) >= 2 and sum(helped) > 0, log[-2000:]
    finally:
        server.stop()
    server = ServerProcess("neptune", workdir, args).start()
    try:
        with server.client() as c:
            for key, value in acknowledged.items():
                assert c.call("GET", key) == value, key
            assert c.call("DBSIZE") == len(acknowledged)
    finally:
        server.stop()


def test_snapshot_alone_with_appendonly_no(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    server = ServerProcess("neptune", workdir, ["--save", "3600 1", "--dbfilename", "cache.nsnap"]).start()
    try:
        with server.client() as c:
            for i in range(300):
                c.call("SET", f"k{i}", f"v{i}")
            assert c.call("SAVE") == Status(b"OK")
            assert c.call("LASTSAVE") >= int(time.time()) - 5
            c.call("SET", "late", "1")
        # SIGTERM with a save rule configured: a final snapshot, as Redis saves on shutdown.
        assert server.stop() == 0
    finally:
        server.stop()
    lz4_test(workdir / "cache.nsnap")
    server = ServerProcess("neptune", workdir, ["--dbfilename", "cache.nsnap"]).start()
    try:
        with server.client() as c:
            assert c.call("DBSIZE") == 301
            assert c.call("GET", "late") == b"1"
    finally:
        server.stop()


def test_shutdown_nosave_and_save(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    server = ServerProcess("neptune", workdir, ["--save", "3600 1"]).start()
    with server.client() as c:
        c.call("SET", "a", "1")
        c.send("SHUTDOWN", "NOSAVE")
    server.proc.wait(10)
    assert not (workdir / "dump.nsnap").exists()
    server = ServerProcess("neptune", workdir).start()
    with server.client() as c:
        assert c.call("DBSIZE") == 0
        c.call("SET", "b", "2")
        c.send("SHUTDOWN", "SAVE")
    server.proc.wait(10)
    assert (workdir / "dump.nsnap").exists()
    server = ServerProcess("neptune", workdir).start()
    try:
        with server.client() as c:
            assert c.call("GET", "b") == b"2"
    finally:
        server.stop()


def test_corrupted_snapshot_stops_the_start(tmp_path: Path) -> None:
    workdir = tmp_path / "data"
    server = ServerProcess("neptune", workdir).start()
    try:
        with server.client() as c:
            for i in range(2000):
                c.call("SET", f"k{i}", f"value-{i}" * 3)
            assert c.call("SAVE") == Status(b"OK")
    finally:
        server.stop()
    path = workdir / "dump.nsnap"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))
    with pytest.raises(ServerError) as failure:
        ServerProcess("neptune", workdir).start()
    message = str(failure.value)
    assert "exited with status 1" in message
    assert f"snapshot file {path}" in message and "at offset" in message, message
