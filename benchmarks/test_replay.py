"""Tests of the trace-replay tool's traces and offline models (no server needed)."""

import json
import os
import shutil
import tempfile
import unittest
from pathlib import Path

import replay


class OfflineModelTests(unittest.TestCase):
    def test_loop_defeats_lru_but_not_belady(self) -> None:
        trace = replay.trace_loop(100, 10_000)
        self.assertEqual(replay.exact_lru(trace, 90), 0.0)
        # Belady keeps 89 of the 100 keys of each pass after the first (one slot turns over).
        self.assertGreater(replay.belady(trace, 90), 0.8)

    def test_belady_bounds_lru(self) -> None:
        trace = replay.trace_zipf_scans(2000, 20_000, 0.99, seed=1, scan_length=200, scan_every=1000)
        for capacity in (50, 200, 800):
            self.assertGreaterEqual(replay.belady(trace, capacity), replay.exact_lru(trace, capacity))

    def test_lru_hits_when_everything_fits(self) -> None:
        trace = replay.trace_zipf(100, 5000, 0.99, seed=2)
        distinct = len(set(trace))
        self.assertAlmostEqual(replay.exact_lru(trace, 100), (len(trace) - distinct) / len(trace))
        self.assertAlmostEqual(replay.belady(trace, 100), (len(trace) - distinct) / len(trace))

    def test_scan_keys_are_used_once(self) -> None:
        trace = replay.trace_zipf_scans(1000, 12_000, 0.99, seed=3, scan_length=500, scan_every=2000)
        scanned = [k for k in trace if k >= 1000]
        self.assertEqual(len(scanned), len(set(scanned)))
        self.assertEqual(len(scanned), 4 * 500)  # four whole cycles of 2,000 + 500

    def test_shifting_changes_the_hot_keys(self) -> None:
        trace = replay.trace_shifting(1000, 8000, 1.2, seed=4, phases=2)
        first = max(set(trace[:4000]), key=trace[:4000].count)
        second = max(set(trace[4000:]), key=trace[4000:].count)
        self.assertNotEqual(first, second)


@unittest.skipUnless(os.environ.get("NEPTUNE_SERVER") and os.environ.get("NEPTUNE_BENCHMARK") and
                     shutil.which("redis-server"), "set NEPTUNE_SERVER and NEPTUNE_BENCHMARK to built binaries")
class QuickRunTests(unittest.TestCase):
    """`replay.py --quick` end to end against the given binaries and redis-server (about a minute)."""

    def test_quick_run_reports_every_trace_and_policy(self) -> None:
        out = Path(tempfile.mkdtemp(prefix="replay-test-"))
        try:
            code = replay.main(["--quick", "--no-readme", "--out", str(out),
                                "--neptune-server", os.environ["NEPTUNE_SERVER"],
                                "--neptune-benchmark", os.environ["NEPTUNE_BENCHMARK"]])
            self.assertEqual(code, 0)
            results = json.loads((out / "replay.json").read_text())
            names = [t["name"] for t in results["traces"]]
            self.assertEqual(names, ["Zipf", "Zipf with scans", "Loop", "Shifting popularity", "Zipf with scans"])
            self.assertIsNotNone(results["traces"][-1]["rate"])
            for trace in results["traces"]:
                servers = {(run["server"], run["policy"]) for run in trace["runs"]}
                self.assertIn(("neptune", "allkeys-s3fifo"), servers)
                self.assertIn(("redis", "allkeys-lfu"), servers)
                for run in trace["runs"]:
                    self.assertEqual(run["errors"], 0)
                    self.assertGreater(run["evicted_keys"], 0)
                    self.assertLessEqual(run["hit_ratio"], run["belady_same_capacity"] + 0.01)
                    self.assertLessEqual(run["used_memory"], trace["maxmemory"] * 1.05)
            latency = results["latency"]
            self.assertEqual([run["maxmemory"] > 0 for run in latency], [False, True, True])
            self.assertGreater(latency[1]["evicted_keys"], 0)
            self.assertIn("median p99 with eviction / without", (out / "replay.md").read_text())
        finally:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
