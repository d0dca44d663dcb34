"""neptune-check on a real server's journal: an intact one, a torn tail, mid-file corruption, and --fix.

The binary is NEPTUNE_CHECK if set, else neptune-check next to the neptune-server under test.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from resp_client import Status
from servers import ServerError, ServerProcess, neptune_server_path


def check_binary() -> str:
    path = os.environ.get("NEPTUNE_CHECK") or str(Path(neptune_server_path()).with_name("neptune-check"))
    if not os.access(path, os.X_OK):
        pytest.skip(f"neptune-check not built at {path} (swift build --product neptune-check)")
    return path


def run_check(*arguments: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [check_binary(), *arguments], capture_output=True, text=True, timeout=60,
        input=stdin, stdin=None if stdin is not None else subprocess.DEVNULL,
    )


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    """A data directory whose journal holds 30 SETs, 10 INCRs and 5 DELs, written by a real server."""
    try:
        if "redis-server" in os.path.basename(neptune_server_path()):
            pytest.skip("neptune-check reads Neptune's journal, not Redis's AOF")
    except ServerError as e:
        pytest.skip(str(e))
    server = ServerProcess("neptune", tmp_path, ["--appendonly", "yes", "--appendfsync", "always"]).start()
    try:
        with server.client() as c:
            for i in range(30):
                assert c.call("SET", f"key:{i}", f"value-{i}") == Status(b"OK")
            for _ in range(10):
                c.call("INCR", "counter")
            for i in range(5):
                assert c.call("DEL", f"key:{i}") == 1
    finally:
        assert server.stop() == 0
    return tmp_path


def segment(journal_dir: Path) -> Path:
    segments = sorted((journal_dir / "appendonlydir").glob("journal.*"))
    assert len(segments) == 1, segments
    return segments[0]


def test_intact_journal(journal_dir: Path) -> None:
    result = run_check(str(journal_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "45 records, sequences 1-45" in result.stdout
    assert "SET 30, INCR 10, DEL 5" in result.stdout
    assert result.stdout.rstrip().endswith("status: ok")


def test_torn_tail_is_reported_and_fixed(journal_dir: Path) -> None:
    path = segment(journal_dir)
    good = path.read_bytes()
    path.write_bytes(good + b"\x20\x00\x00\x00garbage")  # a record header cut short by a crash
    result = run_check(str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"torn tail at offset {len(good)}" in result.stdout
    # --fix without a terminal and without --yes refuses and changes nothing.
    refused = run_check("--fix", str(journal_dir))
    assert refused.returncode == 2
    assert "nothing changed" in refused.stderr
    assert path.read_bytes() == good + b"\x20\x00\x00\x00garbage"
    declined = run_check("--fix", str(journal_dir), stdin="n\n")
    assert declined.returncode == 2 and "nothing changed" in declined.stdout
    fixed = run_check("--fix", str(journal_dir), stdin="y\n")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "drops 11 bytes and 0 readable records" in fixed.stdout
    assert path.read_bytes() == good


def test_corruption_names_file_and_offset_and_fix_keeps_the_valid_prefix(journal_dir: Path) -> None:
    path = segment(journal_dir)
    data = bytearray(path.read_bytes())
    offset = 8  # after the magic; walk to the 21st record
    for _ in range(20):
        offset += 16 + int.from_bytes(data[offset:offset + 4], "little")
    data[offset + 20] ^= 0xFF  # inside its payload: a checksum mismatch, not a cut
    path.write_bytes(bytes(data))
    result = run_check(str(journal_dir))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{path}: 20 records" in result.stdout
    assert f"CORRUPT at offset {offset}: record checksum mismatch" in result.stdout
    assert "status: CORRUPT" in result.stdout
    # The server refuses to start on it, naming the file.
    server = ServerProcess("neptune", journal_dir, ["--appendonly", "yes"])
    with pytest.raises(ServerError):
        server.start()
    server.stop()
    assert str(path) in server.output()
    fixed = run_check("--fix", "--yes", str(journal_dir))
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert run_check(str(journal_dir)).returncode == 0
    # The repaired journal loads, and holds what came before the damage.
    server = ServerProcess("neptune", journal_dir, ["--appendonly", "yes"]).start()
    try:
        with server.client() as c:
            assert c.call("GET", "key:5") == b"value-5"
            assert c.call("GET", "key:19") == b"value-19"
            assert c.call("GET", "key:20") is None
    finally:
        server.stop()


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = run_check(str(tmp_path / "nowhere"))
    assert result.returncode == 1
    assert "no such file or directory" in result.stderr


def test_snapshot_is_checked_with_the_journal(tmp_path: Path) -> None:
    try:
        if "redis-server" in os.path.basename(neptune_server_path()):
            pytest.skip("neptune-check reads Neptune's files, not Redis's")
    except ServerError as e:
        pytest.skip(str(e))
    server = ServerProcess("neptune", tmp_path, ["--appendonly", "yes"]).start()
    try:
        with server.client() as c:
            for i in range(100):
                c.call("SET", f"key:{i}", f"value-{i}")
            c.call("SELECT", "3")
            c.call("SET", "other", "x", "EX", "1000")
            assert c.call("SAVE") == Status(b"OK")
            c.call("SET", "after", "the snapshot")
    finally:
        server.stop()
    snapshots = sorted(tmp_path.glob("*.nsnap"))
    assert snapshots, list(tmp_path.iterdir())
    result = run_check(str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{snapshots[0]}: snapshot, " in result.stdout
    assert "keys: db0=100 (0 with a TTL), db3=1 (1 with a TTL)" in result.stdout
    assert "101 keys" in result.stdout
    # A damaged snapshot: exit 1, file and offset named, nothing changed even with --fix --yes.
    data = bytearray(snapshots[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    snapshots[0].write_bytes(bytes(data))
    damaged = run_check("--fix", "--yes", str(snapshots[0]))
    assert damaged.returncode == 1, damaged.stdout + damaged.stderr
    assert "CORRUPT at offset " in damaged.stdout
    assert snapshots[0].read_bytes() == bytes(data)
