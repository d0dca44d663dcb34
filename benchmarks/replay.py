#!/usr/bin/env python3
"""Trace replay: hit ratios of eviction policies under one maxmemory, Neptune next to Redis.

One command (standard library only):

    python3 benchmarks/replay.py                 # every trace at full speed + the scan trace rate-limited
    python3 benchmarks/replay.py --quick         # smaller traces, no rate-limited run

Generates four traces (Zipf, Zipf with one-time scans, a loop, shifting popularity), replays each against
neptune-server (every eviction policy, including allkeys-s3fifo) and redis-server (allkeys-lru and allkeys-lfu),
all started with the same `maxmemory`, as a cache would be used: GET, and on a miss SET. It reports hit ratio,
evicted keys, keys held at the end, used_memory and RSS, plus the hit ratio of exact LRU and of Belady's optimal
(offline, for the same capacity in keys as the server held). It also measures p99 latency of SETs with eviction
active against the same load without a limit. Results go to `benchmarks/results/replay.json` and `replay.md`, and
(unless `--no-readme`) the marked section of `benchmarks/README.md`.
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as harness  # noqa: E402  (the benchmark harness: Server, free_port, RespClient, parse_info)

ROOT = Path(__file__).resolve().parent.parent
README_BEGIN = "<!-- replay-results:begin -->"
README_END = "<!-- replay-results:end -->"

NEPTUNE_POLICIES = ["allkeys-s3fifo", "allkeys-lru", "allkeys-lfu", "allkeys-random"]
REDIS_POLICIES = ["allkeys-lru", "allkeys-lfu"]

# ---------------------------------------------------------------------------------------------------------------------
# Traces: lists of key numbers


def zipf_sampler(keys: int, alpha: float, rng: random.Random):
    """Draws key numbers with P(rank r) ~ 1/r^alpha; ranks are shuffled over key numbers."""
    cumulative: list[float] = []
    total = 0.0
    for rank in range(1, keys + 1):
        total += 1.0 / rank**alpha
        cumulative.append(total)
    permutation = list(range(keys))
    rng.shuffle(permutation)

    def draw() -> int:
        return permutation[bisect.bisect_left(cumulative, rng.random() * total)]

    return draw, permutation


def trace_zipf(keys: int, requests: int, alpha: float, seed: int) -> list[int]:
    rng = random.Random(seed)
    draw, _ = zipf_sampler(keys, alpha, rng)
    return [draw() for _ in range(requests)]


def trace_zipf_scans(keys: int, requests: int, alpha: float, seed: int, scan_length: int, scan_every: int) -> list[int]:
    """Zipf, interrupted every `scan_every` requests by a scan of `scan_length` keys never seen before or again."""
    rng = random.Random(seed)
    draw, _ = zipf_sampler(keys, alpha, rng)
    out: list[int] = []
    next_new = keys
    while len(out) < requests:
        out.extend(draw() for _ in range(scan_every))
        out.extend(range(next_new, next_new + scan_length))
        next_new += scan_length
    return out[:requests]


def trace_loop(length: int, requests: int) -> list[int]:
    """Keys 0..length-1 in order, again and again (LRU's worst case when length exceeds the cache)."""
    return [i % length for i in range(requests)]


def trace_shifting(keys: int, requests: int, alpha: float, seed: int, phases: int) -> list[int]:
    """Zipf whose popular keys change `phases` times: each phase reshuffles which keys are hot."""
    rng = random.Random(seed)
    out: list[int] = []
    per_phase = requests // phases
    for _ in range(phases):
        draw, _ = zipf_sampler(keys, alpha, rng)
        out.extend(draw() for _ in range(per_phase))
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Offline models


def exact_lru(trace: list[int], capacity: int) -> float:
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for key in trace:
        if key in cache:
            cache.move_to_end(key)
            hits += 1
        else:
            cache[key] = None
            if len(cache) > capacity:
                cache.popitem(last=False)
    return hits / len(trace)


def belady(trace: list[int], capacity: int) -> float:
    """Belady's MIN with admission always (every miss is inserted, the key used furthest in the future goes)."""
    never = len(trace) + 1
    next_use = [never] * len(trace)
    last: dict[int, int] = {}
    for i in range(len(trace) - 1, -1, -1):
        next_use[i] = last.get(trace[i], never)
        last[trace[i]] = i
    cache: dict[int, int] = {}
    heap: list[tuple[int, int]] = []
    hits = 0
    for i, key in enumerate(trace):
        if key in cache:
            hits += 1
        elif len(cache) >= capacity:
            while True:
                negative, victim = heapq.heappop(heap)
                if cache.get(victim) == -negative:
                    del cache[victim]
                    break
        cache[key] = next_use[i]
        heapq.heappush(heap, (-next_use[i], key))
    return hits / len(trace)


# ---------------------------------------------------------------------------------------------------------------------
# Replay against a server


def key_name(number: int) -> bytes:
    return b"k:%08d" % number


def replay(port: int, trace: list[int], value: bytes, window: int, rate: Optional[float]) -> dict[str, Any]:
    """GET each key; on a miss SET it. Requests go in pipelined windows of `window` GETs followed by the SETs of
    their misses (a key repeated within one window counts as a hit after its first miss, as a sequential client
    would see). With `rate`, requests are paced to that many per second."""
    import socket

    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = sock.makefile("rb", buffering=1 << 16)
    hits = 0
    errors = 0
    started = time.monotonic()
    set_tail = b"\r\n$%d\r\n%s\r\n" % (len(value), value)
    for start in range(0, len(trace), window):
        if rate:
            due = started + start / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        chunk = trace[start : start + window]
        names = [key_name(k) for k in chunk]
        sock.sendall(b"".join(b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n" % (len(n), n) for n in names))
        misses: list[bytes] = []
        seen_miss: set[bytes] = set()
        for name in names:
            line = reader.readline()
            if line.startswith(b"$-1"):
                if name in seen_miss:
                    hits += 1
                else:
                    seen_miss.add(name)
                    misses.append(name)
            elif line.startswith(b"$"):
                reader.read(int(line[1:]) + 2)
                hits += 1
            else:
                errors += 1
        if misses:
            sock.sendall(b"".join(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s%s" % (len(n), n, set_tail) for n in misses))
            for _ in misses:
                if reader.readline() != b"+OK\r\n":
                    errors += 1
    elapsed = time.monotonic() - started
    reader.close()
    sock.close()
    return {"hits": hits, "requests": len(trace), "hit_ratio": hits / len(trace), "errors": errors,
            "seconds": elapsed}


class Servers:
    def __init__(self, neptune: Path, work: Path) -> None:
        self.neptune = neptune
        self.work = work

    def start(self, kind: str, policy: str, maxmemory: int) -> harness.Server:
        port = harness.free_port()
        directory = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=self.work))
        binary = str(self.neptune) if kind == "neptune" else "redis-server"
        argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(directory), "--maxmemory", str(maxmemory), "--maxmemory-policy", policy]
        server = harness.Server(f"{kind} {policy}", argv, port, self.work / f"{kind}-{policy}.log", None)
        server.start()
        return server


def run_one(servers: Servers, kind: str, policy: str, maxmemory: int, trace: list[int], value: bytes,
            window: int, rate: Optional[float]) -> dict[str, Any]:
    server = servers.start(kind, policy, maxmemory)
    try:
        result = replay(server.port, trace, value, window, rate)
        memory = server.info("memory")
        stats = server.info("stats")
        result.update({
            "server": kind,
            "policy": policy,
            "evicted_keys": int(stats.get("evicted_keys", 0)),
            "keys": int(server.call("DBSIZE")),
            "used_memory": int(memory.get("used_memory", 0)),
            "used_memory_peak": int(memory.get("used_memory_peak", 0)),
            "rss": server.rss_bytes(),
        })
    finally:
        server.stop()
    harness.log(f"  {kind:8} {policy:15} hit ratio {result['hit_ratio']:.4f}  keys {result['keys']:7}  "
                f"evicted {result['evicted_keys']:8}  used {result['used_memory'] / 1e6:6.2f} MB  "
                f"({result['seconds']:.1f} s)")
    return result


# ---------------------------------------------------------------------------------------------------------------------
# Latency with eviction active


class MemorySampler:
    """Polls INFO memory every `period` seconds on its own connection while a load runs: the highest used_memory
    seen, and the server's RSS at that moment."""

    def __init__(self, server: harness.Server, period: float = 0.1) -> None:
        import threading

        self.server = server
        self.period = period
        self.max_used = 0
        self.samples = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        try:
            with harness.RespClient(self.server.port) as client:
                while not self.stop_event.wait(self.period):
                    used = int(harness.parse_info(client.call("INFO", "memory") or "").get("used_memory", 0))
                    self.max_used = max(self.max_used, used)
                    self.samples += 1
        except (OSError, harness.BenchError):
            pass

    def __enter__(self) -> "MemorySampler":
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.stop_event.set()
        self.thread.join(timeout=5)


def latency_run(servers: Servers, benchmark: Path, maxmemory: int, policy: str, requests: int,
                kind: str = "neptune") -> dict[str, Any]:
    """SETs of new random keys from 50 connections (pipeline 1), after a 2-second warm-up that fills memory up to
    the limit, so every measured write evicts. Samples used_memory throughout."""
    server = servers.start(kind, policy, maxmemory)
    try:
        with MemorySampler(server) as sampler:
            out = subprocess.run(
                [str(benchmark), "--port", str(server.port), "--connections", "50", "--pipeline", "1",
                 "--requests", str(requests), "--warmup", "2", "--command", "SET __key__ __data__",
                 "--keyspace", "100000000", "--key-prefix", "lat:", "--data-size", "32", "--seed", "1", "--json"],
                check=True, capture_output=True, text=True,
            ).stdout
        data = json.loads(out)
        memory = server.info("memory")
        evicted = int(server.info("stats").get("evicted_keys", 0))
        rss = server.rss_bytes()
    finally:
        server.stop()
    latency = data["latencyMs"]
    result = {"server": kind, "policy": policy, "maxmemory": maxmemory, "evicted_keys": evicted,
              "p50_ms": latency["p50"], "p99_ms": latency["p99"], "p999_ms": latency["p99.9"],
              "requests_per_second": round(data["opsPerSecond"]),
              "used_memory": int(memory.get("used_memory", 0)), "max_used_memory_sampled": sampler.max_used,
              "samples": sampler.samples, "rss": rss}
    harness.log(f"  latency {kind} {policy} maxmemory {maxmemory}: p99 {result['p99_ms']} ms, "
                f"{result['requests_per_second']} requests/s, evicted {evicted}, "
                f"max used {sampler.max_used / 1e6:.2f} MB")
    return result


# ---------------------------------------------------------------------------------------------------------------------
# Report


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Settings: {results['settings']}. Command: `{results['command']}` ({results['seconds']:.0f} s).",
        "",
    ]
    for trace in results["traces"]:
        lines.append(f"**{trace['name']}** ({trace['description']}; {trace['requests']:,} requests, "
                     f"{trace['distinct']:,} distinct keys, maxmemory {trace['maxmemory']:,} B"
                     + (f", paced to {trace['rate']:,.0f} requests/s" if trace.get("rate") else ", full speed")
                     + ")")
        lines.append("")
        lines.append("| server | policy | hit ratio | keys held | evicted | used_memory (/ maxmemory) | RSS | "
                     "exact LRU* | Belady* | requests/s |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for run in trace["runs"]:
            lines.append(
                f"| {run['server']} | {run['policy']} | {run['hit_ratio']:.4f} | {run['keys']:,} | "
                f"{run['evicted_keys']:,} | {run['used_memory'] / 1e6:.2f} MB ({run['used_memory'] / trace['maxmemory']:.3f}) | "
                f"{run['rss'] / 1e6:.1f} MB | {run['lru_same_capacity']:.4f} | {run['belady_same_capacity']:.4f} | "
                f"{run['requests'] / run['seconds']:,.0f} |"
            )
        lines.append("")
        best_redis = max((r for r in trace["runs"] if r["server"] == "redis"), key=lambda r: r["hit_ratio"],
                         default=None)
        s3 = next((r for r in trace["runs"] if r["policy"] == "allkeys-s3fifo"), None)
        if best_redis is not None and s3 is not None:
            lines.append(f"allkeys-s3fifo - best redis-server policy ({best_redis['policy']}): "
                         f"{s3['hit_ratio'] - best_redis['hit_ratio']:+.4f}; Belady at Neptune's capacity - "
                         f"allkeys-s3fifo: {s3['belady_same_capacity'] - s3['hit_ratio']:+.4f}.")
            lines.append("")
    lines.append("\\* exact LRU and Belady's optimal, computed offline on the same trace for the number of keys "
                 "that server held at the end of its run (its capacity at this maxmemory). Belady's optimal is "
                 "bounded by the trace's compulsory misses (the first request of each distinct key).")
    if results.get("latency"):
        lines.append("")
        lines.append("**SET latency with eviction active** (neptune-benchmark, 50 connections, pipeline 1, SETs of "
                     "new random keys, 32-byte values, after a 2 s warm-up that fills memory; used_memory sampled "
                     "every 100 ms during the run; the configurations take turns, round after round):")
        lines.append("")
        lines.append("| server | policy | maxmemory | evicted | p50 ms | p99 ms | p99.9 ms | requests/s | "
                     "max used_memory sampled (/ maxmemory) | RSS at end |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for run in results["latency"]:
            limit = run["maxmemory"]
            used = f"{run['max_used_memory_sampled'] / 1e6:.2f} MB" + (
                f" ({run['max_used_memory_sampled'] / limit:.3f})" if limit else "")
            lines.append(f"| {run['server']} | {run['policy']} | {limit:,} | {run['evicted_keys']:,} | "
                         f"{run['p50_ms']} | {run['p99_ms']} | {run['p999_ms']} | {run['requests_per_second']:,} | "
                         f"{used} | {run['rss'] / 1e6:.1f} MB |")
        lines.append("")
        for line in latency_ratios(results["latency"]):
            lines.append(line)
    return "\n".join(lines) + "\n"


def latency_ratios(runs: list[dict[str, Any]]) -> list[str]:
    """Median p99 (and throughput) with a limit over the median without one, per server and policy, over the
    rounds (each round runs every configuration once, so slow phases of a shared machine hit them alike)."""
    import statistics

    out = []
    for kind in ("neptune", "redis"):
        base = [r for r in runs if r["server"] == kind and r["maxmemory"] == 0]
        if not base:
            continue
        base_p99 = statistics.median(r["p99_ms"] for r in base)
        base_rate = statistics.median(r["requests_per_second"] for r in base)
        limited = sorted({r["policy"] for r in runs if r["server"] == kind and r["maxmemory"] > 0})
        for policy in limited:
            group = [r for r in runs if r["server"] == kind and r["maxmemory"] > 0 and r["policy"] == policy]
            p99 = statistics.median(r["p99_ms"] for r in group)
            rate = statistics.median(r["requests_per_second"] for r in group)
            if base_p99 and base_rate:
                out.append(f"- {kind} {policy}: median p99 with eviction / without = {p99:.3f} / {base_p99:.3f} ms "
                           f"= **{p99 / base_p99:.2f}**; median requests/s with / without = {rate / base_rate:.2f} "
                           f"({len(group)} rounds)")
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small traces, short paced and latency runs")
    parser.add_argument("--keys", type=int, default=100_000, help="distinct keys of the Zipf traces")
    parser.add_argument("--requests", type=int, default=400_000, help="requests per trace at full speed")
    parser.add_argument("--alpha", type=float, default=0.99, help="Zipf exponent")
    parser.add_argument("--maxmemory", type=int, default=2_000_000, help="maxmemory for every server, bytes")
    parser.add_argument("--value-size", type=int, default=32)
    parser.add_argument("--window", type=int, default=32, help="GETs pipelined per window")
    parser.add_argument("--rate", type=float, default=3000, help="requests/s of the paced run")
    parser.add_argument("--paced-requests", type=int, default=120_000)
    parser.add_argument("--paced-trace", default="zipf-scans")
    parser.add_argument("--paced-neptune-policies", default="allkeys-s3fifo,allkeys-lru")
    parser.add_argument("--traces", default="zipf,zipf-scans,loop,shifting")
    parser.add_argument("--neptune-policies", default=",".join(NEPTUNE_POLICIES))
    parser.add_argument("--latency-requests", type=int, default=400_000)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--latency-maxmemory", type=int, default=8_000_000)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--neptune-server", type=Path)
    parser.add_argument("--neptune-benchmark", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--no-readme", action="store_true")
    options = parser.parse_args(argv)
    if options.quick:
        options.keys, options.requests = 40_000, 60_000
        options.paced_requests, options.rate = 15_000, 5000
        options.latency_requests, options.latency_rounds = 50_000, 1
        options.maxmemory = min(options.maxmemory, 1_500_000)
        options.latency_maxmemory = min(options.latency_maxmemory, 3_000_000)

    if not options.skip_build and not (options.neptune_server and options.neptune_benchmark):
        subprocess.run(["swift", "build", "-c", "release", "--product", "neptune-server"], cwd=ROOT, check=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "neptune-benchmark"], cwd=ROOT, check=True)
    if not (options.neptune_server and options.neptune_benchmark):
        bin_path = Path(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                       capture_output=True, text=True).stdout.strip())
    neptune = options.neptune_server or bin_path / "neptune-server"
    benchmark = options.neptune_benchmark or bin_path / "neptune-benchmark"
    options.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="replay-", dir=options.out))
    servers = Servers(neptune, work)
    value = b"v" * options.value_size
    policies = [p for p in options.neptune_policies.split(",") if p]
    paced_policies = [p for p in options.paced_neptune_policies.split(",") if p]
    started = time.monotonic()

    n, r = options.keys, options.requests
    scan_every, scan_length = max(1000, n // 5), max(250, n // 20)
    definitions = {
        "zipf": ("Zipf", f"Zipf alpha {options.alpha} over {n:,} keys", lambda: trace_zipf(n, r, options.alpha, 1)),
        "zipf-scans": ("Zipf with scans", f"Zipf alpha {options.alpha} over {n:,} keys; every {scan_every:,} "
                       f"requests a scan of {scan_length:,} keys used once",
                       lambda: trace_zipf_scans(n, max(r, options.paced_requests), options.alpha, 2, scan_length,
                                                scan_every)),
        "loop": ("Loop", f"keys 0..{n // 5:,} in order, repeated", lambda: trace_loop(n // 5, r)),
        "shifting": ("Shifting popularity", f"Zipf alpha {options.alpha} over {n:,} keys, hot set reshuffled 4 "
                     "times", lambda: trace_shifting(n, r, options.alpha, 3, 4)),
    }
    runs_to_do: list[tuple[str, Optional[float], int, list[str]]] = [
        (t, None, r, policies) for t in options.traces.split(",") if t]
    if options.rate and options.paced_requests:
        runs_to_do.append((options.paced_trace, options.rate, options.paced_requests, paced_policies))

    results: dict[str, Any] = {
        "settings": f"maxmemory {options.maxmemory:,} B for every server, {options.value_size}-byte values, "
                    f"keys `k:NNNNNNNN`, maxmemory-samples 5, {options.window} GETs per pipelined window",
        "command": "python3 benchmarks/replay.py" + ("" if not argv else " " + " ".join(argv)),
        "traces": [],
    }
    for name, rate, requests, neptune_policies in runs_to_do:
        title, description, make = definitions[name]
        trace = make()[:requests]
        harness.log(f"{title}: {len(trace):,} requests" + (f" paced to {rate:.0f}/s" if rate else ""))
        entry = {"name": title, "description": description, "requests": len(trace), "distinct": len(set(trace)),
                 "maxmemory": options.maxmemory, "rate": rate, "runs": []}
        for kind, kind_policies in (("neptune", neptune_policies), ("redis", REDIS_POLICIES)):
            for policy in kind_policies:
                entry["runs"].append(run_one(servers, kind, policy, options.maxmemory, trace, value,
                                             options.window, rate))
        cache: dict[int, tuple[float, float]] = {}
        for run in entry["runs"]:
            capacity = max(1, run["keys"])
            if capacity not in cache:
                cache[capacity] = (exact_lru(trace, capacity), belady(trace, capacity))
            run["lru_same_capacity"], run["belady_same_capacity"] = cache[capacity]
        results["traces"].append(entry)

    results["latency"] = []
    for _ in range(max(1, options.latency_rounds)):
        for kind, policy, maxmemory in (("neptune", "allkeys-s3fifo", 0),
                                        ("neptune", "allkeys-s3fifo", options.latency_maxmemory),
                                        ("neptune", "allkeys-lru", options.latency_maxmemory)):
            results["latency"].append(latency_run(servers, benchmark, maxmemory, policy, options.latency_requests,
                                                  kind))
    results["seconds"] = time.monotonic() - started

    (options.out / "replay.json").write_text(json.dumps(results, indent=2))
    markdown = render(results)
    (options.out / "replay.md").write_text(markdown)
    print(markdown)
    if not options.no_readme and not options.quick:
        readme = ROOT / "benchmarks" / "README.md"
        text = readme.read_text()
        if README_BEGIN in text and README_END in text:
            head, rest = text.split(README_BEGIN, 1)
            _, tail = rest.split(README_END, 1)
            readme.write_text(head + README_BEGIN + "\n" + markdown + README_END + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
