#!/usr/bin/env python3
"""FT.SEARCH query cost on search.py's data set (1M hashes, 100 categories), for one or more neptune-server
binaries side by side: wall-clock latency in alternating rounds, or instructions per query under callgrind.

    python3 benchmarks/search_queries.py BINARY [BINARY...] [--rounds 3] [--queries 1000]
    python3 benchmarks/search_queries.py BINARY [BINARY...] --callgrind [--queries 200]
    python3 benchmarks/search_queries.py BINARY --loop combined      # runs one kind forever (for perf record)

The queries are search.py's: a numeric range of ~100 documents (`@price:[x x+99] LIMIT 0 100 NOCONTENT`), a tag
query (`@cat:{cN} LIMIT 0 10 NOCONTENT`, ~10,000 matches) and a tag plus a 10,000-wide range sorted by price
(`SORTBY price LIMIT 0 10`, with content), plus PING as the round trip's floor. Wall clock: every server is loaded
with the same data, then each round runs `--queries` queries of each kind on each server in turn; per server and
kind the median of the round medians is printed, with the server's CPU time per query (from /proc, in clock ticks:
coarse below a few thousand queries). Callgrind: one server at a time under `valgrind --tool=callgrind` (with
callgrind.py's workarounds), the counters zeroed and dumped around each kind. With --same-ids the index is created
before loading, so that every server gives the same document IDs and `--compare N` can check that N random queries
(tags, unions, negations, ranges, LIMIT, SORTBY) get byte-identical replies from every binary.
"""

from __future__ import annotations

import argparse
import glob
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
from search import TAGS, Client, create_index, free_port, load, log, timed  # noqa: E402

KINDS = ["ping", "range", "tag", "combined"]


def queries(kind: str, n: int, count: int, rng: random.Random):
    for _ in range(count):
        if kind == "range":
            low = rng.randrange(n - 100)
            yield ("FT.SEARCH", "idx", f"@price:[{low} {low + 99}]", "LIMIT", "0", "100", "NOCONTENT")
        elif kind == "tag":
            yield ("FT.SEARCH", "idx", f"@cat:{{c{rng.randrange(TAGS)}}}", "LIMIT", "0", "10", "NOCONTENT")
        elif kind == "combined":
            low = rng.randrange(n - 10_000)
            yield ("FT.SEARCH", "idx", f"@cat:{{c{rng.randrange(TAGS)}}} @price:[{low} {low + 9_999}]",
                   "SORTBY", "price", "LIMIT", "0", "10")
        else:
            yield ("PING",)


def random_query(n: int, rng: random.Random) -> list[str]:
    t1, t2 = rng.randrange(TAGS), rng.randrange(TAGS)
    lo = rng.randrange(n)
    hi = lo + rng.choice([10, 1000, 100_000, 600_000])
    text = rng.choice([
        f"@cat:{{c{t1}}}", f"@cat:{{c{t1}|c{t2}}}", f"-@cat:{{c{t1}}}", f"@cat:{{c{t1}}} @price:[{lo} {hi}]",
        f"@cat:{{c{t1}}} -@cat:{{c{t2}}}", f"@cat:{{c{t1}}} | @price:[{lo} {hi}]", f"-@price:[{lo} {hi}]",
        f"@price:[{lo} {hi}]", "*", f"@cat:{{c{t1}}} -@price:[{lo} {hi}]",
        f"(@cat:{{c{t1}}} | @cat:{{c{t2}}}) @price:[{lo} {hi}]", "@cat:{c1*}", f"@cat:{{c{t1}*}} @price:[{lo} {hi}]",
    ])
    args = ["FT.SEARCH", "idx", text, "LIMIT", str(rng.choice([0, 0, 5, 2000])), str(rng.choice([0, 1, 10, 100]))]
    if rng.random() < 0.5:
        args.append("NOCONTENT")
    if rng.random() < 0.5:
        args += ["SORTBY", "price", rng.choice(["ASC", "DESC"])]
    return args


def prepare(client: Client, options: argparse.Namespace) -> None:
    if options.same_ids:
        create_index(client)
    load(client, options.keys, random.Random(7))
    if not options.same_ids:
        create_index(client)


def wait_for(port: int) -> Client:
    for _ in range(2400):
        try:
            client = Client(port)
            client.call("PING")
            return client
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the server did not answer")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wall_clock(options: argparse.Namespace) -> int:
    servers = []
    try:
        for binary in options.binaries:
            port = free_port()
            process = subprocess.Popen([binary, "--port", str(port), "--dir", tempfile.mkdtemp(prefix="neptune-q-"),
                                        "--save", ""], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append((binary, process, None))
            client = wait_for(port)
            log(f"loading {options.keys:,} hashes into {binary} (pid {process.pid}, port {port})...")
            prepare(client, options)
            servers[-1] = (binary, process, client)
        if options.loop:
            log(f"running {options.loop} queries on {options.binaries[0]} until interrupted")
            client = servers[0][2]
            while True:
                for query in queries(options.loop, options.keys, 1000, random.Random(3)):
                    client.call(*query)
        latency = {binary: {kind: [] for kind in KINDS} for binary in options.binaries}
        cpu = {binary: {kind: [] for kind in KINDS} for binary in options.binaries}
        for round in range(options.rounds):
            for binary, process, client in servers:
                for kind in KINDS:
                    batch = list(queries(kind, options.keys, options.queries, random.Random(100 + round)))
                    before = cpu_seconds(process.pid)
                    times = [timed(client, *query) for query in batch]
                    cpu[binary][kind].append((cpu_seconds(process.pid) - before) / len(batch) * 1e3)
                    latency[binary][kind].append(statistics.median(times))
        print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
        for binary in options.binaries:
            print(binary)
            for kind in KINDS:
                rounds = latency[binary][kind]
                print(f"  {kind:9s} median {statistics.median(rounds):.3f} ms (rounds "
                      f"{' '.join(f'{x:.3f}' for x in rounds)}), CPU {statistics.median(cpu[binary][kind]):.3f} ms/query")
        if options.compare:
            rng = random.Random(11)
            differ = 0
            for _ in range(options.compare):
                args = random_query(options.keys, rng)
                replies = [client.call(*args) for _, _, client in servers]
                if any(reply != replies[0] for reply in replies[1:]):
                    differ += 1
                    print("DIFFER", args)
            print(f"compared {options.compare} random queries: {differ} differ")
    finally:
        for _, process, _ in servers:
            process.kill()
            process.wait()
    return 0


def callgrind(options: argparse.Namespace) -> int:
    import callgrind as cg  # noqa: E402  (the sibling script)
    for binary in options.binaries:
        out = Path(tempfile.mkdtemp(prefix="neptune-q-cg-"))
        stripped = cg.prepare(str(out), binary)
        port = free_port()
        server = subprocess.Popen(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/q.cg.%p", "--dump-instr=no",
             "--compress-strings=no", stripped, "--port", str(port), "--dir", tempfile.mkdtemp(prefix="neptune-q-"),
             "--save", ""],
            env=dict(os.environ, LD_PRELOAD=cg.SHIM), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            cg.wait_ping(port)
            client = Client(port)
            log(f"loading {options.keys:,} hashes into {binary} under callgrind...")
            prepare(client, options)
            print(binary)
            for kind in KINDS:
                subprocess.run(["callgrind_control", "-z", str(server.pid)], capture_output=True, check=True)
                for query in queries(kind, options.keys, options.queries, random.Random(5)):
                    client.call(*query)
                before = set(glob.glob(f"{out}/q.cg.{server.pid}*"))
                subprocess.run(["callgrind_control", "-d", kind, str(server.pid)], capture_output=True, check=True)
                time.sleep(1)
                new = sorted(set(glob.glob(f"{out}/q.cg.{server.pid}*")) - before, key=os.path.getmtime)
                ir = sum(cg.total_ir(f) or 0 for f in new)
                print(f"  {kind:9s} {ir / options.queries:,.0f} Ir/query ({' '.join(Path(f).name for f in new)})",
                      flush=True)
            print(f"  profiles in {out}")
        finally:
            server.kill()
            server.wait()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binaries", nargs="+", metavar="BINARY", help="neptune-server binaries to compare")
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=None, help="queries of each kind per round (1000; 200 under callgrind)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true", help="count instructions per query instead")
    parser.add_argument("--same-ids", action="store_true", help="create the index before loading (same document IDs)")
    parser.add_argument("--compare", type=int, default=0, metavar="N",
                        help="check N random queries for identical replies (needs --same-ids and two binaries)")
    parser.add_argument("--loop", choices=KINDS[1:], help="run one kind of query forever on the first binary")
    options = parser.parse_args(argv)
    if options.queries is None:
        options.queries = 200 if options.callgrind else 1000
    if options.compare and not options.same_ids:
        parser.error("--compare needs --same-ids (otherwise the background build numbers documents differently)")
    return callgrind(options) if options.callgrind else wall_clock(options)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
