#!/usr/bin/env python3
"""Secondary-index benchmark: FT.SEARCH latency, HSET throughput with and without an index, and index build time,
on 1,000,000 hashes.

    python3 benchmarks/search.py                 # builds release binaries, 1M hashes
    python3 benchmarks/search.py --keys 100000   # smaller
    python3 benchmarks/search.py --skip-build
    python3 benchmarks/search.py --skip-build --callgrind --keys 100000   # instructions per HSET, with/without

Redis here has no RediSearch module, so the query figures are absolute; the HSET figures are ratios on the same
server (same keys, same client, same commands) with the index present versus dropped, for two workloads: the
headline writes a tag drawn from the loaded categories (a TAG field holds low-cardinality values), the second a
random tag out of a million (every write a new tag: the worst case for the tag map). Standard library plus
redis-benchmark and neptune-benchmark. See benchmarks/README.md ("Secondary indexes") for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TAGS = 100
CLIENTS, PIPELINE = 50, 16


def key_width(n: int) -> int:
    """Digits of a key index as neptune-benchmark spells it (zero-padded, at least 8), so that its HSETs rewrite
    the loaded hashes."""
    return max(8, len(str(max(n - 1, 0))))


def category_commands() -> list[str]:
    """The headline HSET workload for neptune-benchmark: a loaded key, a new price, and a tag drawn uniformly from
    the TAGS loaded categories (one template per category, equal weights). The price is the key index after the
    category number, so a key rewritten with another category also moves in the numeric index."""
    commands = []
    for t in range(TAGS):
        commands += ["--command", f"HSET item:__key__ price {t + 1}__key__ cat c{t}"]
    return commands + ["--ratio", ":".join(["1"] * TAGS)]


# The second workload, as redis-benchmark sends it: __rand_int__ is a fresh 12-digit number in [0, keys) at each
# place, so the keys are new ones (item:000000123456), and the tag one of a million.
DISTINCT_COMMAND = ["HSET", "item:__rand_int__", "price", "__rand_int__", "cat", "c__rand_int__"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def encode(*args: object) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(parts)


class Client:
    """A minimal pipelining RESP2 client (enough to count replies and read small ones)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b":"):
            return int(rest) if kind == b":" else rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self._fill()
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected reply {line!r}")

    def call(self, *args: object):
        self.sock.sendall(encode(*args))
        return self.read()

    def pipeline(self, commands: list[bytes]) -> None:
        self.sock.sendall(b"".join(commands))
        for _ in commands:
            self.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def info(client: Client, index: str) -> dict[str, object]:
    values = client.call("FT.INFO", index)
    return {values[i].decode(): values[i + 1] for i in range(0, len(values), 2)}


def timed(client: Client, *args: object) -> float:
    start = time.perf_counter_ns()
    client.call(*args)
    return (time.perf_counter_ns() - start) / 1e6


def hset_throughput(options: argparse.Namespace, port: int, keys: int, requests: int, workload: str) -> float:
    """Requests per second of one HSET run (CLIENTS connections, PIPELINE requests in flight each)."""
    if workload == "categories":
        out = subprocess.run(
            [str(options.benchmark_binary), "-p", str(port), "-c", str(CLIENTS), "-P", str(PIPELINE),
             "-n", str(requests), "--keyspace", str(keys), "--key-prefix", "", "--json"] + category_commands(),
            check=True, capture_output=True, text=True,
        ).stdout
        return float(json.loads(out)["opsPerSecond"])
    out = subprocess.run(
        ["redis-benchmark", "-p", str(port), "-c", str(CLIENTS), "-P", str(PIPELINE), "-n", str(requests),
         "-r", str(keys), "-q", "--csv"] + DISTINCT_COMMAND,
        check=True, capture_output=True, text=True,
    ).stdout
    return float(re.findall(r'"([0-9.]+)"', out.strip().splitlines()[-1])[0])


WORKLOADS = {
    "categories": f"neptune-benchmark: HSET item:<loaded key> price <number> cat c<0..{TAGS - 1}> (tags drawn from "
                  f"the {TAGS} loaded categories)",
    "distinct_tags": "redis-benchmark: " + " ".join(DISTINCT_COMMAND) + " (new keys, a random tag out of a million)",
}


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hset_rounds(options: argparse.Namespace, client: Client, port: int, n: int,
                measure) -> dict[str, object]:
    """Alternates with-index and without-index (dropped) runs of each workload, `--rounds` times; the category
    rounds all run first, so the million-tag rounds cannot fill the index the headline measures."""
    results: dict[str, object] = {}
    for workload in options.workloads.split(","):
        log(f"HSET {workload}: with the index, then without ({options.rounds} rounds)...")
        with_index, without_index = [], []
        for round in range(options.rounds):
            with_index.append(measure(workload, f"{workload}-with-index-{round}"))
            client.call("FT.DROPINDEX", "idx")
            without_index.append(measure(workload, f"{workload}-without-index-{round}"))
            create_index(client)
            log(f"  round {round}: {with_index[-1]:,.0f} with, {without_index[-1]:,.0f} without")
        results[workload] = {
            "workload": WORKLOADS[workload],
            "with_index": with_index,
            "without_index": without_index,
            "with_index_median": statistics.median(with_index),
            "without_index_median": statistics.median(without_index),
        }
    return results


def load(client: Client, n: int, rng: random.Random) -> None:
    batch: list[bytes] = []
    for i in range(n):
        # price uniform over [0, n): a window of width 100 holds ~100 documents.
        key = f"item:{i:0{key_width(n)}d}"
        batch.append(encode("HSET", key, "price", rng.randrange(n), "cat", f"c{rng.randrange(TAGS)}"))
        if len(batch) == 10_000:
            client.pipeline(batch)
            batch = []
    if batch:
        client.pipeline(batch)


def create_index(client: Client) -> None:
    client.call("FT.CREATE", "idx", "ON", "HASH", "PREFIX", "1", "item:", "SCHEMA", "price", "NUMERIC",
                "SORTABLE", "cat", "TAG")
    while int(info(client, "idx")["indexing"]) != 0:
        time.sleep(0.01)


def callgrind(binary: Path, options: argparse.Namespace) -> int:
    """Instructions per HSET with the index and without it (dropped), on one server under callgrind: a figure the
    machine's noise does not move. Uses benchmarks/callgrind.py's workarounds for valgrind."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import callgrind as cg  # noqa: E402  (the sibling script)
    out = Path(tempfile.mkdtemp(prefix="neptune-search-cg-"))
    stripped = cg.prepare(str(out), str(binary))
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="neptune-search-bench-")
    outfile = str(out / "search.cg.%p")
    server = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={outfile}", "--dump-instr=no",
                               stripped, "--port", str(port), "--dir", workdir, "--save", ""] + options.server_arg,
                              env=dict(os.environ, LD_PRELOAD=cg.SHIM),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    n, requests = options.keys, options.callgrind_requests
    results: dict[str, object] = {"keys": n, "hset_requests": requests}

    def measure(workload: str, label: str) -> float:
        subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True, check=True)
        hset_throughput(options, port, n, requests, workload)
        before = set(out.glob(f"search.cg.{server.pid}*"))
        subprocess.run(["callgrind_control", "-d", label, str(server.pid)], capture_output=True, check=True)
        time.sleep(1)
        new = sorted(set(out.glob(f"search.cg.{server.pid}*")) - before, key=os.path.getmtime)
        ir = sum(cg.total_ir(str(f)) or 0 for f in new)
        log(f"{label}: {ir / requests:,.0f} Ir/HSET ({' '.join(f.name for f in new)})")
        return ir / requests

    try:
        cg.wait_ping(port)
        client = Client(port)
        log(f"loading {n:,} hashes under callgrind...")
        load(client, n, random.Random(1))
        create_index(client)
        for workload, row in hset_rounds(options, client, port, n, measure).items():
            results[workload] = {
                "workload": row["workload"],
                "ir_per_hset_with_index": row["with_index_median"],
                "ir_per_hset_without_index": row["without_index_median"],
                "ir_added_per_hset": row["with_index_median"] - row["without_index_median"],
            }
        results["profiles"] = str(out)
    finally:
        server.kill()
        server.wait()
    print(json.dumps(results, indent=2))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--hset-requests", type=int, default=1_000_000)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--neptune-server", metavar="PATH")
    parser.add_argument("--neptune-benchmark", metavar="PATH")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "search.json"))
    parser.add_argument("--rounds", type=int, default=2, help="alternating with/without-index HSET rounds")
    parser.add_argument("--server-arg", action="append", default=[], metavar="ARG",
                        help="extra neptune-server argument (repeatable), e.g. --server-arg=--threads --server-arg=1")
    parser.add_argument("--workloads", default="categories,distinct_tags",
                        help="HSET workloads to run, comma-separated (categories, distinct_tags)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions per HSET instead")
    parser.add_argument("--callgrind-requests", type=int, default=50_000)
    options = parser.parse_args(argv)

    release = ROOT / ".build" / "release"
    binary = Path(options.neptune_server) if options.neptune_server else release / "neptune-server"
    options.benchmark_binary = (Path(options.neptune_benchmark) if options.neptune_benchmark
                                else release / "neptune-benchmark")
    if not options.skip_build:
        for product, given in (("neptune-server", options.neptune_server),
                               ("neptune-benchmark", options.neptune_benchmark)):
            if not given:
                log(f"building {product} (release)...")
                subprocess.run(["scripts/build-release", "--product", product], cwd=ROOT, check=True)
    if options.callgrind:
        return callgrind(binary, options)
    rng = random.Random(1)
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="neptune-search-bench-")
    server = subprocess.Popen([str(binary), "--port", str(port), "--dir", workdir, "--save", ""] + options.server_arg,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict[str, object] = {"keys": options.keys}
    try:
        for _ in range(200):
            try:
                client = Client(port)
                client.call("PING")
                break
            except OSError:
                time.sleep(0.05)
        n = options.keys
        log(f"loading {n:,} hashes...")
        started = time.perf_counter()
        load(client, n, rng)
        results["load_seconds"] = time.perf_counter() - started

        started = time.perf_counter()
        create_index(client)
        results["build_seconds"] = time.perf_counter() - started
        details = info(client, "idx")
        results["num_docs"] = int(details["num_docs"])
        log(f"index built in {results['build_seconds']:.2f} s ({results['num_docs']:,} documents)")

        ping = [timed(client, "PING") for _ in range(options.queries)]
        ranges, totals = [], []
        for _ in range(options.queries):
            low = rng.randrange(n - 100)
            start = time.perf_counter_ns()
            reply = client.call("FT.SEARCH", "idx", f"@price:[{low} {low + 99}]", "LIMIT", "0", "100", "NOCONTENT")
            ranges.append((time.perf_counter_ns() - start) / 1e6)
            totals.append(reply[0])
        tags = [timed(client, "FT.SEARCH", "idx", f"@cat:{{c{rng.randrange(TAGS)}}}", "LIMIT", "0", "10", "NOCONTENT")
                for _ in range(options.queries)]
        combined = [timed(client, "FT.SEARCH", "idx",
                          f"@cat:{{c{rng.randrange(TAGS)}}} @price:[{(low := rng.randrange(n - 10_000))} {low + 9_999}]",
                          "SORTBY", "price", "LIMIT", "0", "10")
                    for _ in range(options.queries)]
        results["ping_median_ms"] = statistics.median(ping)
        results["range_docs_median"] = statistics.median(totals)
        results["range_median_ms"] = statistics.median(ranges)
        results["range_server_median_ms"] = statistics.median(ranges) - statistics.median(ping)
        results["tag_median_ms"] = statistics.median(tags)
        results["tag_server_median_ms"] = statistics.median(tags) - statistics.median(ping)
        results["tag_and_range_sorted_median_ms"] = statistics.median(combined)

        cpu: dict[str, list[float]] = {}

        def timed_hset(workload: str, label: str) -> float:
            # The server's CPU time per request as well as the throughput: on a loaded machine the throughput
            # follows the share of a core the server gets, while CPU time per request changes much less.
            before = cpu_seconds(server.pid)
            rps = hset_throughput(options, port, n, options.hset_requests, workload)
            cpu.setdefault(label.rsplit("-", 1)[0], []).append((cpu_seconds(server.pid) - before) / options.hset_requests * 1e6)
            return rps

        hset = hset_rounds(options, client, port, n, timed_hset)
        for workload, row in hset.items():
            row["ratio"] = row["with_index_median"] / row["without_index_median"]
            row["server_cpu_us_with_index"] = cpu[f"{workload}-with-index"]
            row["server_cpu_us_without_index"] = cpu[f"{workload}-without-index"]
            row["cpu_ratio"] = (statistics.median(cpu[f"{workload}-without-index"])
                                / statistics.median(cpu[f"{workload}-with-index"]))
        results["hset"] = hset
        # The headline: tags drawn from the loaded categories.
        if "categories" in hset:
            results["hset_with_index_rps"] = hset["categories"]["with_index_median"]
            results["hset_without_index_rps"] = hset["categories"]["without_index_median"]
            results["hset_ratio"] = hset["categories"]["ratio"]
        if "distinct_tags" in hset:
            results["hset_distinct_tags_ratio"] = hset["distinct_tags"]["ratio"]
        results["load_average"] = os.getloadavg()
    finally:
        server.terminate()
        server.wait(timeout=30)
    Path(options.out).parent.mkdir(parents=True, exist_ok=True)
    Path(options.out).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
