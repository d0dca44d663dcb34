#!/usr/bin/env python3
"""Neptune vs Redis, side by side, with one command.

    python3 benchmarks/run.py            # full run: 3 rounds, 1,000,000 keys
    python3 benchmarks/run.py --quick    # 1-2 minute smoke run

Builds release binaries, starts neptune-server and redis-server with the same settings on free loopback ports, loads
the same keys into both, runs the same workloads against both with neptune-benchmark and redis-benchmark (the order
of the two servers flips every round), measures throughput, latency, server CPU time per request, load time and
memory, runs the in-process benchmark of the embedded API, then prints a table of medians and ratios and writes
results.json and results.svg. Standard library only. See benchmarks/README.md for the method.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import json
import math
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Optional
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
README = BENCHMARKS / "README.md"
README_BEGIN = "<!-- results:begin (written by benchmarks/run.py; edits inside are overwritten) -->"
README_END = "<!-- results:end -->"

SERVERS = ("neptune", "redis")
CLIENTS = ("neptune-benchmark", "redis-benchmark")
COMMANDS = ("SET", "GET")
VALUE_BYTES = 10
REDIS_BENCHMARK_RANDOM_KEYS = 100_000
EMBEDDED_PRODUCT = "neptune-embedded-benchmark"
# The release build of scripts/build-release: optimized, without runtime exclusivity checks in any module.
RELEASE_BUILD = ("build", "-c", "release", "-Xswiftc", "-enforce-exclusivity=unchecked")
FSYNC_MODES = ("always", "everysec")
DURABILITY_CLIENTS = (1, 50)
#: The small-hash memory workload: this many hashes of HASH_FIELDS fields of VALUE_BYTES each (listpack in Redis).
HASH_KEYS = 100_000
HASH_FIELDS = 5


class BenchError(Exception):
    """A failure the user should read: printed without a traceback."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------------
# Small pure helpers (unit-tested in test_run.py)


def parse_proc_stat(text: str) -> tuple[int, int]:
    """utime and stime, in clock ticks, from the text of /proc/<pid>/stat.

    The command name (field 2) is in parentheses and may itself contain spaces or ')', so fields are counted from the
    last ')'.
    """
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return int(rest[11]), int(rest[12])


def parse_vm_rss(text: str) -> int:
    """VmRSS in bytes from the text of /proc/<pid>/status."""
    match = re.search(r"^VmRSS:\s+(\d+)\s+kB", text, re.MULTILINE)
    if not match:
        raise BenchError("VmRSS is missing from /proc/<pid>/status")
    return int(match.group(1)) * 1024


def parse_info(text: str) -> dict[str, str]:
    """The fields of an INFO reply."""
    fields = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def parse_redis_benchmark_csv(text: str) -> dict[str, dict[str, float]]:
    """Rows of `redis-benchmark --csv` keyed by test name: rps and latencies in ms."""
    rows = {}
    for row in csv.DictReader(io.StringIO(text.strip())):
        if not row.get("test"):
            continue
        rows[row["test"]] = {key: float(value) for key, value in row.items() if key != "test"}
    return rows


def cpu_ticks() -> Optional[list[int]]:
    """The machine's CPU time counters from /proc/stat (user, nice, system, idle, iowait, irq, softirq, steal ...),
    or None where there is no /proc."""
    try:
        with open("/proc/stat") as stat:
            return [int(field) for field in stat.readline().split()[1:]]
    except (OSError, ValueError):
        return None


def steal_percent(before: Optional[list[int]], after: Optional[list[int]]) -> Optional[float]:
    """The share of CPU time the hypervisor gave to other guests between two `cpu_ticks()` readings, in percent: while
    it is above zero the machine's own processes wait for a processor they were promised, which shows in every
    tail latency measured meanwhile."""
    if before is None or after is None or len(before) < 8 or len(after) < 8:
        return None
    total = sum(after) - sum(before)
    return 100.0 * (after[7] - before[7]) / total if total > 0 else None


def median(values: list[float]) -> Optional[float]:
    clean = [value for value in values if value is not None]
    return statistics.median(clean) if clean else None


def ratio(numerator: Optional[float], denominator: Optional[float]) -> Optional[float]:
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def replace_marked_section(text: str, body: str) -> str:
    """Replaces what lies between the README markers (adding the markers at the end if absent)."""
    block = f"{README_BEGIN}\n{body.rstrip()}\n{README_END}"
    start = text.find(README_BEGIN)
    end = text.find(README_END)
    if start == -1 or end == -1 or end < start:
        return text.rstrip() + "\n\n" + block + "\n"
    return text[:start] + block + text[end + len(README_END):]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten that is at least value."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * 0.999999:
            return step * power
    return 10 * power


def nice_axis(maximum: float, target_ticks: int = 5) -> tuple[float, float]:
    """An axis top and tick step covering maximum: the step is 1, 2, 2.5 or 5 times a power of ten."""
    step = nice_ceiling(maximum / target_ticks) if maximum > 0 else 1.0
    return step * max(1, math.ceil(maximum / step - 1e-9)), step


def log_axis(minimum: float, maximum: float) -> tuple[float, float]:
    """Whole decades around [minimum, maximum] (both > 0), at least one decade wide."""
    low = 10 ** math.floor(math.log10(minimum))
    high = 10 ** math.ceil(math.log10(maximum))
    return low, high if high > low else low * 10


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2 and 5 times each power of ten from low to high."""
    ticks = []
    decade = low
    while decade <= high * 1.000001:
        for step in (1, 2, 5):
            value = decade * step
            if value <= high * 1.000001:
                ticks.append(float(f"{value:.12g}"))
        decade *= 10
    return ticks


def format_si(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def free_port() -> int:
    """A free TCP port on the loopback interface, at or above 20000."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port >= 20000:
            return port
    raise BenchError("no free loopback port at or above 20000")


def parse_cpu_list(text: Optional[str]) -> Optional[set[int]]:
    """`0`, `0,1` or `0-1` -> a CPU set; None for no pinning."""
    if not text:
        return None
    cpus: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            cpus.update(range(int(low), int(high) + 1))
        else:
            cpus.add(int(part))
    return cpus


def filesystem_type(path: Path, mounts_text: str) -> Optional[str]:
    """The type of the file system holding path (the longest mount point that is a prefix), from /proc/mounts."""
    best, kind = "", None
    target = str(path.resolve())
    for line in mounts_text.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        mount_point = fields[1].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, kind = mount_point, fields[2]
    return kind


def durability_key(mode: str, client: str, clients: int) -> str:
    return f"appendfsync {mode} {client} SET c{clients}"


def durability_requests(mode: str, clients: int, scale: float) -> int:
    """Requests for one durability run: an fsync per request (or per group of requests) makes `always` slow."""
    base = {("always", 1): 2_000, ("always", 50): 20_000, ("everysec", 1): 20_000, ("everysec", 50): 100_000}
    return max(100, int(base[(mode, clients)] * scale))


# ---------------------------------------------------------------------------------------------------------------------
# A minimal RESP client, enough for PING, INFO, DBSIZE and EXISTS


class RespClient:
    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = self.sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def __enter__(self) -> "RespClient":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

    def call(self, *arguments: str) -> Any:
        parts = [f"*{len(arguments)}\r\n".encode()]
        for argument in arguments:
            data = argument.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(parts))
        return self._read()

    def _read(self) -> Any:
        line = self.reader.readline()
        if not line.endswith(b"\r\n"):
            raise BenchError("the server closed the connection")
        kind, payload = line[:1], line[1:-2]
        if kind == b"+":
            return payload.decode()
        if kind == b"-":
            raise BenchError(f"server error reply: {payload.decode()}")
        if kind == b":":
            return int(payload)
        if kind == b"$":
            length = int(payload)
            if length < 0:
                return None
            data = self.reader.read(length + 2)
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            count = int(payload)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise BenchError(f"unexpected reply line {line!r}")


# ---------------------------------------------------------------------------------------------------------------------
# Servers


class Server:
    """One server process, started with argv on a loopback port and stopped by PID."""

    def __init__(self, name: str, argv: list[str], port: int, log_path: Path, cpus: Optional[set[int]]) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.log_path = log_path
        self.cpus = cpus
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.ticks_per_second = os.sysconf("SC_CLK_TCK")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 20.0, poll: float = 0.1) -> None:
        cpus = self.cpus
        log_file = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        except OSError as error:
            raise BenchError(f"{self.name}: cannot run {self.argv[0]}: {error}") from error
        finally:
            log_file.close()
        deadline = time.monotonic() + timeout
        last_error: Optional[BaseException] = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with status {self.process.returncode} before accepting connections "
                    f"on port {self.port}.\n--- last lines of {self.log_path.name} ---\n{self.log_tail()}"
                )
            try:
                with RespClient(self.port, timeout=2) as client:
                    if client.call("PING") == "PONG":
                        return
            except (OSError, BenchError) as error:
                last_error = error
            time.sleep(poll)
        self.stop()
        raise BenchError(
            f"{self.name} did not answer PING on port {self.port} within {timeout:.0f} s ({last_error}).\n"
            f"--- last lines of {self.log_path.name} ---\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def ensure_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            raise BenchError(f"{self.name} is no longer running (status {code}).\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; only this server's own PID."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log(f"{self.name} (pid {self.process.pid}) ignored SIGTERM for 10 s; sending SIGKILL")
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        utime, stime = parse_proc_stat(Path(f"/proc/{self.pid}/stat").read_text())
        return (utime + stime) / self.ticks_per_second

    def rss_bytes(self) -> int:
        return parse_vm_rss(Path(f"/proc/{self.pid}/status").read_text())

    def info(self, section: str) -> dict[str, str]:
        with RespClient(self.port) as client:
            return parse_info(client.call("INFO", section) or "")

    def used_memory(self) -> int:
        """INFO memory's used_memory in bytes (0 when the server does not report it)."""
        return int(self.info("memory").get("used_memory", "0") or 0)

    def call(self, *arguments: str) -> Any:
        with RespClient(self.port) as client:
            return client.call(*arguments)


# ---------------------------------------------------------------------------------------------------------------------
# The run


class Runner:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.out = Path(options.out).resolve()
        self.binaries: dict[str, Path] = {}
        self.servers: dict[str, Server] = {}
        self.workdirs: list[Path] = []
        self.rounds: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self.failed = False  # wrong replies somewhere: the numbers are written, and the exit status is 1
        self.shortest_save: dict[str, float] = {}  # per server name: the shortest BGSAVE seen (see bgsave_loop)

    # --- building

    def swift(self, *arguments: str) -> str:
        command = ["swift", *arguments]
        log("$ " + " ".join(command))
        result = subprocess.run(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise BenchError(f"`{' '.join(command)}` failed:\n" + "\n".join(result.stdout.splitlines()[-40:]))
        return result.stdout

    def build(self) -> None:
        options = self.options
        manifest = (ROOT / "Package.swift").read_text()
        products = ["neptune-server", "neptune-benchmark"]
        want_embedded = not options.no_embedded and not options.embedded_benchmark
        if want_embedded and f'"{EMBEDDED_PRODUCT}"' in manifest:
            products.append(EMBEDDED_PRODUCT)
        elif want_embedded:
            self.warnings.append(
                f"Package.swift declares no {EMBEDDED_PRODUCT} target: the embedded benchmark is skipped "
                "(pass --embedded-benchmark PATH to use a binary built elsewhere)"
            )
        if not options.skip_build:
            for product in products:
                self.swift(*RELEASE_BUILD, "--product", product)
        bin_path = Path(self.swift(*RELEASE_BUILD, "--show-bin-path").strip().splitlines()[-1])
        for product in products:
            self.binaries[product] = bin_path / product
        overrides = {
            "neptune-server": options.neptune_server,
            "neptune-benchmark": options.neptune_benchmark,
            EMBEDDED_PRODUCT: options.embedded_benchmark,
        }
        for product, override in overrides.items():
            if override:
                self.binaries[product] = Path(override).resolve()
        for tool in ("redis-server", "redis-benchmark"):
            found = shutil.which(tool)
            if not found:
                raise BenchError(f"{tool} is not on PATH (scripts/setup installs it)")
            self.binaries[tool] = Path(found)
        for product, path in self.binaries.items():
            if not path.exists():
                raise BenchError(f"{product} was not found at {path}")

    # --- servers

    def start_servers(self, round_index: int, persistence: Optional[list[str]] = None,
                      base: Optional[Path] = None) -> None:
        options = self.options
        cpus = parse_cpu_list(options.pin_server)
        common = ["--bind", "127.0.0.1", "--save", "", *(persistence or ["--appendonly", "no"]), "--maxmemory", "0"]
        for name in SERVERS:
            port = free_port()
            workdir = Path(tempfile.mkdtemp(prefix=f"bench-{name}-", dir=base))
            self.workdirs.append(workdir)
            if name == "neptune":
                argv = [str(self.binaries["neptune-server"]), "--port", str(port), "--dir", str(workdir), *common]
                if options.neptune_threads:
                    argv += ["--threads", str(options.neptune_threads)]
            else:
                argv = [str(self.binaries["redis-server"]), "--port", str(port), "--dir", str(workdir), *common,
                        "--daemonize", "no"]
            log_path = self.out / f"{name}-server.log"
            with open(log_path, "ab") as header:
                header.write(f"=== round {round_index + 1}: {' '.join(argv[1:])}\n".encode())
            server = Server(name, argv, port, log_path, cpus)
            self.servers[name] = server
            server.start()
            log(f"  {name}-server pid {server.pid} on 127.0.0.1:{port}")

    def stop_servers(self) -> None:
        for server in self.servers.values():
            try:
                server.stop()
            except Exception as error:  # keep stopping the others
                log(f"stopping {server.name}: {error}")
        self.servers = {}
        for workdir in self.workdirs:
            shutil.rmtree(workdir, ignore_errors=True)
        self.workdirs = []

    # --- clients

    def run_client(self, argv: list[str], timeout: float) -> tuple[str, float, float]:
        """Runs a client to completion; returns its stdout, wall seconds and CPU seconds (user + system)."""
        cpus = parse_cpu_list(self.options.pin_client)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        try:
            result = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                timeout=timeout,
                preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            )
        except subprocess.TimeoutExpired as error:
            raise BenchError(f"`{' '.join(argv)}` did not finish within {timeout:.0f} s") from error
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if result.returncode != 0:
            raise BenchError(f"`{' '.join(argv)}` failed with status {result.returncode}:\n{result.stderr[-2000:]}")
        return result.stdout, wall, cpu

    def neptune_benchmark(self, port: int, extra: list[str], keyspace: Optional[int] = None,
                          key_prefix: str = "key:") -> list[str]:
        """neptune-benchmark's argv against port: `keyspace` keys (default --keys) named `key_prefix` + number."""
        return [
            str(self.binaries["neptune-benchmark"]), "--host", "127.0.0.1", "--port", str(port),
            "--keyspace", str(keyspace or self.options.keys), "--key-prefix", key_prefix,
            "--data-size", str(VALUE_BYTES), "--json", *extra,
        ]

    def bulk_load(self, server: Server, command: str, keyspace: int, key_prefix: str) -> tuple[dict[str, Any], float]:
        """Runs `command` once per key with neptune-benchmark --load (50 connections, pipeline 16); returns its report
        and the wall seconds. Any error reply fails the run."""
        argv = self.neptune_benchmark(
            server.port, ["--load", "--command", command, "--connections", "50", "--pipeline", "16"],
            keyspace=keyspace, key_prefix=key_prefix,
        )
        stdout, wall, _ = self.run_client(argv, timeout=1800)
        report = json.loads(stdout)
        if report.get("errors"):
            raise BenchError(f"loading {key_prefix}* into {server.name} got {report['errors']} errors: "
                             f"{report.get('errorSamples')}")
        return report, wall

    def load(self, server: Server) -> dict[str, Any]:
        """Writes every key once and measures the time it took and the memory it costs."""
        keys = self.options.keys
        rss_before = server.rss_bytes()
        used_before = server.used_memory()
        report, wall = self.bulk_load(server, "SET __key__ __data__", keys, "key:")
        count = server.call("DBSIZE")
        first, last = "key:%08d" % 0, "key:%08d" % (keys - 1)
        if count != keys or server.call("EXISTS", first, last) != 2:
            raise BenchError(f"after loading {keys} keys {server.name} holds {count} (or lacks {first}/{last})")
        time.sleep(0.5)  # let RSS settle (allocator background work)
        rss_after = server.rss_bytes()
        used_after = server.used_memory()
        result = {
            "keys": keys,
            "seconds": report.get("durationSeconds") or wall,
            "wallSeconds": round(wall, 4),
            "keysPerSecond": keys / (report.get("durationSeconds") or wall),
            "rssBeforeBytes": rss_before,
            "rssAfterBytes": rss_after,
            "rssBytesPerKey": (rss_after - rss_before) / keys,
            "usedMemoryBeforeBytes": used_before,
            "usedMemoryAfterBytes": used_after,
            "usedMemoryBytesPerKey": (used_after - used_before) / keys if used_after else None,
        }
        log(
            f"  load {server.name}: {keys} keys in {result['seconds']:.2f} s, RSS {rss_after / 2**20:.1f} MiB "
            f"({result['rssBytesPerKey']:.0f} B/key), used_memory {used_after / 2**20:.1f} MiB"
        )
        return result

    def load_hashes(self, server: Server) -> dict[str, Any]:
        """Writes HASH_KEYS small hashes and measures the memory they cost (RSS and used_memory growth)."""
        rss_before = server.rss_bytes()
        used_before = server.used_memory()
        _, wall = self.bulk_load(server, hash_command(HASH_FIELDS), HASH_KEYS, "hash:")
        last = "hash:%08d" % (HASH_KEYS - 1)
        if server.call("HLEN", last) != HASH_FIELDS:
            raise BenchError(f"after loading hashes {server.name} has no {HASH_FIELDS}-field hash {last}")
        time.sleep(0.5)
        rss_after = server.rss_bytes()
        used_after = server.used_memory()
        result = {
            "hashKeys": HASH_KEYS,
            "hashFields": HASH_FIELDS,
            "hashEncoding": server.call("OBJECT", "ENCODING", last),
            "hashRssBytesPerKey": (rss_after - rss_before) / HASH_KEYS,
            "hashUsedMemoryBytesPerKey": (used_after - used_before) / HASH_KEYS if used_after else None,
        }
        log(
            f"  hashes {server.name}: {HASH_KEYS} x {HASH_FIELDS} fields in {wall:.2f} s, RSS growth "
            f"{result['hashRssBytesPerKey']:.0f} B/hash, encoding {result['hashEncoding']}"
        )
        return result

    def workload(self, server: Server, client: str, command: str, pipeline: int,
                 clients: Optional[int] = None, requests: Optional[int] = None) -> dict[str, Any]:
        options = self.options
        clients = clients or options.clients
        requests = requests or options.requests * (options.pipeline_factor if pipeline > 1 else 1)
        if client == "neptune-benchmark":
            template = "SET __key__ __data__" if command == "SET" else "GET __key__"
            argv = self.neptune_benchmark(server.port, [
                "--command", template, "--connections", str(clients), "--pipeline", str(pipeline),
                "--requests", str(requests), "--seed", str(options.seed),
            ])
        else:
            argv = [
                str(self.binaries["redis-benchmark"]), "-h", "127.0.0.1", "-p", str(server.port),
                "-t", command.lower(), "-c", str(clients), "-P", str(pipeline), "-n", str(requests),
                "-r", str(REDIS_BENCHMARK_RANDOM_KEYS), "-d", str(VALUE_BYTES), "--csv",
            ]
        server.ensure_running()
        cpu_before = server.cpu_seconds()
        stdout, wall, client_cpu = self.run_client(argv, timeout=1800)
        cpu_after = server.cpu_seconds()
        server.ensure_running()
        if client == "neptune-benchmark":
            report = json.loads(stdout)
            served = int(report["requests"])
            result = {
                "opsPerSecond": report["opsPerSecond"],
                "p50Ms": report["latencyMs"]["p50"],
                "p99Ms": report["latencyMs"]["p99"],
                "requests": served,
                "errors": report.get("errors", 0),
                "errorSamples": report.get("errorSamples", []),
                "percentiles": [[point["percentile"], point["latencyMs"]] for point in report.get("percentiles", [])],
            }
        else:
            rows = parse_redis_benchmark_csv(stdout)
            if command not in rows:
                raise BenchError(f"redis-benchmark printed no {command} row:\n{stdout}")
            row = rows[command]
            served = requests
            result = {
                "opsPerSecond": row["rps"],
                "p50Ms": row["p50_latency_ms"],
                "p99Ms": row["p99_latency_ms"],
                "requests": served,
                "errors": 0,
            }
        result["serverCpuSeconds"] = round(cpu_after - cpu_before, 4)
        result["serverCpuMicrosecondsPerRequest"] = (cpu_after - cpu_before) / served * 1e6 if served else None
        result["clientCpuMicrosecondsPerRequest"] = client_cpu / served * 1e6 if served else None
        result["clientWallSeconds"] = round(wall, 4)
        if result["errors"]:
            self.failed = True
            self.warnings.append(
                f"{server.name} {client} {command} P{pipeline}: {result['errors']} error replies, "
                f"for example {result.get('errorSamples')}"
            )
        return result

    def round_order(self, round_index: int, label: str) -> list[str]:
        """The servers in the order this round runs them (it flips every round), logged under label."""
        order = list(SERVERS) if round_index % 2 == 0 else list(reversed(SERVERS))
        log(f"{label} {round_index + 1}/{self.options.rounds}: order {' then '.join(order)}")
        return order

    def workload_on_each(self, order: list[str], key: str, *workload: Any) -> dict[str, dict[str, Any]]:
        """Runs self.workload(server, *workload) on each server in order; the results by server name, each logged."""
        results = {}
        for name in order:
            result = self.workload(self.servers[name], *workload)
            results[name] = result
            log(
                f"  {key:<44} {name:<8} {result['opsPerSecond']:>12,.0f} ops/s  "
                f"p50 {result['p50Ms']:.3f} ms  p99 {result['p99Ms']:.3f} ms  "
                f"server CPU {result['serverCpuMicrosecondsPerRequest']:.2f} us/req"
            )
        return results

    def run_round(self, round_index: int) -> dict[str, Any]:
        order = self.round_order(round_index, "round")
        record: dict[str, Any] = {"round": round_index + 1, "order": order, "load": {}, "workloads": {}}
        try:
            self.start_servers(round_index)
            for name in order:
                record["load"][name] = self.load(self.servers[name])
            for pipeline in (1, 16):
                for client in CLIENTS:
                    for command in COMMANDS:
                        key = workload_key(client, command, pipeline)
                        record["workloads"][key] = self.workload_on_each(order, key, client, command, pipeline)
            for name in order:
                record["load"][name].update(self.load_hashes(self.servers[name]))
        finally:
            self.stop_servers()
        return record

    def durability_base(self) -> Path:
        """Where the servers' journals go: on the real disk (a tmpfs would make fsync free and the test moot)."""
        base = Path(self.options.durability_dir or self.out / "journals").resolve()
        base.mkdir(parents=True, exist_ok=True)
        try:
            kind = filesystem_type(base, Path("/proc/mounts").read_text())
        except OSError:
            kind = None
        if kind in ("tmpfs", "ramfs"):
            self.warnings.append(f"journals are on {kind} ({base}): fsync costs nothing there; use --durability-dir")
        return base

    def run_durability_round(self, round_index: int) -> dict[str, Any]:
        """SET throughput with `appendonly yes` under each appendfsync mode, at 1 and 50 clients, both clients."""
        order = self.round_order(round_index, "durability round")
        record: dict[str, Any] = {"round": round_index + 1, "order": order, "workloads": {}}
        base = self.durability_base()
        for mode in FSYNC_MODES:
            try:
                self.start_servers(round_index, ["--appendonly", "yes", "--appendfsync", mode], base)
                for clients in DURABILITY_CLIENTS:
                    requests = durability_requests(mode, clients, self.options.durability_scale)
                    for client in CLIENTS:
                        key = durability_key(mode, client, clients)
                        record["workloads"][key] = self.workload_on_each(order, key, client, "SET", 1, clients,
                                                                         requests)
            finally:
                self.stop_servers()
        return record

    def bgsave_loop(self, server: "Server", stop: "threading.Event", counts: dict[str, Any]) -> None:
        """Starts BGSAVE again and again until stop is set (each one after the previous finished), counting the saves
        started and the `INFO persistence` polls.

        It polls every 10 ms, but only from half the shortest save of this server seen so far (over all its windows)
        on: in scheduler traces the harness's own wake-ups (this process, polling every 10 ms through a whole save)
        were among the server loop's longest waits for a processor. A save shorter than half of an earlier one would
        leave a gap without a save; saves of one server and size vary far less than that."""
        try:
            with RespClient(server.port, timeout=60) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    if client.call("BGSAVE") in ("Background saving started", "OK"):
                        counts["saves"] += 1
                        counts["lastStarted"] = started
                    shortest = self.shortest_save.get(server.name)
                    if shortest is not None and stop.wait(shortest / 2):
                        break
                    while not stop.is_set():
                        counts["polls"] = counts.get("polls", 0) + 1
                        info = parse_info(client.call("INFO", "persistence"))
                        if info.get("rdb_bgsave_in_progress") == "0":
                            break
                        time.sleep(0.01)
                    else:
                        break
                    took = time.monotonic() - started
                    self.shortest_save[server.name] = min(took, self.shortest_save.get(server.name, took))
        except (OSError, BenchError) as error:
            counts["error"] = str(error)

    def wait_for_bgsave(self, server: "Server", timeout: float = 600) -> None:
        """Waits until `server` runs no background save."""
        deadline = time.monotonic() + timeout
        with RespClient(server.port, timeout=60) as client:
            while parse_info(client.call("INFO", "persistence")).get("rdb_bgsave_in_progress") != "0":
                if time.monotonic() > deadline:
                    raise BenchError(f"{server.name} still saving {timeout:g} s after the BGSAVE loop stopped")
                time.sleep(0.01)

    def run_snapshot_round(self, round_index: int) -> dict[str, Any]:
        """SAVE time and file size, start-up load time, and GET p99 with and without a BGSAVE running."""
        order = self.round_order(round_index, "snapshot round")
        record: dict[str, Any] = {"round": round_index + 1, "order": order, "servers": {}}
        try:
            self.start_servers(round_index, base=self.durability_base())
            for name in order:
                self.load(self.servers[name])
            for name in order:
                server = self.servers[name]
                result: dict[str, Any] = {}
                with RespClient(server.port, timeout=900) as client:
                    started = time.monotonic()
                    reply = client.call("SAVE")
                    result["saveSeconds"] = time.monotonic() - started
                if reply != "OK":
                    raise BenchError(f"SAVE on {server.name} answered {reply!r}")
                workdir = Path(server.argv[server.argv.index("--dir") + 1])
                files = [f for f in workdir.iterdir() if f.suffix in (".rdb", ".nsnap")]
                result["fileBytes"] = sum(f.stat().st_size for f in files)
                server.stop()
                restarted = Server(name, server.argv, server.port, server.log_path, server.cpus)
                started = time.monotonic()
                restarted.start(timeout=900, poll=0.01)
                result["startupSeconds"] = time.monotonic() - started
                self.servers[name] = restarted
                if restarted.call("DBSIZE") != self.options.keys:
                    raise BenchError(f"{name} restarted from its snapshot without its {self.options.keys} keys")
                # p99 without and while BGSAVE runs back to back, for each mix, in pairs of short windows (one
                # without, one with saves; which comes first alternates by pair and round), pooled per phase.
                for mix in SNAPSHOT_MIXES:
                    windows = []
                    for pair in range(self.options.snapshot_pairs):
                        for during in snapshot_phases(round_index, pair):
                            windows.append({"pair": pair, **self.snapshot_latency(restarted, mix, during)})
                    result.update(pool_snapshot_windows(mix, windows, STEAL_EXCLUDE_PERCENT))
                    self.snapshot_warnings(name, mix, result)
                pauses = re.findall(r"longest-pause-us=(\d+)", restarted.log_path.read_text(errors="replace"))
                if pauses:
                    result["longestPauseMs"] = max(int(p) for p in pauses) / 1000
                record["servers"][name] = result
                log(
                    f"  snapshot {name:<8} SAVE {result['saveSeconds']:.2f} s ({result['fileBytes'] / 2**20:.1f} MiB), "
                    f"start-up {result['startupSeconds']:.2f} s, p99 without / during BGSAVE, pooled: " + ", ".join(
                        f"{mix} {snapshot_pooled_text(result, mix)} ({result[f'{mix}Bgsaves']} BGSAVEs, steal "
                        f"{steal_text(result, mix)})" for mix in SNAPSHOT_MIXES
                    ) + f", load average {os.getloadavg()[0]:.1f}"
                )
        finally:
            self.stop_servers()
        return record

    def snapshot_latency(self, server: Server, mix: str, during: bool) -> dict[str, Any]:
        """One window of open-loop latency of `mix` (neptune-benchmark at --snapshot-rate requests/s for
        --snapshot-seconds), with BGSAVE started again and again meanwhile if `during`: the window's p99, throughput,
        steal time, BGSAVEs started and latency histogram (`[microseconds, count]` buckets, for pooling)."""
        options = self.options
        commands = ["--command", "GET __key__"] if mix == "GET" else [
            "--command", "SET __key__ __data__", "--command", "GET __key__", "--ratio", "1:10"]
        argv = self.neptune_benchmark(server.port, [
            *commands, "--connections", str(options.clients), "--rate", str(options.snapshot_rate),
            "--duration", str(options.snapshot_seconds), "--seed", str(options.seed),
        ])
        stop, counts = threading.Event(), {"saves": 0}
        saver = threading.Thread(target=self.bgsave_loop, args=(server, stop, counts)) if during else None
        if saver:
            saver.start()
        try:
            server.ensure_running()
            ticks = cpu_ticks()
            stdout, _, _ = self.run_client(argv, timeout=600)
            steal = steal_percent(ticks, cpu_ticks())
            server.ensure_running()
        finally:
            stop.set()
            if saver:
                saver.join(timeout=600)
        if "error" in counts:
            raise BenchError(f"BGSAVE loop on {server.name}: {counts['error']}")
        if saver:
            # The BGSAVE loop stops without waiting for the save it started last; the next window (one without a
            # save) must not begin while that save still runs.
            self.wait_for_bgsave(server)
            if "lastStarted" in counts:
                # The last save, cut off by the window's end, ended now: it counts for the polling too (a save longer
                # than a window would otherwise never be measured).
                took = time.monotonic() - counts["lastStarted"]
                self.shortest_save[server.name] = min(took, self.shortest_save.get(server.name, took))
        report = json.loads(stdout)
        if report.get("errors"):
            self.failed = True
            self.warnings.append(f"{server.name} {mix} with snapshots: {report['errors']} error replies")
        if "histogramMicroseconds" not in report:
            raise BenchError("neptune-benchmark printed no histogramMicroseconds: rebuild it (the snapshot windows "
                             "are pooled from their histograms)")
        return {"during": during, "p99Ms": report["latencyMs"]["p99"], "opsPerSecond": report["opsPerSecond"],
                "stealPercent": steal, "bgsaves": counts["saves"] if during else 0, "infoPolls": counts.get("polls", 0),
                "histogram": report["histogramMicroseconds"]}

    def snapshot_warnings(self, name: str, mix: str, result: dict[str, Any]) -> None:
        """Warns about the windows of `mix` on server `name` with more steal time than STEAL_WARNING_PERCENT, and
        about the pairs the pooled figures leave out."""
        windows = result[f"{mix}Windows"]
        stolen = [w for w in windows if w["stealPercent"] is not None and w["stealPercent"] > STEAL_WARNING_PERCENT]
        if stolen:
            self.warnings.append(
                f"{name} {mix} snapshot windows: the hypervisor stole more than {STEAL_WARNING_PERCENT:g}% of the CPU "
                f"time in {len(stolen)} of {len(windows)} windows (up to "
                f"{max(w['stealPercent'] for w in stolen):.1f}%), which inflates their p99"
            )
        excluded = result[f"{mix}PairsExcluded"]
        if excluded:
            self.warnings.append(
                f"{name} {mix}: {excluded} of {excluded + result[f'{mix}PairsIncluded']} pairs of snapshot windows "
                f"left out of the pooled p99 (steal above {STEAL_EXCLUDE_PERCENT:g}% in one of their windows)"
            )

    def run_embedded(self) -> Optional[dict[str, Any]]:
        binary = self.binaries.get(EMBEDDED_PRODUCT)
        if binary is None or self.options.no_embedded:
            return None
        argv = [str(binary), "--json"]
        if self.options.quick:
            argv.append("--quick")
        else:
            argv += ["--keys", str(min(self.options.keys, 1_000_000))]
        log("embedded API: " + " ".join([EMBEDDED_PRODUCT, *argv[1:]]))
        stdout, _, _ = self.run_client(argv, timeout=3600)
        report = json.loads(stdout)
        if report.get("failures"):
            self.failed = True
            self.warnings.append("embedded benchmark failures: " + "; ".join(report["failures"]))
        return report

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        for name in SERVERS:
            (self.out / f"{name}-server.log").write_text("")
        load_before = os.getloadavg()
        started = datetime.datetime.now(datetime.timezone.utc)
        self.build()
        machine = machine_info(self.binaries)
        machine["loadAverageAtStart"] = [round(value, 2) for value in load_before]
        if load_before[0] > (os.cpu_count() or 1):
            self.warnings.append(
                f"the 1-minute load average was {load_before[0]:.1f} on {os.cpu_count()} CPUs at the start: "
                "other work shares the machine, so absolute numbers are low and noisy (ratios suffer less)"
            )
        if not self.options.no_main:
            for round_index in range(self.options.rounds):
                self.rounds.append(self.run_round(round_index))
        durability_rounds = []
        snapshot_rounds = []
        if not self.options.no_durability:
            for round_index in range(self.options.rounds):
                durability_rounds.append(self.run_durability_round(round_index))
        if not self.options.no_snapshot:
            for round_index in range(self.options.rounds):
                snapshot_rounds.append(self.run_snapshot_round(round_index))
        embedded = self.run_embedded()
        machine["loadAverageAtEnd"] = [round(value, 2) for value in os.getloadavg()]
        summary = summarize(self.rounds)
        results = {
            "tool": "benchmarks/run.py",
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine,
            "settings": settings_of(self.options),
            "rounds": self.rounds,
            "medians": summary["medians"],
            "ratios": summary["ratios"],
            "durability": summarize_durability(durability_rounds) if durability_rounds else None,
            "snapshots": summarize_snapshots(snapshot_rounds) if snapshot_rounds else None,
            "embedded": embedded,
            "warnings": self.warnings,
        }
        (self.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
        (self.out / "results.svg").write_text(render_svg(results))
        markdown = render_markdown(results)
        (self.out / "results.md").write_text(markdown)
        print(markdown)
        if self.options.update_readme or (not self.options.quick and not self.options.no_readme):
            README.write_text(replace_marked_section(README.read_text(), markdown))
            log(f"updated the results section of {README.relative_to(ROOT)}")
        log(f"wrote {self.out / 'results.json'}, results.svg and results.md")
        for warning in self.warnings:
            log("warning: " + warning)
        return 1 if self.failed else 0


def hash_command(fields: int) -> str:
    """The neptune-benchmark template of the small-hash load: `HSET __key__ f1 __data__ f2 __data__ ...`."""
    return "HSET __key__ " + " ".join(f"f{i} __data__" for i in range(1, fields + 1))


def workload_key(client: str, command: str, pipeline: int) -> str:
    return f"{client} {command} P{pipeline}"


def settings_of(options: argparse.Namespace) -> dict[str, Any]:
    return {
        "quick": options.quick,
        "rounds": options.rounds,
        "keys": options.keys,
        "valueBytes": VALUE_BYTES,
        "clients": options.clients,
        "requestsPipeline1": options.requests,
        "requestsPipeline16": options.requests * options.pipeline_factor,
        "redisBenchmarkRandomKeys": REDIS_BENCHMARK_RANDOM_KEYS,
        "neptuneThreads": options.neptune_threads or "default (one event loop per two cores)",
        "pinServer": options.pin_server or "none",
        "pinClient": options.pin_client or "none",
        "serverFlags": "--bind 127.0.0.1 --save '' --appendonly no --maxmemory 0",
        "durability": None if options.no_durability else {
            "serverFlags": "--appendonly yes --appendfsync always|everysec (otherwise as above)",
            "clients": list(DURABILITY_CLIENTS),
            "requests": {f"{mode} c{clients}": durability_requests(mode, clients, options.durability_scale)
                         for mode in FSYNC_MODES for clients in DURABILITY_CLIENTS},
        },
        "seed": options.seed,
        "snapshotRate": options.snapshot_rate,
        "snapshotSeconds": options.snapshot_seconds,
        "snapshotPairs": options.snapshot_pairs,
        "snapshotStealExcludePercent": STEAL_EXCLUDE_PERCENT,
    }


def machine_info(binaries: dict[str, Path]) -> dict[str, Any]:
    def first_line(argv: list[str]) -> Optional[str]:
        try:
            output = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30,
                                    cwd=ROOT).stdout
            return output.strip().splitlines()[0] if output.strip() else None
        except (OSError, subprocess.TimeoutExpired):
            return None

    model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = None
    try:
        match = re.search(r"^MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text(), re.MULTILINE)
        memory = int(match.group(1)) * 1024 if match else None
    except OSError:
        pass
    distribution = None
    try:
        match = re.search(r'^PRETTY_NAME="?([^"\n]*)', Path("/etc/os-release").read_text(), re.MULTILINE)
        distribution = match.group(1) if match else None
    except OSError:
        pass
    commit = first_line(["git", "rev-parse", "--short=12", "HEAD"])
    dirty = bool(first_line(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {
        "nproc": os.cpu_count(),
        "cpusAvailable": len(os.sched_getaffinity(0)),
        "modelName": model,
        "kernel": platform.release(),
        "distribution": distribution,
        "memoryBytes": memory,
        "swift": first_line(["swift", "--version"]),
        "redisServer": first_line([str(binaries["redis-server"]), "--version"]),
        "neptuneServer": first_line([str(binaries["neptune-server"]), "--version"]),
        "python": platform.python_version(),
        "commit": (commit or "unknown") + ("-dirty" if dirty else ""),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Summaries


#: Metrics of a summary table: (key in the results, label, unit for fmt, "higher" or "lower" is better).
Metrics = tuple[tuple[str, str, str, str], ...]

WORKLOAD_METRICS: Metrics = (
    # key, label, unit, better
    ("opsPerSecond", "throughput", "ops/s", "higher"),
    ("p50Ms", "p50 latency", "ms", "lower"),
    ("p99Ms", "p99 latency", "ms", "lower"),
    ("serverCpuMicrosecondsPerRequest", "server CPU per request", "us", "lower"),
    ("clientCpuMicrosecondsPerRequest", "client CPU per request", "us", "lower"),
)
LOAD_METRICS: Metrics = (
    ("seconds", "load time", "s", "lower"),
    ("rssAfterBytes", "RSS after load", "bytes", "lower"),
    ("rssBytesPerKey", "RSS growth per key", "bytes", "lower"),
    ("usedMemoryAfterBytes", "INFO used_memory after load", "bytes", "lower"),
    ("hashRssBytesPerKey", "RSS growth per small hash (5 fields)", "bytes", "lower"),
    ("hashUsedMemoryBytesPerKey", "used_memory growth per small hash", "bytes", "lower"),
)


def metric_medians(samples: list[dict[str, Any]], metrics: Metrics) -> dict[str, Any]:
    """The median of each metric over samples (None where no sample has it)."""
    return {metric: median([sample.get(metric) for sample in samples]) for metric, *_ in metrics}


def metric_ratios(per_server: dict[str, dict[str, Any]], metrics: Metrics) -> dict[str, Any]:
    """Neptune / Redis of each metric, from medians keyed by server name."""
    return {metric: ratio(per_server["neptune"][metric], per_server["redis"][metric]) for metric, *_ in metrics}


def summarize_workloads(rounds: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Medians of WORKLOAD_METRICS per workload and server over the rounds' "workloads", and their ratios."""
    medians: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for key in (list(rounds[0]["workloads"]) if rounds else []):
        medians[key] = {
            name: metric_medians([r["workloads"][key][name] for r in rounds if name in r["workloads"].get(key, {})],
                                 WORKLOAD_METRICS)
            for name in SERVERS
        }
        ratios[key] = metric_ratios(medians[key], WORKLOAD_METRICS)
    return medians, ratios


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    workload_medians, workload_ratios = summarize_workloads(rounds)
    load_medians = {
        name: metric_medians([r["load"][name] for r in rounds if name in r["load"]], LOAD_METRICS) for name in SERVERS
    }
    ratios: dict[str, Any] = {
        "workloads": workload_ratios,
        "load": metric_ratios(load_medians, LOAD_METRICS) if rounds else {},
        "better": {metric: better for metric, _, _, better in WORKLOAD_METRICS + LOAD_METRICS},
        "definition": "neptune median / redis median",
    }
    return {"medians": {"workloads": workload_medians, "load": load_medians}, "ratios": ratios}


def summarize_durability(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per durability workload and server, and Neptune / Redis ratios (the rounds are kept too)."""
    medians, ratios = summarize_workloads(rounds)
    return {"rounds": rounds, "medians": medians, "ratios": ratios, "definition": "neptune median / redis median"}


SNAPSHOT_METRICS: Metrics = (
    # key, label, unit, better
    ("saveSeconds", "SAVE time", "s", "lower"),
    ("fileBytes", "snapshot file size", "bytes", "lower"),
    ("startupSeconds", "start-up load time (until PING answers)", "s", "lower"),
    ("GETP99MsWithout", "GET p99 without a save", "ms", "lower"),
    ("GETP99MsDuring", "GET p99 while BGSAVE runs", "ms", "lower"),
    ("GETP99DuringOverWithout", "GET: p99 during BGSAVE / p99 without (goal ≤ 1.5)", "ratio", "lower"),
    ("SET:GETP99MsWithout", "SET:GET 1:10 p99 without a save", "ms", "lower"),
    ("SET:GETP99MsDuring", "SET:GET 1:10 p99 while BGSAVE runs", "ms", "lower"),
    ("SET:GETP99DuringOverWithout", "SET:GET: p99 during BGSAVE / p99 without (goal ≤ 1.5)", "ratio", "lower"),
    ("longestPauseMs", "longest shard lock hold by a snapshot (Neptune's log)", "ms", "lower"),
)
# The workloads whose p99 is measured with and without a snapshot running.
SNAPSHOT_MIXES = ("GET", "SET:GET")
# Above this share of stolen CPU time during a p99 run, the run is flagged in the warnings.
STEAL_WARNING_PERCENT = 2.0
# A pair of snapshot windows (without / during saves) with more stolen CPU time than this in either window is left
# out of the pooled p99 of both phases, for both servers alike, and counted.
STEAL_EXCLUDE_PERCENT = 5.0


def steal_text(result: dict[str, Any], mix: str) -> str:
    """`mix`'s steal time without / during saves, for the log."""
    values = [result.get(f"{mix}StealPercent{suffix}") for suffix in ("Without", "During")]
    return " / ".join("n/a" if value is None else f"{value:.1f}%" for value in values)


def snapshot_pooled_text(result: dict[str, Any], mix: str) -> str:
    """`mix`'s pooled p99 without / during saves and their ratio, for the log."""
    without, during = result[f"{mix}P99MsWithout"], result[f"{mix}P99MsDuring"]
    if without is None or during is None:
        return f"no pair under {STEAL_EXCLUDE_PERCENT:g}% steal"
    return f"{without:.3f} / {during:.3f} ms = {result[f'{mix}P99DuringOverWithout']:.2f}"


def snapshot_phases(round_index: int, pair: int) -> tuple[bool, bool]:
    """The order of a pair's two windows (False: without saves, True: during saves): it alternates from pair to pair
    and from round to round, so neither phase always runs first or right after a save."""
    return (False, True) if (round_index + pair) % 2 == 0 else (True, False)


def merge_histograms(histograms: list[list[list[int]]]) -> list[list[int]]:
    """Adds `[microseconds, count]` bucket lists (neptune-benchmark's histogramMicroseconds) into one, in increasing
    order: exactly the histogram of all their latencies, since the buckets of equal precision line up."""
    counts: dict[int, int] = {}
    for histogram in histograms:
        for value, count in histogram:
            counts[value] = counts.get(value, 0) + count
    return [[value, counts[value]] for value in sorted(counts)]


def histogram_percentile_ms(histogram: list[list[int]], percentile: float) -> Optional[float]:
    """The latency in ms that `percentile`% of a bucket list's requests did not exceed (as HdrHistogram's
    valueAtPercentile: the first bucket whose running count reaches ceil(percentile% of the total)); None if empty."""
    total = sum(count for _, count in histogram)
    if total == 0:
        return None
    target = max(1, math.ceil(percentile * total / 100 - 1e-9))
    running = 0
    for value, count in histogram:
        running += count
        if running >= target:
            return value / 1000
    return histogram[-1][0] / 1000


def pool_snapshot_windows(mix: str, windows: list[dict[str, Any]], steal_limit: float) -> dict[str, Any]:
    """One server's snapshot figures for `mix` from its windows (dicts with pair, during, p99Ms, opsPerSecond,
    stealPercent, bgsaves, histogram): the p99 of each phase over the histograms of all its windows in the pairs
    kept, and their ratio. A pair is left out (and counted) when the steal time of either of its windows is above
    `steal_limit` percent, whatever its p99; the ratio over all pairs is kept too. Also each kept pair's own ratio,
    the median steal time of each phase's windows and the windows themselves without their histograms."""
    pairs: dict[int, dict[bool, dict[str, Any]]] = {}
    for window in windows:
        pairs.setdefault(window["pair"], {})[window["during"]] = window
    complete = [pair for _, pair in sorted(pairs.items()) if False in pair and True in pair]

    def stolen(window: dict[str, Any]) -> bool:
        return window["stealPercent"] is not None and window["stealPercent"] > steal_limit

    kept = [pair for pair in complete if not stolen(pair[False]) and not stolen(pair[True])]

    def pooled(chosen: list[dict[bool, dict[str, Any]]], during: bool) -> Optional[float]:
        return histogram_percentile_ms(merge_histograms([pair[during]["histogram"] for pair in chosen]), 99)

    result: dict[str, Any] = {}
    for during, suffix in ((False, "Without"), (True, "During")):
        result[f"{mix}P99Ms{suffix}"] = pooled(kept, during)
        result[f"{mix}OpsPerSecond{suffix}"] = median([w["opsPerSecond"] for w in windows if w["during"] == during])
        result[f"{mix}StealPercent{suffix}"] = median([w["stealPercent"] for w in windows if w["during"] == during])
    result[f"{mix}P99DuringOverWithout"] = ratio(result[f"{mix}P99MsDuring"], result[f"{mix}P99MsWithout"])
    result[f"{mix}P99DuringOverWithoutAllPairs"] = ratio(pooled(complete, True), pooled(complete, False))
    result[f"{mix}PairRatios"] = [ratio(pair[True]["p99Ms"], pair[False]["p99Ms"]) for pair in kept]
    result[f"{mix}PairsIncluded"] = len(kept)
    result[f"{mix}PairsExcluded"] = len(complete) - len(kept)
    result[f"{mix}Bgsaves"] = sum(w["bgsaves"] for w in windows if w["during"])
    result[f"{mix}Windows"] = [{k: v for k, v in w.items() if k != "histogram"} for w in windows]
    return result


def snapshot_pair_spread(rounds: list[dict[str, Any]]) -> list[str]:
    """"server mix min-median-max (kept of all pairs)" of the per-pair ratios over all rounds, per server and mix."""
    parts = []
    for name in SERVERS:
        for mix in SNAPSHOT_MIXES:
            results = [r["servers"][name] for r in rounds if name in r["servers"]]
            ratios = sorted(x for res in results for x in res.get(f"{mix}PairRatios", []) if x is not None)
            kept = sum(res.get(f"{mix}PairsIncluded", 0) for res in results)
            total = kept + sum(res.get(f"{mix}PairsExcluded", 0) for res in results)
            if total == 0:
                continue
            spread = (f"{ratios[0]:.2f}-{statistics.median(ratios):.2f}-{ratios[-1]:.2f}" if ratios
                      else "none kept")
            parts.append(f"{name} {mix} {spread} ({kept} of {total} pairs)")
    return parts


def snapshot_steal_medians(rounds: list[dict[str, Any]]) -> list[str]:
    """"server mix x% / y%" per server and mix, from the rounds' steal time; empty where none was measured."""
    parts = []
    for name in SERVERS:
        for mix in SNAPSHOT_MIXES:
            values = [
                median([r["servers"][name].get(f"{mix}StealPercent{suffix}") for r in rounds if name in r["servers"]])
                for suffix in ("Without", "During")
            ]
            if all(value is not None for value in values):
                parts.append(f"{name} {mix} {values[0]:.1f}% / {values[1]:.1f}%")
    return parts


def summarize_snapshots(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per snapshot metric and server, and Neptune / Redis ratios."""
    medians = {
        name: metric_medians([r["servers"][name] for r in rounds if name in r["servers"]], SNAPSHOT_METRICS)
        for name in SERVERS
    }
    ratios = metric_ratios(medians, SNAPSHOT_METRICS)
    return {"rounds": rounds, "medians": medians, "ratios": ratios, "definition": "neptune median / redis median"}


def fmt(value: Optional[float], kind: str) -> str:
    if value is None:
        return "n/a"
    if kind == "ops/s":
        return f"{value:,.0f}"
    if kind == "ms":
        return f"{value:.3f}"
    if kind == "us":
        return f"{value:.2f}"
    if kind == "bytes":
        return f"{value / 2**20:,.1f} MiB" if value >= 2**20 else f"{value:,.0f} B"
    if kind == "s":
        return f"{value:.2f}"
    if kind == "ratio":
        return f"{value:.2f}"
    return f"{value}"


def short_version(line: Optional[str]) -> str:
    """`Redis server v=7.0.15 sha=... malloc=jemalloc-5.3.0 ...` -> `Redis 7.0.15 (jemalloc-5.3.0)`."""
    if not line:
        return "unknown version"
    match = re.search(r"v=(\S+).*malloc=(\S+)", line)
    if line.startswith("Redis server") and match:
        return f"Redis {match.group(1)} ({match.group(2)})"
    return line


def throughput_latency_cells(n: dict[str, Any], r: dict[str, Any], q: dict[str, Any]) -> str:
    """`| Neptune ops/s | Redis ops/s | **ratio** | Neptune p50 / p99 | Redis p50 / p99 |` of one workload row."""
    return (
        f"| {fmt(n['opsPerSecond'], 'ops/s')} | {fmt(r['opsPerSecond'], 'ops/s')} | "
        f"**{fmt(q['opsPerSecond'], 'ratio')}** | {fmt(n['p50Ms'], 'ms')} / {fmt(n['p99Ms'], 'ms')} | "
        f"{fmt(r['p50Ms'], 'ms')} / {fmt(r['p99Ms'], 'ms')} |"
    )


def measure_table(metrics: Metrics, neptune: dict[str, Any], redis: dict[str, Any],
                  ratios: dict[str, Any]) -> list[str]:
    """A table of one `| label | Neptune | Redis | **ratio** |` row per metric (all lower-is-better)."""
    return ["| measure | Neptune | Redis | ratio (lower is better) |", "|---|---:|---:|---:|"] + [
        f"| {label} | {fmt(neptune[metric], unit)} | {fmt(redis[metric], unit)} | "
        f"**{fmt(ratios.get(metric), 'ratio')}** |"
        for metric, label, unit, _ in metrics
    ]


def render_markdown(results: dict[str, Any]) -> str:
    machine, settings = results["machine"], results["settings"]
    medians, ratios = results["medians"], results["ratios"]
    lines = [
        f"Run of {results['started']} (commit {machine['commit']}): {machine['modelName']}, "
        f"{machine['nproc']} CPUs, Linux {machine['kernel']}; {short_version(machine['redisServer'])}; "
        f"{short_version(machine['neptuneServer'])}.",
        f"{settings['rounds']} rounds{' (--quick)' if settings['quick'] else ''}, {settings['keys']:,} keys of "
        f"{settings['valueBytes']}-byte values, {settings['clients']} clients, "
        f"{settings['requestsPipeline1']:,} requests at pipeline 1 and {settings['requestsPipeline16']:,} at "
        f"pipeline 16; Neptune threads: {settings['neptuneThreads']}; pinning: server {settings['pinServer']}, "
        f"client {settings['pinClient']}. Load average at start {machine.get('loadAverageAtStart')}, "
        f"at end {machine.get('loadAverageAtEnd')}.",
        "",
        "Medians over the rounds. Ratio = Neptune / Redis: for throughput higher is better (above 1: Neptune is "
        "faster); for latency, CPU per request, load time and memory lower is better (below 1: Neptune is better).",
        "",
    ]
    if results["rounds"]:
        lines += [
            "| workload | Neptune ops/s | Redis ops/s | ratio (higher is better) | Neptune p50 / p99 ms | "
            "Redis p50 / p99 ms | p99 ratio (lower is better) |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key, per_server in medians["workloads"].items():
            n, r, q = per_server["neptune"], per_server["redis"], ratios["workloads"][key]
            lines.append(f"| {key} {throughput_latency_cells(n, r, q)} **{fmt(q['p99Ms'], 'ratio')}** |")
        lines += [
            "",
            "Server CPU time per request (from /proc/<pid>/stat utime + stime; lower is better) and the client's:",
            "",
            "| workload | Neptune server us/req | Redis server us/req | ratio (lower is better) | "
            "client us/req with Neptune / Redis |",
            "|---|---:|---:|---:|---:|",
        ]
        for key, per_server in medians["workloads"].items():
            n, r, q = per_server["neptune"], per_server["redis"], ratios["workloads"][key]
            metric = "serverCpuMicrosecondsPerRequest"
            lines.append(
                f"| {key} | {fmt(n[metric], 'us')} | {fmt(r[metric], 'us')} | **{fmt(q[metric], 'ratio')}** | "
                f"{fmt(n['clientCpuMicrosecondsPerRequest'], 'us')} / {fmt(r['clientCpuMicrosecondsPerRequest'], 'us')} |"
            )
        lines += [
            "",
            f"Loading {settings['keys']:,} keys (`key:%08d`, {settings['valueBytes']}-byte values; neptune-benchmark "
            f"--load, 50 connections, pipeline 16), then memory (lower is better); after the workloads, {HASH_KEYS:,} "
            f"hashes of {HASH_FIELDS} fields (`HSET hash:%08d f1 v ... f{HASH_FIELDS} v`, Redis's listpack encoding):",
            "",
        ]
        lines += measure_table(LOAD_METRICS, medians["load"]["neptune"], medians["load"]["redis"], ratios["load"])
    durability = results.get("durability")
    if durability:
        lines += [
            "",
            "Durability: SET with `--appendonly yes` and each `appendfsync` mode, journals on the real disk, at 1 and "
            "50 clients (pipeline 1). Under `always` a reply leaves only after an fsync covering it: Redis fsyncs "
            "once per event-loop iteration, Neptune's journal thread shares one fsync among all the clients waiting "
            "(group commit). Ratio = Neptune / Redis, higher is better:",
            "",
            "| workload | Neptune ops/s | Redis ops/s | ratio (higher is better) | Neptune p50 / p99 ms | "
            "Redis p50 / p99 ms | server us/req Neptune / Redis |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key, per_server in durability["medians"].items():
            n, r, q = per_server["neptune"], per_server["redis"], durability["ratios"][key]
            cpu = "serverCpuMicrosecondsPerRequest"
            lines.append(f"| {key} {throughput_latency_cells(n, r, q)} {fmt(n[cpu], 'us')} / {fmt(r[cpu], 'us')} |")
    snapshots = results.get("snapshots")
    if snapshots:
        lines += [
            "",
            f"Snapshots, {settings['keys']:,} keys loaded as above (`--appendonly no`, files on the real disk): `SAVE` "
            "time, start-up time from the snapshot (process start until `PING` answers, polled every 10 ms), and "
            f"p99 (neptune-benchmark, open loop at {settings['snapshotRate']:,} requests/s, "
            f"{settings['clients']} connections, GET and SET:GET 1:10) without a save and while BGSAVE runs back to "
            f"back, in {settings.get('snapshotPairs', 1)} pairs of {settings['snapshotSeconds']:g}-s windows per "
            "round (one without and one with saves, alternating), each phase's p99 taken over the pooled latency "
            "histograms of its windows (pairs with more than "
            f"{settings.get('snapshotStealExcludePercent', STEAL_EXCLUDE_PERCENT):g}% steal time in either window "
            "left out); each server's own ratio during / without is in its column. Lower is better; ratio = "
            "Neptune / Redis:",
            "",
        ]
        lines += measure_table(SNAPSHOT_METRICS, snapshots["medians"]["neptune"], snapshots["medians"]["redis"],
                               snapshots["ratios"])
        steal = snapshot_steal_medians(snapshots["rounds"])
        if steal:
            lines += [
                "",
                "Hypervisor steal time during the p99 runs (`/proc/stat`, median over the rounds, without / during "
                "saves): " + "; ".join(steal) + ". Time stolen from this virtual machine delays whichever process "
                "runs, so a run with more of it has a higher p99 whatever the server does.",
            ]
        spread = snapshot_pair_spread(snapshots["rounds"])
        if spread:
            lines += [
                "",
                "Ratio p99 during / without of each pair of windows, min-median-max over the rounds (pairs kept of "
                "all): " + "; ".join(spread) + ".",
            ]
    embedded = results.get("embedded")
    if embedded:
        config = embedded["configuration"]
        lines += [
            "",
            f"Embedded API (`NeptuneStore`) against `Dictionary<[UInt8], [UInt8]>` in a `Mutex`, in one process: "
            f"{config['keys']:,} keys, {config['operations']:,} operations per thread, median of "
            f"{config['repetitions']} repetitions; ns/op is wall time over all threads' operations (lower is "
            "better). Two baselines, the same dictionary driven two ways: *own keys* looks keys up with copies "
            "(arrays of their own) and gives every key and every SET a value array of its own; *same key arrays* "
            "looks keys up with the very arrays it stores (`Array.==` returns on storage identity without reading "
            "the bytes) and shares one value array among all keys, as the first performance pass measured:",
            "",
            "| workload | threads | Neptune ns/op | dictionary, own keys ns/op | ratio | "
            "dictionary, same key arrays ns/op | ratio |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in embedded["results"]:
            same = row.get("dictionarySameArrays")
            same_cells = (
                f"{same['median']:.1f} | **{row['ratioSameArrays']:.2f}**" if same and same.get("median") else "- | -"
            )
            lines.append(
                f"| {row['workload']} | {row['threads']} | {row['neptune']['median']:.1f} | "
                f"{row['dictionary']['median']:.1f} | **{row['ratio']:.2f}** | {same_cells} |"
            )
    if results.get("warnings"):
        lines += ["", "Warnings:", ""] + [f"- {warning}" for warning in results["warnings"]]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------------
# SVG


COLORS = {"neptune": "#1f6fb4", "redis": "#d1495b"}
LABELS = {"neptune": "Neptune", "redis": "Redis 7"}


def median_round_sample(rounds: list[dict[str, Any]], key: str, name: str) -> Optional[dict[str, Any]]:
    """The sample whose throughput is the median one (the lower middle for an even count)."""
    samples = [r["workloads"][key][name] for r in rounds if name in r["workloads"].get(key, {})]
    if not samples:
        return None
    samples.sort(key=lambda sample: sample["opsPerSecond"])
    return samples[(len(samples) - 1) // 2]


def render_svg(results: dict[str, Any]) -> str:
    width = 1100
    parts: list[str] = []

    def text(x: float, y: float, content: str, size: int = 12, anchor: str = "middle", weight: str = "normal",
             color: str = "#222", rotate: Optional[float] = None) -> None:
        transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        parts.append(
            f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{color}"{transform}>{escape(content)}</text>'
        )

    def line(x1: float, y1: float, x2: float, y2: float, color: str = "#222", width_: float = 1,
             dash: Optional[str] = None) -> None:
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{color}" '
            f'stroke-width="{width_}"{dashes}/>'
        )

    machine, settings = results["machine"], results["settings"]
    text(width / 2, 28, "Neptune vs Redis: same workloads, same machine", size=20, weight="bold")
    text(
        width / 2, 50,
        f"{machine['modelName']}, {machine['nproc']} CPUs, Linux {machine['kernel']}; {settings['rounds']} rounds, "
        f"{settings['keys']:,} keys, {settings['clients']} clients, Neptune threads "
        f"{settings['neptuneThreads'] if isinstance(settings['neptuneThreads'], int) else 'default'}; "
        f"commit {machine['commit']}",
        size=12, color="#555",
    )

    # Panel 1: throughput bars with min-max whiskers over the rounds.
    medians = results["medians"]["workloads"]
    keys = list(medians)
    left, top, plot_w, plot_h = 90, 110, width - 130, 300
    text(left + plot_w / 2, top - 22, "Throughput, median of the rounds (higher is better; whiskers: min-max)",
         size=15, weight="bold")
    maximum = 0.0
    for key in keys:
        for name in SERVERS:
            for r in results["rounds"]:
                sample = r["workloads"].get(key, {}).get(name)
                if sample:
                    maximum = max(maximum, sample["opsPerSecond"])
    ceiling, step = nice_axis(maximum * 1.08)
    ticks = round(ceiling / step)
    for i in range(ticks + 1):
        value = step * i
        y = top + plot_h - plot_h * i / ticks
        line(left, y, left + plot_w, y, color="#e3e3e3")
        text(left - 8, y + 4, format_si(value), anchor="end", size=11)
    line(left, top, left, top + plot_h)
    line(left, top + plot_h, left + plot_w, top + plot_h)
    text(left - 62, top + plot_h / 2, "requests per second", size=12, rotate=-90)
    group_w = plot_w / max(1, len(keys))
    bar_w = min(38.0, group_w * 0.32)
    for index, key in enumerate(keys):
        center = left + group_w * (index + 0.5)
        for offset, name in ((-1, "neptune"), (1, "redis")):
            value = medians[key][name]["opsPerSecond"] or 0
            x = center + (offset - 1) * bar_w / 2 + (2 if offset > 0 else -2)
            height = plot_h * value / ceiling
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - height:.1f}" width="{bar_w:.1f}" height="{height:.1f}" '
                f'fill="{COLORS[name]}"><title>{escape(LABELS[name])} {escape(key)}: {value:,.0f} ops/s</title>'
                "</rect>"
            )
            samples = [r["workloads"][key][name]["opsPerSecond"] for r in results["rounds"]
                       if name in r["workloads"].get(key, {})]
            label_y = top + plot_h - height - 6
            if len(samples) > 1:
                low, high = min(samples), max(samples)
                mid = x + bar_w / 2
                y_low, y_high = top + plot_h - plot_h * low / ceiling, top + plot_h - plot_h * high / ceiling
                line(mid, y_low, mid, y_high, color="#111", width_=1.2)
                line(mid - 4, y_low, mid + 4, y_low, color="#111", width_=1.2)
                line(mid - 4, y_high, mid + 4, y_high, color="#111", width_=1.2)
                label_y = min(label_y, y_high - 6)
            text(x + bar_w / 2, label_y, format_si(value), size=10, color="#333")
        ratio_value = results["ratios"]["workloads"][key]["opsPerSecond"]
        client, command, pipeline = key.split(" ")
        text(center, top + plot_h + 18, f"{command} {pipeline}", size=12, weight="bold")
        text(center, top + plot_h + 33, client, size=11, color="#555")
        if ratio_value is not None:
            text(center, top + plot_h + 49, f"N/R {ratio_value:.2f}x", size=11, color="#333")
    legend_x, legend_y = left + 12, top + 8
    for index, name in enumerate(SERVERS):
        y = legend_y + index * 20
        parts.append(f'<rect x="{legend_x}" y="{y}" width="14" height="14" fill="{COLORS[name]}"/>')
        text(legend_x + 20, y + 12, LABELS[name], anchor="start", size=12)

    # Panel 2: latency percentile curves, one small chart per neptune-benchmark workload.
    curve_keys = [key for key in keys if key.startswith("neptune-benchmark")]
    top2 = top + plot_h + 110
    text(width / 2, top2 - 30, "Latency by percentile, neptune-benchmark, median-throughput round (lower is better)",
         size=15, weight="bold")
    columns = 2
    cell_w, cell_h = (width - 60) / columns, 250
    ticks_x = [(0.0, "0%"), (90.0, "90%"), (99.0, "99%"), (99.9, "99.9%"), (99.99, "99.99%")]

    def x_of(percentile: float) -> float:
        return math.log10(1 / (1 - min(percentile, 99.99) / 100)) / 4

    for index, key in enumerate(curve_keys):
        column, row = index % columns, index // columns
        cx, cy = 30 + column * cell_w + 60, top2 + row * (cell_h + 70)
        w, h = cell_w - 90, cell_h - 40
        curves = {}
        for name in SERVERS:
            sample = median_round_sample(results["rounds"], key, name)
            points = [(p, ms) for p, ms in (sample or {}).get("percentiles", []) if p <= 99.99]
            if points:
                curves[name] = points
        client, command, pipeline = key.split(" ")
        text(cx + w / 2, cy - 8, f"{command}, pipeline {pipeline[1:]}", size=13, weight="bold")
        values = [ms for points in curves.values() for _, ms in points if ms > 0] or [1.0]
        low, high = log_axis(min(values), max(values))

        def y_of(ms: float) -> float:
            clamped = min(max(ms, low), high)
            return cy + h - h * (math.log10(clamped) - math.log10(low)) / (math.log10(high) - math.log10(low))

        for value in log_ticks(low, high):
            y = y_of(value)
            major = abs(math.log10(value) - round(math.log10(value))) < 1e-9
            line(cx, y, cx + w, y, color="#d6d6d6" if major else "#eeeeee")
            text(cx - 6, y + 4, f"{value:g}", anchor="end", size=10)
        for percentile, label in ticks_x:
            x = cx + w * x_of(percentile)
            line(x, cy, x, cy + h, color="#eeeeee")
            text(x, cy + h + 15, label, size=10)
        line(cx, cy, cx, cy + h)
        line(cx, cy + h, cx + w, cy + h)
        text(cx - 42, cy + h / 2, "latency (ms, log scale)", size=11, rotate=-90)
        text(cx + w / 2, cy + h + 31, "percentile", size=11, color="#555")
        for name, points in curves.items():
            path = " ".join(
                f"{'M' if i == 0 else 'L'}{cx + w * x_of(p):.1f},{y_of(ms):.1f}" for i, (p, ms) in enumerate(points)
            )
            parts.append(f'<path d="{path}" fill="none" stroke="{COLORS[name]}" stroke-width="2"/>')
        for i, name in enumerate(SERVERS):
            y = cy + 10 + i * 16
            line(cx + 10, y, cx + 30, y, color=COLORS[name], width_=2)
            text(cx + 35, y + 4, LABELS[name], anchor="start", size=11)

    rows = (len(curve_keys) + columns - 1) // columns
    height = top2 + rows * (cell_h + 70) - 20
    header = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>'
    )
    return header + "\n" + "\n".join(parts) + "\n</svg>\n"


# ---------------------------------------------------------------------------------------------------------------------


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark neptune-server against redis-server (and the embedded API against a Dictionary).",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smoke run of 1-2 minutes: 2 rounds, 100,000 keys, few requests, embedded --quick")
    parser.add_argument("--rounds", type=int, help="rounds; each runs every workload on both servers (default 3)")
    parser.add_argument("--keys", type=int, help="keys loaded into each server (default 1,000,000)")
    parser.add_argument("--out", default=str(BENCHMARKS / "results"), help="output folder (default benchmarks/results)")
    parser.add_argument("--requests", type=int,
                        help="requests per run at pipeline 1 (default 200,000); pipeline 16 runs send 5 times more")
    parser.add_argument("--clients", type=int, default=50, help="client connections (default 50)")
    parser.add_argument("--pin-server", metavar="CPUS", help="CPU list for both servers, such as 1 or 0-1")
    parser.add_argument("--pin-client", metavar="CPUS", help="CPU list for the benchmark clients, such as 0")
    parser.add_argument("--neptune-threads", type=int, help="neptune-server --threads (default: one per two cores)")
    parser.add_argument("--seed", type=int, default=1, help="neptune-benchmark --seed (default 1)")
    parser.add_argument("--skip-build", action="store_true", help="use the release binaries already built")
    parser.add_argument("--neptune-server", metavar="PATH", help="use this neptune-server binary")
    parser.add_argument("--neptune-benchmark", metavar="PATH", help="use this neptune-benchmark binary")
    parser.add_argument("--embedded-benchmark", metavar="PATH", help=f"use this {EMBEDDED_PRODUCT} binary")
    parser.add_argument("--no-embedded", action="store_true", help="skip the embedded API benchmark")
    parser.add_argument("--no-durability", action="store_true",
                        help="skip the appendonly yes runs (appendfsync always and everysec, 1 and 50 clients)")
    parser.add_argument("--durability-dir", metavar="DIR",
                        help="where the journals of the durability runs go (default OUT/journals; not a tmpfs)")
    parser.add_argument("--durability-scale", type=float,
                        help="multiplies the durability runs' request counts (default 1, 0.25 with --quick)")
    parser.add_argument("--no-snapshot", action="store_true",
                        help="skip the snapshot runs (SAVE time, start-up load, p99 with and without BGSAVE)")
    parser.add_argument("--snapshot-rate", type=int, default=20_000,
                        help="requests/s of the open-loop p99 runs with and without BGSAVE (default 20,000)")
    parser.add_argument("--snapshot-seconds", type=float,
                        help="seconds of each p99 window with or without BGSAVE (default 2.5, 1.5 with --quick)")
    parser.add_argument("--snapshot-pairs", type=int,
                        help="pairs of p99 windows (one without, one with BGSAVE) per server, workload and round "
                             "(default 4, 2 with --quick)")
    parser.add_argument("--only", metavar="SECTIONS",
                        help="run only these sections, comma-separated: main (the GET/SET workloads and memory), "
                             "durability, snapshot, embedded; implies --no-readme")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the results section of the README")
    parser.add_argument("--update-readme", action="store_true",
                        help="rewrite the README's results section even after --quick")
    options = parser.parse_args(argv)
    options.no_main = False
    if options.only is not None:
        sections = {"main", "durability", "snapshot", "embedded"}
        chosen = {part.strip() for part in options.only.split(",") if part.strip()}
        if not chosen or not chosen <= sections:
            parser.error(f"--only takes a comma-separated subset of {', '.join(sorted(sections))}")
        options.no_main = "main" not in chosen
        options.no_durability = options.no_durability or "durability" not in chosen
        options.no_snapshot = options.no_snapshot or "snapshot" not in chosen
        options.no_embedded = options.no_embedded or "embedded" not in chosen
        options.no_readme = True
        options.update_readme = False
    if options.rounds is None:
        options.rounds = 2 if options.quick else 3
    if options.keys is None:
        options.keys = 100_000 if options.quick else 1_000_000
    if options.requests is None:
        options.requests = 30_000 if options.quick else 200_000
    options.pipeline_factor = 5
    if options.snapshot_seconds is None:
        options.snapshot_seconds = 1.5 if options.quick else 2.5
    if options.snapshot_pairs is None:
        options.snapshot_pairs = 2 if options.quick else 4
    if options.snapshot_rate < 1 or options.snapshot_seconds <= 0 or options.snapshot_pairs < 1:
        parser.error("--snapshot-rate, --snapshot-seconds and --snapshot-pairs must be positive")
    if options.durability_scale is None:
        options.durability_scale = 0.25 if options.quick else 1.0
    if options.durability_scale <= 0:
        parser.error("--durability-scale must be positive")
    for name in ("rounds", "keys", "requests", "clients"):
        if getattr(options, name) < 1:
            parser.error(f"--{name} must be at least 1")
    for name in ("pin_server", "pin_client"):
        try:
            parse_cpu_list(getattr(options, name))
        except ValueError:
            parser.error(f"--{name.replace('_', '-')} takes a CPU list such as 0, 0,1 or 0-1")
    return options


def main(argv: list[str]) -> int:
    options = parse_arguments(argv)

    def on_signal(number: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {number}")

    signal.signal(signal.SIGTERM, on_signal)
    runner = Runner(options)
    try:
        return runner.run()
    except BenchError as error:
        log(f"run.py: error: {error}")
        return 1
    except KeyboardInterrupt:
        log("run.py: interrupted")
        return 130
    finally:
        runner.stop_servers()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
