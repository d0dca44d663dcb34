"""kill -9 crash loop against the real server: under `appendfsync always` and `everysec` no acknowledged write is
lost (under `everysec` a reply waits for the `write` of its record, not its fsync: a killed process loses nothing
the kernel has, only a power loss could).

Each round starts neptune-server on the same data directory, checks that every write acknowledged in earlier rounds
is there, runs concurrent writers (SETs of unique keys and INCRs of per-writer counters), and kills the server with
SIGKILL at a random moment, while snapshots are taken (a short `save` rule plus BGSAVE calls), so kills land
before, during and after snapshot installs and journal segment deletions. A counter may be one ahead of its last acknowledged value (an INCR that was journaled
but whose reply was lost in the kill), never behind and never further ahead. Short in CI; NEPTUNE_LONG_TESTS=1
runs many more rounds.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from resp_client import ConnectionClosed, ProtocolViolation, Status
from servers import ServerProcess

LONG = os.environ.get("NEPTUNE_LONG_TESTS") == "1"
ROUNDS = 40 if LONG else 5
WRITERS = 4


@pytest.mark.parametrize("policy", ["always", "everysec"])
def test_kill9_loses_no_acknowledged_write(tmp_path: Path, policy: str) -> None:
    rng = random.Random(20261125)
    workdir = tmp_path / "data"
    acknowledged: dict[str, bytes] = {}
    issued: set[str] = set()  # every key a writer sent, acknowledged or not
    counters: dict[str, int] = {}  # counter key -> last acknowledged INCR result
    lock = threading.Lock()
    total_acknowledged = 0
    bgsaves = 0

    for round_number in range(ROUNDS + 1):
        snapshot = workdir / "dump.nsnap"
        if snapshot.exists() and shutil.which("lz4"):
            check = subprocess.run(["lz4", "-t", "-q", str(snapshot)], capture_output=True, text=True, timeout=60)
            assert check.returncode == 0, f"round {round_number}: lz4 -t on the snapshot: {check.stderr}"
        server = ServerProcess(
            "neptune", workdir, ["--appendonly", "yes", "--appendfsync", policy, "--save", "1 1"]
        ).start()
        try:
            with server.client() as c:
                info = c.call("INFO", "persistence").decode()
                assert "aof_enabled:1\r\n" in info and "aof_last_write_status:ok\r\n" in info, info
                for key, value in acknowledged.items():
                    got = c.call("GET", key)
                    assert got == value, f"round {round_number}: acknowledged {key} = {value!r} came back as {got!r}"
                for key, last in counters.items():
                    got = int(c.call("GET", key))
                    assert last <= got <= last + 1, f"round {round_number}: counter {key} is {got}, last ack {last}"
                    counters[key] = got
                present = {k.decode() for k in c.call("KEYS", "*")}
                never_written = present - issued - set(counters)
                assert not never_written, f"round {round_number}: keys that were never written: {sorted(never_written)[:5]}"
            if round_number == ROUNDS:
                break

            stop = threading.Event()

            def writer(index: int) -> None:
                try:
                    c = server.client(timeout=5)
                except OSError:
                    return
                counter = f"counter:{index}"
                i = 0
                while not stop.is_set():
                    key = f"r{round_number}:w{index}:{i}"
                    value = f"value-{round_number}-{index}-{i}".encode()
                    with lock:
                        issued.add(key)
                    try:
                        if c.call("SET", key, value) == Status(b"OK"):
                            with lock:
                                acknowledged[key] = value
                        n = c.call("INCR", counter)
                        if isinstance(n, int):
                            with lock:
                                counters[counter] = n
                    except (OSError, ConnectionClosed, ProtocolViolation):
                        return
                    i += 1

            def snapshots() -> None:
                nonlocal bgsaves
                try:
                    c = server.client(timeout=5)
                except OSError:
                    return
                while not stop.is_set():
                    try:
                        if c.call("BGSAVE") == Status(b"Background saving started"):
                            bgsaves += 1
                    except (OSError, ConnectionClosed, ProtocolViolation):
                        return
                    time.sleep(rng.uniform(0.02, 0.15))

            threads = [threading.Thread(target=writer, args=(w,), daemon=True) for w in range(WRITERS)]
            threads.append(threading.Thread(target=snapshots, daemon=True))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 0.8))
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(10)
            stop.set()
            for t in threads:
                t.join(10)
            total_acknowledged = len(acknowledged)
        finally:
            server.stop()

    assert total_acknowledged > ROUNDS * 10, f"too few acknowledged writes to mean anything: {total_acknowledged}"
    assert bgsaves >= ROUNDS, f"too few snapshots during the rounds: {bgsaves}"
    print(f"crash loop ({policy}): {ROUNDS} rounds, {total_acknowledged} acknowledged writes, {bgsaves} BGSAVEs, lost 0")
