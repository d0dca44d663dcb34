#!/usr/bin/env python3
"""Instructions per request, under callgrind, for neptune-server and redis-server: a repeatable measure of
each server's own work per request that the 2-core machine's noise does not move.

    python3 benchmarks/callgrind.py [--neptune PATH] [--redis PATH] [-n 20000] [--only neptune|redis]

Each server runs under `valgrind --tool=callgrind`; redis-benchmark loads 20,000 keys, then for SET and GET at
pipeline 1 and 16 (50 clients, -r 100000, -d 10) the counters are zeroed, the requests sent and the counters dumped;
the dump's instruction total divided by the request count is printed. Kernel work (system calls) is not counted.
Two workarounds for valgrind 3.19 are built in: the binary is copied without its DWARF 5 debug information (which
3.19 cannot read; function names stay), and a small preloaded library copies sigsuspend's mask (valgrind writes
into it, and libdispatch, which runs Swift's async main, passes a read-only one). Profiles stay in --out for
reading (function names with `swift demangle`).
"""
import os, socket, subprocess, sys, time, glob, re, signal, tempfile

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def wait_ping(port, timeout=120):
    end = time.time() + timeout
    while time.time() < end:
        r = subprocess.run(["redis-cli", "-p", str(port), "PING"], capture_output=True, text=True)
        if r.stdout.strip() == "PONG": return
        time.sleep(0.5)
    raise SystemExit("server did not answer")

def total_ir(outfile):
    # sum the "summary:" / "totals:" line
    with open(outfile) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    return None

def measure(kind, binary, n, pipelines, outdir):
    port = free_port()
    d = tempfile.mkdtemp(prefix="cg-")
    out = os.path.join(outdir, f"{kind}.cg.%p")
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"]
    if kind == "redis":
        cmd += [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d]
    else:
        cmd += [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", d]
        cmd += os.environ.get("NEPTUNE_ARGS", "").split()
    env = dict(os.environ, LD_PRELOAD=SHIM) if kind == "neptune" else None
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(outdir, f"{kind}.log"), "w"))
    results = {}
    try:
        wait_ping(port)
        # populate keys used by GET
        subprocess.run(["redis-benchmark", "-p", str(port), "-t", "set", "-n", "20000", "-c", "50", "-P", "16",
                        "-r", "100000", "-d", "10", "-q"], capture_output=True)
        for p in pipelines:
            for test in ["set", "get"]:
                subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True)
                subprocess.run(["redis-benchmark", "-p", str(port), "-t", test, "-n", str(n), "-c", "50", "-P", str(p),
                                "-r", "100000", "-d", "10", "-q"], capture_output=True)
                before = set(glob.glob(os.path.join(outdir, f"{kind}.cg.{proc.pid}*")))
                subprocess.run(["callgrind_control", "-d", f"{test}-P{p}", str(proc.pid)], capture_output=True)
                time.sleep(0.5)
                after = set(glob.glob(os.path.join(outdir, f"{kind}.cg.{proc.pid}*")))
                new = sorted(after - before, key=os.path.getmtime)
                ir = sum(total_ir(f) or 0 for f in new)
                results[f"{test.upper()} P{p}"] = (ir / n, new)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return results

SHIM_SOURCE = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy = *mask;
    return (int)syscall(SYS_rt_sigsuspend, &copy, 8);
}
"""
SHIM = ""


def prepare(out, neptune):
    """Builds the sigsuspend shim and a copy of neptune-server without debug information in `out`."""
    global SHIM
    source = os.path.join(out, "sigsuspend_shim.c")
    with open(source, "w") as f:
        f.write(SHIM_SOURCE)
    SHIM = os.path.join(out, "sigsuspend_shim.so")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", SHIM, source], check=True)
    stripped = os.path.join(out, "neptune-server.nodebug")
    subprocess.run(["objcopy", "--strip-debug", neptune, stripped], check=True)
    return stripped


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--neptune", default=".build/release/neptune-server")
    ap.add_argument("--redis", default="/usr/bin/redis-server")
    ap.add_argument("-n", type=int, default=20000)
    ap.add_argument("--only", choices=["neptune", "redis"])
    ap.add_argument("--out", default="benchmarks/results/callgrind")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for f in glob.glob(os.path.join(a.out, "*.cg.*")): os.remove(f)
    neptune = prepare(a.out, a.neptune) if a.only != "redis" else a.neptune
    for kind, binary in [("neptune", neptune), ("redis", a.redis)]:
        if a.only and a.only != kind: continue
        r = measure(kind, binary, a.n, [1, 16], a.out)
        for k, (v, files) in r.items():
            print(f"{kind:8s} {k:7s} {v:10.0f} Ir/req  {' '.join(os.path.basename(f) for f in files)}", flush=True)
