#!/usr/bin/python3
"""CTest bench_figures: bench/figures.py parses figure lines (rejecting malformed ones),
computes ratios, and renders docs/benchmarks.md's table from a fixture results file; the
real docs/benchmarks.md has the markers bench/all writes between and its table is what
bench/results/latest.json renders to (no hand edits). No benchmark runs."""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import figures  # noqa: E402


class Figures(unittest.TestCase):
    def test_ratio(self):
        self.assertAlmostEqual(figures.figure("x", 30, "MB/s", peer_value=10)["ratio"], 3.0)
        self.assertAlmostEqual(figures.figure("t", 2, "s", peer_value=10, lower_is_better=True)["ratio"], 5.0)
        self.assertNotIn("ratio", figures.figure("x", 3, "MB/s"))
        with self.assertRaises(ValueError):
            figures.figure("x", 1, "s", colour="red")

    def test_live_runs(self):
        # The second run's only benchmark was rerun by the third: it no longer speaks for any figure.
        runs = [{"started": "2026-12-06 05:00:00 UTC", "finished": "2026-12-06 05:40:00 UTC"},
                {"started": "2026-12-06 06:00:00 UTC", "finished": "2026-12-06 06:01:00 UTC"},
                {"started": "2026-12-06 06:01:00 UTC", "finished": "2026-12-06 06:02:00 UTC"}]
        benchmarks = [{"name": "a", "date": "2026-12-06 05:10:00 UTC"}, {"name": "b", "date": "2026-12-06 06:01:00 UTC"}]
        self.assertEqual(figures.live_runs(runs, benchmarks), [runs[0], runs[2]])
        self.assertEqual(figures.live_runs(runs, [], runs[1]), [runs[1]])

    def test_parse(self):
        text = "\n".join([
            "== bench verify, 2026-12-04 10:00 UTC, 2 cores, load average 1.0 2.0 3.0",
            "cpu: Test CPU; 2 threads; features: avx2",
            "prose 12 MB/s that is not collected",
            'figure: {"name": "a", "value": 1.5, "unit": "MB/s", "peer": "p", "peer_value": 3, "ratio": 0.5}',
            'figure: {"name": "b", "value": "fast", "unit": "MB/s"}',
            'figure: {"name": "c", "unit": "MB/s"}',
            'figure: {"name": "d", "value": 1, "unit": "s", "color": 1}',
            "figure: {not json",
            'figure: {"name": "e", "value": NaN, "unit": "s"}',
        ])
        figs, header, errors = figures.parse_output(text)
        self.assertEqual([f["name"] for f in figs], ["a"])
        self.assertEqual(len(errors), 5)
        self.assertEqual(header["cpu"], "Test CPU; 2 threads; features: avx2")
        self.assertTrue(header["header"].startswith("bench verify, 2026-12-04"))

    def test_table(self):
        with open(os.path.join(HERE, "testdata", "results.json")) as f:
            results = json.load(f)
        t = figures.render_table(results)
        rows = [l for l in t.splitlines() if l.startswith("| `")]
        self.assertEqual(len(rows), 4)
        self.assertIn("| `verify` | arith verifications/s |  | 275,000 /s | python fractions | 12,500 /s | **22.00×** "
                      "| >= 10x | 1.50 → 2.25 |", rows[0])
        self.assertIn("units \\| conversions", rows[1])  # a | in a cell is escaped
        self.assertIn("fp64 / 2,000 tasks", rows[1])
        self.assertIn("**failed**: exit code 3: error: datatrove not installed", rows[2])
        self.assertIn("| `fuzz` | **skipped**: not run with --quick (full settings only) |", rows[3])
        self.assertIn("- `fuzz`: `bench/fuzz/run` (skipped, started 2026-12-04 10:02:00 UTC)", t)
        self.assertIn("- `verify`: `bench/verify/run build 0.3` (ok, 12.5 s, started 2026-12-04 10:00:01 UTC)", t)
        self.assertIn("Test CPU; 2 threads; features: avx2 fma", t)
        doc = "intro\n" + figures.BEGIN + "\nold table\n" + figures.END + "\nrest\n"
        new = figures.replace_generated(doc, t)
        self.assertNotIn("old table", new)
        self.assertTrue(new.startswith("intro\n") and new.endswith(figures.END + "\nrest\n"))
        with self.assertRaises(ValueError):
            figures.replace_generated("no markers", t)

    def test_table_of_two_machines(self):
        with open(os.path.join(HERE, "testdata", "results.json")) as f:
            results = json.load(f)
        one = figures.render_table(results)
        self.assertNotIn("cpu 1:", one)
        results["benchmarks"][0]["cpu"] = "Test CPU; 2 threads; features: avx2 fma"
        results["benchmarks"][1]["cpu"] = "Other CPU; 2 threads; features: avx2 avx512f"
        t = figures.render_table(results)
        self.assertIn("cpu 1: Test CPU; 2 threads; features: avx2 fma", t)
        self.assertIn("cpu 2: Other CPU; 2 threads; features: avx2 avx512f", t)
        rows = [l for l in t.splitlines() if l.startswith("| `")]
        self.assertTrue(rows[0].endswith("| 1.50 → 2.25 | 1 |"), rows[0])  # verify
        self.assertTrue(rows[2].endswith("| 2.25 → 2.50 | 2 |"), rows[2])  # curate
        self.assertTrue(rows[3].endswith("|  |  |"), rows[3])  # fuzz: not run, no cpu
        self.assertIn("| load | cpu |", t)

    def test_docs_are_the_runners_output(self):
        with open(os.path.join(ROOT, "docs", "benchmarks.md")) as f:
            doc = f.read()
        with open(os.path.join(HERE, "results", "latest.json")) as f:
            results = json.load(f)
        self.assertEqual(doc, figures.replace_generated(doc, figures.render_table(results)),
                         "docs/benchmarks.md's table differs from bench/results/latest.json: run bench/all --table-only")


if __name__ == "__main__":
    unittest.main()
