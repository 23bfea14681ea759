#!/usr/bin/env python3
"""Python peers of the verifiers, on the answers bench_verify checked (its dump folder):
the same checks, in batch, single-threaded, timed in CPU seconds (this process and its
children). Prints the rates, the agreement with veritas's verdicts and figure lines.

  peers.py DUMP_DIR

- exact and quotient/remainder answers (arith): Python's fractions.Fraction, and sympy's
  Rational (a second, slower peer), compared with the truth's exact value;
- quantities (units, physics): GNU units, one process for the whole batch, reading
  "(answer) / (the truth's formula)" per line and reducing it: correct when it is
  dimensionless and within the truth's relative tolerance of 1 (°C/°F answers written as
  tempC()/tempF(), "h" as hr: GNU units' own notation);
- impossible tasks: the answer must say it cannot be answered (the same phrases).
The answer line is found as veritas finds it: the last "Answer:" / "答案：" line."""
import json
import os
import re
import resource
import subprocess
import sys
import time
from fractions import Fraction

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import figures  # noqa: E402

ANSWER = re.compile(r"^\s*(?:Answer\s*[:：]|答案\s*[:：])\s*(.*?)\s*[.。]?\s*$", re.M | re.I)
CANNOT = ("cannot be determined", "can't be determined", "cannot be answered", "can't be answered",
          "cannot be known", "not determinable", "undetermined", "indeterminate", "undefined", "no solution",
          "无法确定", "无法回答", "无解", "没有解", "不存在", "无意义", "没有答案", "无法计算", "前提错误")
QR = re.compile(r"^\s*(?:商\s*)?(-?\d+)\s*(?:remainder|rem|余数|余|r|R|,|，|;)\s*=?\s*(-?\d+)\s*$")


TEMP = re.compile(r"^\s*([-+0-9.eE]+)\s*°\s*([CF])\s*$")
HOUR = re.compile(r"(?<![A-Za-z])h(?![A-Za-z])")


def gnu_units(v):
    """An answer in GNU units' notation: degrees Celsius/Fahrenheit are the functions
    tempC()/tempF() (an affine scale, not a unit), and "h" is an hour (GNU units reads it
    as Planck's constant)."""
    m = TEMP.match(v)
    if m:
        return f"temp{m.group(2)}({m.group(1)})"
    return HOUR.sub("hr", v)


def final(answer):
    m = ANSWER.findall(answer)
    return m[-1] if m else None


def cannot(v):
    v = v.lower()
    return any(p in v for p in CANNOT)


def exact_fraction(truth, v):
    try:
        return Fraction(v.replace(",", "").replace(" ", "")) == Fraction(truth["value"])
    except (ValueError, ZeroDivisionError):
        return False


def exact_sympy(truth, v, sympy):
    try:
        return sympy.Rational(v.replace(",", "").replace(" ", "")) == sympy.Rational(truth["value"])
    except (TypeError, ValueError, SyntaxError, sympy.SympifyError):
        return False


def qr(truth, v):
    m = QR.match(v)
    return bool(m) and int(m.group(1)) == int(truth["quotient"]) and int(m.group(2)) == int(truth["remainder"])


def check_exact(items, exact):
    """Verdicts (True = correct) for the exact/qr/impossible items."""
    out = []
    for it in items:
        t, v = it["truth"], final(it["answer"])
        k = t["kind"]
        if v is None:
            out.append(False)
        elif k == "impossible":
            out.append(cannot(v))
        elif cannot(v):
            out.append(False)
        elif k == "exact":
            out.append(exact(t, v))
        elif k == "qr":
            out.append(qr(t, v))
        else:
            raise SystemExit(f"error: peers.py has no check for truth kind '{k}'")
    return out


def check_units(items):
    """Verdicts for quantity/impossible items: GNU units reduces (answer)/(formula) for all
    of them in one process; one output line per query."""
    verdicts, queries = [None] * len(items), []
    for i, it in enumerate(items):
        t, v = it["truth"], final(it["answer"])
        if v is None:
            verdicts[i] = False
        elif t["kind"] == "impossible":
            verdicts[i] = cannot(v)
        elif cannot(v):
            verdicts[i] = False
        elif t["kind"] == "quantity":
            queries.append((i, f"({gnu_units(v)}) / ({t['formula']})"))
        else:
            raise SystemExit(f"error: peers.py has no check for truth kind '{t['kind']}'")
    text = "".join(q + "\n\n" for _, q in queries)
    r = subprocess.run(["units", "-t", "--quiet", "-d", "12"], input=text, capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if len(lines) != len(queries):
        raise SystemExit(f"error: GNU units answered {len(lines)} lines to {len(queries)} queries")
    for (i, _), line in zip(queries, lines):
        try:
            x = float(line)  # dimensionless: a bare number
        except ValueError:
            verdicts[i] = False  # another dimension, or an unknown unit
            continue
        verdicts[i] = abs(x - 1) <= items[i]["truth"].get("rel_tol", 1e-3)
    return verdicts


def cpu():
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def timed(fn, items, min_seconds=0.5):
    """Verdicts and checks per CPU second, over whole passes until min_seconds of CPU."""
    t0, n, verdicts = cpu(), 0, None
    while True:
        verdicts = fn(items)
        n += len(items)
        dt = cpu() - t0
        if dt >= min_seconds:
            return verdicts, n / dt


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    import sympy
    rates = json.load(open(os.path.join(d, "rates.json")))
    version = subprocess.run(["units", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    peers = {"arith": [("Python fractions", lambda items: check_exact(items, exact_fraction)),
                       (f"sympy {sympy.__version__} Rational",
                        lambda items: check_exact(items, lambda t, v: exact_sympy(t, v, sympy)))],
             "units": [(version, check_units)],
             "physics": [(version, check_units)]}
    for suite, ps in peers.items():
        items = [json.loads(l) for l in open(os.path.join(d, f"{suite}.jsonl"))]
        ours = [it["correct"] for it in items]
        v = rates[suite]["rate"]
        for name, fn in ps:
            verdicts, rate = timed(fn, items)
            agree = sum(a == b for a, b in zip(verdicts, ours))
            print(f"{suite:8s} veritas {v:10.0f}/s  {name:28s} {rate:10.0f}/s  ratio {v / rate:7.2f}x  "
                  f"same verdict on {agree}/{len(items)} answers ({sum(ours)} correct by veritas, "
                  f"{sum(verdicts)} by the peer)")
            figures.emit(f"{suite} verifications/s per core", v, "/s", peer=name, peer_value=rate,
                         shape=f"{len(items)} answers (reference + wrong)", goal=">= 10x",
                         note=f"same verdict on {agree}/{len(items)}")


if __name__ == "__main__":
    main()
