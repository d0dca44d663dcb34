#!/usr/bin/env python3
"""Paired A/B of `appendfsync always` SET throughput, for a disk whose fsync latency drifts from minute to minute.

run.py starts a fresh server per workload, so two variants are measured a minute or more apart, and on a shared
virtual disk that alone can move throughput by 5x. Here every variant's server runs at once (each with its journal
in its own directory under --dir, on the real disk), and short redis-benchmark bursts alternate between them in a
rotating order; each round's figures are compared with the first variant's of the same round, seconds apart.

    python3 benchmarks/durability_ab.py --dir /path/on/disk --rounds 16 --load 50x10000 \\
        one=.build/release/neptune-server:NEPTUNE_JOURNAL_PREALLOCATE=1 \\
        other=/tmp/neptune-server-other redis=redis-server

A variant is NAME=BINARY[:VAR=VALUE,...] (environment variables for that server); a BINARY named redis-server
runs Redis with the same persistence flags. `--probe` instead measures whether concurrent fdatasyncs on one file
overlap on this disk (T threads appending small records to one preallocated file, each fsyncing after its write).
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as c:
                c.sendall(b"PING\r\n")
                if c.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise SystemExit(f"server on port {port} did not answer PING")


def burst(port: int, clients: int, requests: int) -> float:
    out = subprocess.run(
        ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-t", "set", "-c", str(clients), "-n",
         str(requests), "-r", "100000", "-d", "10", "--csv"],
        capture_output=True, text=True, timeout=600, check=True,
    ).stdout
    row = next(line for line in out.splitlines() if line.startswith('"SET"'))
    return float(row.replace('"', "").split(",")[1])


def parse_variant(spec: str) -> tuple[str, str, dict[str, str]]:
    name, _, rest = spec.partition("=")
    binary, _, env_text = rest.partition(":")
    if not name or not binary:
        raise SystemExit(f"bad variant {spec!r}: expected NAME=BINARY[:VAR=VALUE,...]")
    env = dict(item.split("=", 1) for item in env_text.split(",")) if env_text else {}
    return name, binary, env


def ab(options: argparse.Namespace) -> None:
    clients, requests = (int(x) for x in options.load.split("x"))
    variants = [parse_variant(spec) for spec in options.variants]
    servers: dict[str, tuple[subprocess.Popen, int, str]] = {}
    try:
        for name, binary, env in variants:
            directory = tempfile.mkdtemp(prefix=f"ab-{name}-", dir=options.dir)
            port = free_port()
            flags = ["--port", str(port), "--dir", directory, "--bind", "127.0.0.1", "--save", "",
                     "--appendonly", "yes", "--appendfsync", "always"]
            if os.path.basename(binary) == "redis-server":
                argv = [binary, *flags, "--daemonize", "no"]
            else:
                argv = [binary, *flags, "--maxmemory", "0"]
            process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       env={**os.environ, **env})
            servers[name] = (process, port, directory)
            wait_until_up(port, process)
        results: dict[str, list[float]] = {name: [] for name, _, _ in variants}
        for round_index in range(options.rounds):
            shift = round_index % len(variants)
            for name, _, _ in variants[shift:] + variants[:shift]:
                results[name].append(burst(servers[name][1], clients, requests))
        first = variants[0][0]
        print(f"SET c{clients}, {requests} requests per burst, {options.rounds} rounds; ratio = variant / {first} "
              "in the same round")
        for name, values in results.items():
            ratios = [a / b for a, b in zip(values, results[first])]
            print(f"  {name:10s} median {statistics.median(values):9,.0f} ops/s  median ratio "
                  f"{statistics.median(ratios):.2f}  higher in {sum(r > 1 for r in ratios)}/{len(ratios)} rounds")
    finally:
        for process, _, directory in servers.values():
            process.kill()  # only the servers started above, by their own handle
            process.wait()
            shutil.rmtree(directory, ignore_errors=True)


def probe(options: argparse.Namespace) -> None:
    """Concurrent fdatasync on one file: T threads each append 64 bytes at the shared tail, then fdatasync."""
    path = os.path.join(options.dir, f"fsync-probe-{os.getpid()}")
    try:
        for threads in (1, 2, 3, 4):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            os.pwrite(fd, bytes(16 << 20), 0)  # preallocated with written zeros, as the journal's segments are
            os.fsync(fd)
            lock = threading.Lock()
            state = {"offset": 0, "syncs": 0, "seconds": 0.0}
            stop = threading.Event()

            def run() -> None:
                record = b"x" * 64
                while not stop.is_set():
                    with lock:
                        offset = state["offset"]
                        state["offset"] += 64
                    os.pwrite(fd, record, offset)
                    started = time.monotonic()
                    os.fdatasync(fd)  # releases the GIL: the threads' fsyncs can overlap
                    took = time.monotonic() - started
                    with lock:
                        state["syncs"] += 1
                        state["seconds"] += took

            workers = [threading.Thread(target=run) for _ in range(threads)]
            started = time.monotonic()
            for worker in workers:
                worker.start()
            time.sleep(options.seconds)
            stop.set()
            for worker in workers:
                worker.join()
            elapsed = time.monotonic() - started
            os.close(fd)
            print(f"  {threads} thread(s): {state['syncs'] / elapsed:8,.0f} fdatasyncs/s, mean latency "
                  f"{state['seconds'] / max(state['syncs'], 1) * 1e6:6,.0f} us")
    finally:
        if os.path.exists(path):
            os.unlink(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True, help="where the journals (or the probe's file) go: the real disk")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--load", default="50x10000", help="CLIENTSxREQUESTS per burst (default 50x10000)")
    parser.add_argument("--probe", action="store_true", help="measure concurrent fdatasync overlap instead")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds per probe step")
    parser.add_argument("variants", nargs="*", help="NAME=BINARY[:VAR=VALUE,...]")
    options = parser.parse_args()
    os.makedirs(options.dir, exist_ok=True)
    if options.probe:
        probe(options)
    elif len(options.variants) < 2:
        parser.error("give at least two variants")
    else:
        ab(options)


if __name__ == "__main__":
    sys.exit(main())
