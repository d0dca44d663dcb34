#!/usr/bin/env python3
"""Unit tests of run.py's parsing, summaries and rendering (no servers needed):

    python3 -m unittest discover -s benchmarks -p 'test_*.py'
"""

import contextlib
import io
import os
import socket
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ElementTree
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run  # noqa: E402


def sample(ops: float, p50: float, p99: float, cpu: float) -> dict:
    return {
        "opsPerSecond": ops, "p50Ms": p50, "p99Ms": p99, "requests": 1000, "errors": 0,
        "serverCpuMicrosecondsPerRequest": cpu, "clientCpuMicrosecondsPerRequest": cpu * 2,
        "percentiles": [[0, p50 / 2], [50, p50], [90, p50 * 1.5], [99, p99], [99.9, p99 * 2], [100, p99 * 5]],
    }


def load(seconds: float, rss: int) -> dict:
    return {
        "seconds": seconds, "rssAfterBytes": rss, "rssBytesPerKey": rss / 1000, "usedMemoryAfterBytes": rss // 2,
        "hashRssBytesPerKey": rss / 2**20, "hashUsedMemoryBytesPerKey": rss / 2**21,
    }


def fake_results() -> dict:
    rounds = []
    for index, (neptune_ops, redis_ops) in enumerate([(300.0, 100.0), (100.0, 100.0), (200.0, 400.0)]):
        workloads = {}
        for client in run.CLIENTS:
            for pipeline in (1, 16):
                for command in run.COMMANDS:
                    workloads[run.workload_key(client, command, pipeline)] = {
                        "neptune": sample(neptune_ops, 0.2, 1.0, 4.0),
                        "redis": sample(redis_ops, 0.4, 2.0, 8.0),
                    }
        rounds.append({
            "round": index + 1,
            "order": ["neptune", "redis"],
            "load": {"neptune": load(2.0, 100 * 2**20), "redis": load(4.0, 200 * 2**20)},
            "workloads": workloads,
        })
    summary = run.summarize(rounds)
    return {
        "started": "2025-01-01T00:00:00+00:00",
        "machine": {
            "modelName": "Test CPU", "nproc": 2, "kernel": "6.0", "commit": "abc", "redisServer": "Redis v=7.0.15",
            "neptuneServer": "neptune 0.1.0", "loadAverageAtStart": [0, 0, 0], "loadAverageAtEnd": [0, 0, 0],
        },
        "settings": run.settings_of(run.parse_arguments(["--quick"])),
        "rounds": rounds,
        "medians": summary["medians"],
        "ratios": summary["ratios"],
        "embedded": {
            "configuration": {"keys": 10, "operations": 10, "repetitions": 1},
            "results": [{"workload": "get-hit", "threads": 1, "neptune": {"median": 50.0},
                         "dictionary": {"median": 40.0}, "ratio": 1.25}],
        },
        "warnings": [],
    }


def fake_durability() -> dict:
    rounds = []
    for index, (neptune_ops, redis_ops) in enumerate([(3000.0, 1000.0), (2000.0, 1000.0), (5000.0, 2000.0)]):
        workloads = {}
        for mode in run.FSYNC_MODES:
            for clients in run.DURABILITY_CLIENTS:
                for client in run.CLIENTS:
                    workloads[run.durability_key(mode, client, clients)] = {
                        "neptune": sample(neptune_ops, 1.0, 3.0, 20.0),
                        "redis": sample(redis_ops, 2.0, 4.0, 15.0),
                    }
        rounds.append({"round": index + 1, "order": ["neptune", "redis"], "workloads": workloads})
    return run.summarize_durability(rounds)


class DurabilityTests(unittest.TestCase):
    def test_filesystem_type_is_the_longest_matching_mount(self):
        mounts = "/dev/vda / ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\ntmpfs /tmpdata tmpfs rw 0 0\n"
        self.assertEqual(run.filesystem_type(Path("/tmp/x/journal"), mounts), "tmpfs")
        self.assertEqual(run.filesystem_type(Path("/tmpx/journal"), mounts), "ext4")
        self.assertEqual(run.filesystem_type(Path("/"), mounts), "ext4")

    def test_request_counts_scale_and_stay_positive(self):
        self.assertEqual(run.durability_requests("always", 50, 1.0), 20_000)
        self.assertEqual(run.durability_requests("always", 1, 0.25), 500)
        self.assertEqual(run.durability_requests("always", 1, 0.0001), 100)

    def test_medians_and_ratios_per_mode_and_client_count(self):
        summary = fake_durability()
        key = run.durability_key("always", "redis-benchmark", 50)
        self.assertEqual(summary["medians"][key]["neptune"]["opsPerSecond"], 3000.0)
        self.assertEqual(summary["medians"][key]["redis"]["opsPerSecond"], 1000.0)
        self.assertAlmostEqual(summary["ratios"][key]["opsPerSecond"], 3.0)
        self.assertEqual(len(summary["medians"]), len(run.FSYNC_MODES) * len(run.DURABILITY_CLIENTS) * 2)

    def test_markdown_has_the_durability_table_only_when_measured(self):
        results = fake_results()
        self.assertNotIn("appendfsync always", run.render_markdown(results))
        results["durability"] = fake_durability()
        markdown = run.render_markdown(results)
        self.assertIn("| appendfsync always redis-benchmark SET c50 | 3,000 | 1,000 | **3.00** |", markdown)
        self.assertIn("appendfsync everysec neptune-benchmark SET c1", markdown)

    def test_durability_options(self):
        options = run.parse_arguments(["--quick"])
        self.assertEqual(options.durability_scale, 0.25)
        self.assertFalse(options.no_durability)
        self.assertTrue(run.parse_arguments(["--no-durability"]).no_durability)
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            run.parse_arguments(["--durability-scale", "0"])


def fake_snapshots() -> dict:
    rounds = []
    for index, (neptune_save, redis_save) in enumerate([(0.5, 1.0), (0.4, 1.2), (0.6, 0.9)]):
        servers = {}
        for name, save in (("neptune", neptune_save), ("redis", redis_save)):
            servers[name] = {"saveSeconds": save, "fileBytes": 1000, "startupSeconds": save * 2}
            for mix, during in (("GET", 1.2 if name == "neptune" else 3.0), ("SET:GET", 2.0 if name == "neptune" else 1.6)):
                servers[name].update({
                    f"{mix}P99MsWithout": 1.0, f"{mix}P99MsDuring": during, f"{mix}Bgsaves": 2,
                    f"{mix}P99DuringOverWithout": during,
                    f"{mix}StealPercentWithout": 0.5 * (index + 1), f"{mix}StealPercentDuring": 3.0 if index else 1.0,
                })
        rounds.append({"round": index + 1, "order": ["neptune", "redis"], "servers": servers})
    return run.summarize_snapshots(rounds)


def window(pair: int, during: bool, histogram: list, steal: float) -> dict:
    p99 = run.histogram_percentile_ms(histogram, 99)
    return {"pair": pair, "during": during, "p99Ms": p99, "opsPerSecond": 20000.0, "stealPercent": steal,
            "bgsaves": 1 if during else 0, "histogram": histogram}


class SnapshotBenchmarkTests(unittest.TestCase):
    def test_medians_and_ratios(self):
        summary = fake_snapshots()
        self.assertEqual(summary["medians"]["neptune"]["saveSeconds"], 0.5)
        self.assertEqual(summary["medians"]["redis"]["saveSeconds"], 1.0)
        self.assertAlmostEqual(summary["ratios"]["saveSeconds"], 0.5)
        self.assertAlmostEqual(summary["ratios"]["GETP99DuringOverWithout"], 0.4)
        self.assertAlmostEqual(summary["ratios"]["SET:GETP99DuringOverWithout"], 1.25)

    def test_markdown_table(self):
        results = fake_results()
        self.assertNotIn("SAVE time", run.render_markdown(results))
        results["snapshots"] = fake_snapshots()
        markdown = run.render_markdown(results)
        self.assertIn("| SAVE time | 0.50 | 1.00 | **0.50** |", markdown)
        self.assertIn("| GET: p99 during BGSAVE / p99 without (goal ≤ 1.5) | 1.20 | 3.00 | **0.40** |", markdown)
        self.assertIn("| SET:GET: p99 during BGSAVE / p99 without (goal ≤ 1.5) | 2.00 | 1.60 | **1.25** |", markdown)
        self.assertIn("neptune GET 1.0% / 3.0%; neptune SET:GET 1.0% / 3.0%; redis GET 1.0% / 3.0%", markdown)

    def test_histograms_merge_by_bucket(self):
        merged = run.merge_histograms([[[100, 2], [250, 1]], [[50, 1], [100, 3]], []])
        self.assertEqual(merged, [[50, 1], [100, 5], [250, 1]])
        self.assertEqual(run.merge_histograms([]), [])

    def test_histogram_percentile_is_hdr_value_at_percentile(self):
        # 100 requests: 98 at 0.1 ms, 1 at 2 ms, 1 at 5 ms. The 99th is at 2 ms, the 98th still at 0.1 ms.
        histogram = [[100, 98], [2000, 1], [5000, 1]]
        self.assertEqual(run.histogram_percentile_ms(histogram, 99), 2.0)
        self.assertEqual(run.histogram_percentile_ms(histogram, 98), 0.1)
        self.assertEqual(run.histogram_percentile_ms(histogram, 100), 5.0)
        self.assertEqual(run.histogram_percentile_ms([[300, 1]], 99), 0.3)
        self.assertIsNone(run.histogram_percentile_ms([], 99))

    def test_pooled_p99_is_not_the_median_of_the_windows(self):
        # Two windows of 100 requests each: each has its 99th at 0.1 ms, but pooled 3 of 200 are slow, so the pooled
        # p99 (the 198th request) is a slow one.
        quiet = [[100, 99], [3000, 1]]
        noisy = [[100, 98], [3000, 2]]
        windows = [
            window(0, False, quiet, 0.5), window(0, True, noisy, 0.5),
            window(1, True, noisy, 0.5), window(1, False, quiet, 0.5),
        ]
        result = run.pool_snapshot_windows("GET", windows, 5.0)
        self.assertEqual(result["GETP99MsWithout"], 0.1)
        self.assertEqual(result["GETP99MsDuring"], 3.0)
        self.assertAlmostEqual(result["GETP99DuringOverWithout"], 30.0)
        self.assertEqual(result["GETPairsIncluded"], 2)
        self.assertEqual(result["GETPairsExcluded"], 0)
        self.assertEqual(result["GETBgsaves"], 2)
        self.assertEqual(len(result["GETPairRatios"]), 2)
        self.assertTrue(all("histogram" not in w for w in result["GETWindows"]))

    def test_pairs_with_steal_are_left_out_of_both_phases_and_counted(self):
        slow = [[4000, 100]]
        fast = [[100, 100]]
        windows = [
            window(0, False, fast, 1.0), window(0, True, fast, 1.0),
            # A pair whose window without saves had high steal: both its windows leave the pooled figures.
            window(1, False, slow, 9.0), window(1, True, fast, 0.5),
            # A pair whose window during saves had high steal: likewise, though its p99 looks bad only there.
            window(2, True, slow, 7.5), window(2, False, fast, 0.2),
        ]
        result = run.pool_snapshot_windows("SET:GET", windows, 5.0)
        self.assertEqual(result["SET:GETPairsIncluded"], 1)
        self.assertEqual(result["SET:GETPairsExcluded"], 2)
        self.assertEqual(result["SET:GETP99MsWithout"], 0.1)
        self.assertEqual(result["SET:GETP99MsDuring"], 0.1)
        self.assertEqual(result["SET:GETPairRatios"], [1.0])
        # Over all three pairs the pooled ratio includes them: during 0.1, 0.1, 4 ms; without 0.1, 4, 0.1 ms.
        self.assertAlmostEqual(result["SET:GETP99DuringOverWithoutAllPairs"], 1.0)
        # The steal medians cover every window, kept or not.
        self.assertEqual(result["SET:GETStealPercentWithout"], 1.0)
        self.assertEqual(result["SET:GETStealPercentDuring"], 1.0)

    def test_no_pair_kept_gives_no_p99(self):
        windows = [window(0, False, [[100, 10]], 6.0), window(0, True, [[100, 10]], 0.1)]
        result = run.pool_snapshot_windows("GET", windows, 5.0)
        self.assertIsNone(result["GETP99MsWithout"])
        self.assertIsNone(result["GETP99DuringOverWithout"])
        self.assertEqual(result["GETPairsExcluded"], 1)
        self.assertIn("no pair under 5% steal", run.snapshot_pooled_text(result, "GET"))

    def test_a_window_without_its_partner_is_not_pooled(self):
        windows = [window(0, False, [[100, 10]], 0.1), window(0, True, [[200, 10]], 0.1),
                   window(1, False, [[9000, 10]], 0.1)]
        result = run.pool_snapshot_windows("GET", windows, 5.0)
        self.assertEqual(result["GETP99MsWithout"], 0.1)
        self.assertEqual(result["GETPairsIncluded"] + result["GETPairsExcluded"], 1)

    def test_window_order_alternates_by_pair_and_round(self):
        self.assertEqual(run.snapshot_phases(0, 0), (False, True))
        self.assertEqual(run.snapshot_phases(0, 1), (True, False))
        self.assertEqual(run.snapshot_phases(1, 0), (True, False))
        firsts = [run.snapshot_phases(r, p)[0] for r in range(3) for p in range(4)]
        self.assertEqual(firsts.count(True), firsts.count(False))

    def test_snapshot_window_options(self):
        options = run.parse_arguments([])
        self.assertEqual((options.snapshot_seconds, options.snapshot_pairs), (2.5, 4))
        options = run.parse_arguments(["--quick"])
        self.assertEqual((options.snapshot_seconds, options.snapshot_pairs), (1.5, 2))
        with contextlib.redirect_stderr(io.StringIO()), self.assertRaises(SystemExit):
            run.parse_arguments(["--snapshot-pairs", "0"])

    def test_pair_spread_in_markdown(self):
        results = fake_results()
        results["snapshots"] = fake_snapshots()
        for index, record in enumerate(results["snapshots"]["rounds"]):
            for name in ("neptune", "redis"):
                record["servers"][name].update(
                    {"GETPairRatios": [1.0 + index, 0.5], "GETPairsIncluded": 2, "GETPairsExcluded": 1})
        markdown = run.render_markdown(results)
        self.assertIn("neptune GET 0.50-0.75-3.00 (6 of 9 pairs)", markdown)
        self.assertIn("2 pairs of 1.5-s windows", markdown)

    def test_steal_percent_is_the_stolen_share_of_all_cpu_time(self):
        before = [100, 0, 50, 800, 0, 0, 10, 40, 0, 0]
        after = [300, 0, 150, 1400, 0, 0, 30, 120, 0, 0]
        self.assertAlmostEqual(run.steal_percent(before, after), 100 * 80 / 1000)
        self.assertIsNone(run.steal_percent(before, before))
        self.assertIsNone(run.steal_percent(None, after))
        self.assertIsNone(run.steal_percent(before[:4], after[:4]))

    def test_cpu_ticks_has_a_steal_counter_here(self):
        ticks = run.cpu_ticks()
        if ticks is None:
            self.skipTest("no /proc/stat")
        self.assertGreaterEqual(len(ticks), 8)
        self.assertGreater(sum(ticks), 0)


class ParsingTests(unittest.TestCase):
    def test_proc_stat_counts_fields_after_the_last_parenthesis(self):
        # A command name with spaces and a ')' must not shift the fields.
        fields = ["S"] + [str(n) for n in range(4, 14)] + ["1234", "56"] + ["0"] * 30
        text = "4242 (odd ) name) " + " ".join(fields)
        self.assertEqual(run.parse_proc_stat(text), (1234, 56))

    def test_proc_stat_of_this_process_is_readable(self):
        utime, stime = run.parse_proc_stat(Path(f"/proc/{os.getpid()}/stat").read_text())
        self.assertGreaterEqual(utime + stime, 0)

    def test_vm_rss_in_bytes(self):
        self.assertEqual(run.parse_vm_rss("Name:\tx\nVmRSS:\t   2048 kB\nVmData:\t1 kB\n"), 2048 * 1024)
        with self.assertRaises(run.BenchError):
            run.parse_vm_rss("Name:\tx\n")

    def test_info_fields(self):
        fields = run.parse_info("# Memory\r\nused_memory:1024\r\nused_memory_human:1.00K\r\n\r\n# CPU\r\n")
        self.assertEqual(fields["used_memory"], "1024")
        self.assertEqual(fields["used_memory_human"], "1.00K")
        self.assertNotIn("# CPU", fields)

    def test_redis_benchmark_csv(self):
        text = (
            '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms",'
            '"max_latency_ms"\n"GET","444444.44","1.416","0.424","1.399","2.255","2.407","2.471"\n'
        )
        rows = run.parse_redis_benchmark_csv(text)
        self.assertEqual(rows["GET"]["rps"], 444444.44)
        self.assertEqual(rows["GET"]["p99_latency_ms"], 2.407)

    def test_cpu_lists(self):
        self.assertIsNone(run.parse_cpu_list(None))
        self.assertEqual(run.parse_cpu_list("0-2,5"), {0, 1, 2, 5})
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            run.parse_arguments(["--pin-client", "x"])

    def test_quick_defaults_and_explicit_options(self):
        options = run.parse_arguments(["--quick", "--rounds", "4"])
        self.assertEqual((options.rounds, options.keys), (4, 100_000))
        options = run.parse_arguments([])
        self.assertEqual((options.rounds, options.keys, options.requests), (3, 1_000_000, 200_000))


class RespClientTests(unittest.TestCase):
    def test_reads_every_reply_kind(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        replies = [b"+PONG\r\n", b":42\r\n", b"$5\r\nhello\r\n", b"$-1\r\n", b"*2\r\n:1\r\n$1\r\nx\r\n", b"-ERR no\r\n"]
        client = run.RespClient(port)
        connection, _ = listener.accept()
        try:
            results = []
            for reply in replies[:-1]:
                connection.sendall(reply)
                results.append(client.call("X"))
            self.assertEqual(results, ["PONG", 42, "hello", None, [1, "x"]])
            connection.sendall(replies[-1])
            with self.assertRaises(run.BenchError):
                client.call("X")
            self.assertIn(b"*1\r\n$1\r\nX\r\n", connection.recv(4096))
        finally:
            client.close()
            connection.close()
            listener.close()


class BgsaveLoopTests(unittest.TestCase):
    def test_saves_back_to_back_polling_only_near_each_saves_end(self):
        """A fake server whose saves take 0.3 s: the loop starts each save right after the previous one ended
        (within two polls) and, after the first save, polls only in the second half of each."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        ends, starts = [], []

        def serve():
            connection, _ = listener.accept()
            pending = b""
            save_end = 0.0
            with connection:
                while True:
                    data = connection.recv(4096)
                    if not data:
                        return
                    pending += data
                    while b"\r\n" in pending and (b"BGSAVE" in pending or b"persistence" in pending):
                        now = run.time.monotonic()
                        if b"BGSAVE" in pending:
                            self.assertGreaterEqual(now, save_end)
                            starts.append(now)
                            save_end = now + 0.3
                            ends.append(save_end)
                            connection.sendall(b"+Background saving started\r\n")
                        else:
                            body = b"rdb_bgsave_in_progress:%d\r\n" % (1 if now < save_end else 0)
                            connection.sendall(b"$%d\r\n%s\r\n" % (len(body), body))
                        pending = b""

        server_thread = run.threading.Thread(target=serve, daemon=True)
        server_thread.start()
        fake = type("FakeServer", (), {"port": listener.getsockname()[1], "name": "fake"})()
        stop, counts = run.threading.Event(), {"saves": 0}
        runner = run.Runner(run.parse_arguments(["--quick"]))
        saver = run.threading.Thread(target=runner.bgsave_loop, args=(fake, stop, counts))
        saver.start()
        run.time.sleep(1.6)
        stop.set()
        saver.join(timeout=5)
        listener.close()
        self.assertNotIn("error", counts)
        self.assertGreaterEqual(counts["saves"], 4)
        # Every save after the first started within 60 ms of the previous one's end (no gap without a save).
        for end, start in zip(ends, starts[1:]):
            self.assertLess(start - end, 0.06)
        # Polling through every save would take about 30 polls each (0.3 s / 10 ms); from half the shortest save
        # on, about 15 after the first.
        self.assertLess(counts["polls"], 32 + 22 * (counts["saves"] - 1))


class ServerTests(unittest.TestCase):
    def test_a_server_that_exits_at_once_is_reported_with_its_log(self):
        log_path = Path(run.tempfile.mkdtemp()) / "log"
        script = "import sys; print('bad flag --frobnicate'); sys.exit(3)"
        server = run.Server("fake", [sys.executable, "-c", script], run.free_port(), log_path, None)
        with self.assertRaises(run.BenchError) as caught:
            server.start(timeout=10)
        self.assertIn("exited with status 3", str(caught.exception))
        self.assertIn("bad flag --frobnicate", str(caught.exception))

    def test_stop_ends_the_process_by_pid(self):
        log_path = Path(run.tempfile.mkdtemp()) / "log"
        server = run.Server("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], 0, log_path, None)
        server.process = subprocess.Popen(server.argv)
        server.stop()
        self.assertEqual(server.process.poll(), -15)  # ended by SIGTERM


class SummaryTests(unittest.TestCase):
    def test_medians_and_ratios(self):
        results = fake_results()
        key = run.workload_key("redis-benchmark", "GET", 16)
        medians = results["medians"]["workloads"][key]
        self.assertEqual(medians["neptune"]["opsPerSecond"], 200.0)
        self.assertEqual(medians["redis"]["opsPerSecond"], 100.0)
        self.assertEqual(results["ratios"]["workloads"][key]["opsPerSecond"], 2.0)
        self.assertEqual(results["ratios"]["workloads"][key]["serverCpuMicrosecondsPerRequest"], 0.5)
        self.assertEqual(results["ratios"]["load"]["seconds"], 0.5)
        self.assertEqual(results["ratios"]["load"]["hashRssBytesPerKey"], 0.5)
        self.assertEqual(results["ratios"]["better"]["hashRssBytesPerKey"], "lower")

        self.assertEqual(results["ratios"]["better"]["opsPerSecond"], "higher")
        self.assertEqual(results["ratios"]["better"]["p99Ms"], "lower")

    def test_hash_load_command_sets_every_field(self):
        self.assertEqual(run.hash_command(3), "HSET __key__ f1 __data__ f2 __data__ f3 __data__")
        self.assertIn("RSS growth per small hash", run.render_markdown(fake_results()))

    def test_ratio_of_missing_values(self):
        self.assertIsNone(run.ratio(None, 2.0))
        self.assertIsNone(run.ratio(1.0, 0))
        self.assertIsNone(run.median([None, None]))

    def test_median_round_sample_is_the_median_throughput(self):
        results = fake_results()
        chosen = run.median_round_sample(results["rounds"], run.workload_key("neptune-benchmark", "GET", 1), "neptune")
        self.assertEqual(chosen["opsPerSecond"], 200.0)

    def test_markdown_names_the_better_direction(self):
        markdown = run.render_markdown(fake_results())
        self.assertIn("ratio (higher is better)", markdown)
        self.assertIn("ratio (lower is better)", markdown)
        self.assertIn("| neptune-benchmark GET P1 | 200 | 100 | **2.00** |", markdown)
        self.assertIn("| get-hit | 1 | 50.0 | 40.0 | **1.25** |", markdown)

    def test_svg_is_well_formed_and_labelled(self):
        svg = run.render_svg(fake_results())
        root = ElementTree.fromstring(svg)
        texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
        self.assertIn("Neptune", texts)
        self.assertIn("Redis 7", texts)
        self.assertIn("99.9%", texts)
        self.assertEqual(len(list(root.iter("{http://www.w3.org/2000/svg}path"))), 8)

    def test_readme_section_is_replaced_between_markers_only(self):
        text = f"intro\n{run.README_BEGIN}\nold table\n{run.README_END}\noutro\n"
        updated = run.replace_marked_section(text, "new table\n")
        self.assertEqual(updated, f"intro\n{run.README_BEGIN}\nnew table\n{run.README_END}\noutro\n")
        appended = run.replace_marked_section("intro\n", "table")
        self.assertTrue(appended.endswith(f"{run.README_BEGIN}\ntable\n{run.README_END}\n"))

    def test_nice_axis_covers_the_maximum_with_round_steps(self):
        self.assertEqual(run.nice_axis(530_000), (600_000, 200_000))
        self.assertEqual(run.nice_axis(16.6), (20, 5))
        self.assertEqual(run.nice_axis(8.9), (10, 2))

    def test_log_axis_spans_whole_decades(self):
        self.assertEqual(run.log_axis(0.05, 42.0), (0.01, 100))
        self.assertEqual(run.log_axis(1.0, 1.0), (1, 10))
        self.assertEqual(run.log_ticks(0.1, 10), [0.1, 0.2, 0.5, 1, 2, 5, 10])

    def test_short_versions(self):
        line = "Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0 bits=64 build=ae4d7c971a948f0"
        self.assertEqual(run.short_version(line), "Redis 7.0.15 (jemalloc-5.3.0)")
        self.assertEqual(run.short_version("neptune 0.1.0"), "neptune 0.1.0")

    def test_nice_ceiling(self):
        self.assertEqual(run.nice_ceiling(73), 100)
        self.assertEqual(run.nice_ceiling(180_000), 200_000)
        self.assertEqual(run.nice_ceiling(0.3), 0.5)


if __name__ == "__main__":
    unittest.main()
