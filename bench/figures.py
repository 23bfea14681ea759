#!/usr/bin/python3
"""Benchmark figures: the machine-readable line each benchmark prints, the parser that
collects them (bench/all) and the table of docs/benchmarks.md made from them.

A benchmark prints one line per figure:
  figure: {"name": "decode tokens/s", "value": 474.0, "unit": "tok/s", "peer": "pytorch 2.15",
           "peer_value": 143.0, "ratio": 3.31, "precision": "fp32", "shape": "SMALL", "goal": ">= 1.0x"}
name, value and unit are required. The ratio always reads "higher is better for veritas":
value / peer_value for a rate, peer_value / value for a time or a size (lower_is_better).

From a shell script:  bench/figures.py emit name=... value=... unit=... [peer=... peer_value=...]
  (ratio is computed when both values are given; lower_is_better=1 inverts it)."""
import json
import math
import os
import re
import sys

PREFIX = "figure: "
REQUIRED = ("name", "value", "unit")
OPTIONAL = ("peer", "peer_value", "ratio", "precision", "shape", "goal", "note")
BEGIN = "<!-- bench/all: begin (generated from bench/results/latest.json; do not edit by hand) -->"
END = "<!-- bench/all: end -->"


def figure(name, value, unit, peer=None, peer_value=None, ratio=None, lower_is_better=False, **extra):
    """The figure as a dict, ratio computed from the two values when not given."""
    f = {"name": name, "value": float(value), "unit": unit}
    if peer is not None:
        f["peer"] = peer
    if peer_value is not None:
        f["peer_value"] = float(peer_value)
    if ratio is None and peer_value is not None and float(value) > 0 and float(peer_value) > 0:
        ratio = float(peer_value) / float(value) if lower_is_better else float(value) / float(peer_value)
    if ratio is not None:
        f["ratio"] = round(float(ratio), 4)
    for k, v in extra.items():
        if k not in OPTIONAL:
            raise ValueError(f"unknown figure field '{k}'")
        if v is not None:
            f[k] = v
    return f


def emit(*args, **kw):
    """Prints one figure line (flushed: benchmarks interleave their output with children's)."""
    print(PREFIX + json.dumps(figure(*args, **kw), sort_keys=True), flush=True)


def check(f):
    """Raises ValueError unless f is a well-formed figure."""
    if not isinstance(f, dict):
        raise ValueError("a figure is a JSON object")
    for k in REQUIRED:
        if k not in f:
            raise ValueError(f"figure without '{k}'")
    for k in f:
        if k not in REQUIRED + OPTIONAL:
            raise ValueError(f"unknown figure field '{k}'")
    for k in ("value", "peer_value", "ratio"):
        if k in f and (not isinstance(f[k], (int, float)) or isinstance(f[k], bool) or not math.isfinite(f[k])):
            raise ValueError(f"figure field '{k}' is not a finite number: {f[k]!r}")
    if not isinstance(f["name"], str) or not f["name"]:
        raise ValueError("figure name must be a non-empty string")


def parse_output(text):
    """(figures, header, errors) from a benchmark's output: its figure lines, what its
    header said (bench/header: the '== bench' line, the cpu/features line) and one error
    per malformed figure line."""
    figures, errors, header = [], [], {}
    for i, line in enumerate(text.splitlines(), 1):
        if line.startswith(PREFIX):
            try:
                f = json.loads(line[len(PREFIX):])
                check(f)
                figures.append(f)
            except ValueError as e:  # json.JSONDecodeError is a ValueError
                errors.append(f"line {i}: {e}")
        elif line.startswith("== bench ") and "header" not in header:
            header["header"] = line[3:].strip()
        elif line.startswith("cpu: ") and "cpu" not in header:
            header["cpu"] = line[5:].strip()
    return figures, header, errors


def num(v):
    """A figure's value for the table: 3 significant digits, thousands separated."""
    if v is None:
        return ""
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def cell(s):
    return str(s).replace("|", "\\|").replace("\n", " ")


def live_runs(runs, benchmarks, current=None):
    """The runs that recorded at least one of the benchmarks kept (and the current one): a
    run whose every benchmark was rerun later no longer speaks for any figure."""
    return [r for r in runs if r is current or any(
        r["started"] <= b["date"] < r.get("finished", r["started"]) for b in benchmarks)]


def render_table(results):
    """The markdown of docs/benchmarks.md's generated part from a results dict (bench/all's JSON)."""
    out = []
    m = results.get("machine", {})
    loads = lambda r, k: " ".join(f"{x:.2f}" for x in r[k]) if r.get(k) else "?"  # noqa: E731
    runs = results.get("runs") or [dict(results, load_start=m.get("load_start"), load_end=m.get("load_end"))]
    out.append("Run by " + "; then ".join(
        f"`{r.get('command', 'bench/all')}` ({r.get('mode', '?')} settings), {r.get('started', '?')} to "
        f"{r.get('finished', '?')}, load average (1, 5, 15 min) {loads(r, 'load_start')} at its start, "
        f"{loads(r, 'load_end')} at its end" for r in runs) + ", on:")
    out.append("")
    # bench/all --only merges new records into the file, possibly from another machine of
    # the same kind: then every CPU is listed and each row says which one it ran on.
    cpus = []
    for b in results.get("benchmarks", []):
        if b.get("cpu") and b["cpu"] not in cpus:
            cpus.append(b["cpu"])
    several = len(cpus) > 1
    out.append("```")
    if several:
        out.extend(f"cpu {i + 1}: {c}" for i, c in enumerate(cpus))
    else:
        out.append(f"cpu: {cpus[0] if cpus else m.get('cpu', '?')}")
    out.append(f"cores: {m.get('cores', '?')}")
    out.append("```")
    out.append("")
    out.append("Ratio: veritas / peer, higher is better for veritas (for times and sizes: peer / veritas). "
               "Load: 1-minute load average before → after the benchmark." + (" Cpu: which of the above." if several else ""))
    out.append("")
    head = "| benchmark | figure | precision / shape | veritas | peer (same run) | peer value | ratio | goal | load |"
    out.append(head + (" cpu |" if several else ""))
    out.append("| --- " * (10 if several else 9) + "|")
    for b in results.get("benchmarks", []):
        load = f"{num(b['load_before'][0])} → {num(b['load_after'][0])}" if b.get("load_before") and b.get("load_after") else ""
        if several:
            load += f" | {cpus.index(b['cpu']) + 1 if b.get('cpu') in cpus else ''}"
        name = f"`{b['name']}`"
        if b.get("status") != "ok":
            why = b.get("error") or f"exit code {b.get('exit_code')}"
            out.append(f"| {name} | **{b.get('status', 'failed')}**: {cell(why)} | | | | | | | {load} |")
        for f in b.get("figures", []):
            ps = " / ".join(x for x in (f.get("precision"), f.get("shape")) if x)
            value = f"{num(f['value'])} {f['unit']}"
            peer_value = f"{num(f['peer_value'])} {f['unit']}" if "peer_value" in f else ""
            ratio = f"**{f['ratio']:.2f}×**" if "ratio" in f else ""
            label = f["name"] + (f" ({f['note']})" if f.get("note") else "")
            out.append(f"| {name} | {cell(label)} | {cell(ps)} | {value} | {cell(f.get('peer', ''))} | {peer_value} "
                       f"| {ratio} | {cell(f.get('goal', ''))} | {load} |")
    out.append("")
    out.append("Commands (the exact settings of this run):")
    out.append("")
    for b in results.get("benchmarks", []):
        took = f", {num(b['seconds'])} s" if b.get("seconds") is not None else ""
        mode = f", {b['mode']} settings" if b.get("mode") else ""
        out.append(f"- `{b['name']}`: `{b.get('command', '?')}` ({b.get('status', '?')}{mode}{took}, "
                   f"started {b.get('date', '?')})")
    return "\n".join(out)


def replace_generated(doc, table):
    """doc with the text between the BEGIN and END markers replaced by table."""
    i, j = doc.find(BEGIN), doc.find(END)
    if i < 0 or j < 0 or j < i:
        raise ValueError("docs/benchmarks.md lacks the bench/all begin/end markers")
    return doc[:i + len(BEGIN)] + "\n" + table + "\n" + doc[j:]


def write_atomic(path, text):
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main(argv):
    if len(argv) >= 1 and argv[0] == "emit":
        kw = {}
        for a in argv[1:]:
            k, sep, v = a.partition("=")
            if not sep:
                sys.exit(f"figures.py emit: expected key=value, got '{a}'")
            kw[k] = v
        try:
            lower = kw.pop("lower_is_better", "0") == "1"
            emit(kw.pop("name"), kw.pop("value"), kw.pop("unit"), lower_is_better=lower, **kw)
        except (KeyError, ValueError) as e:
            sys.exit(f"figures.py emit: {e}")
        return
    sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
