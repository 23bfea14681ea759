#!/usr/bin/env python3
"""Prints the per-suite-and-language table of a `veritas eval` results.json (docs/real-model.md)."""
import collections
import json
import os
import re
import sys


def cell(g, key):
    c = g.get(key)
    return f"{c['ece']:.3f}" if key == "calibration" and c else (f"{c['aurc']:.3f}" if c else "–")


def main(path):
    r = json.load(open(path))
    p = r.get("prompt") or {}
    print(f"prompt `{p.get('version', '?')}`" + (f" (hash {p['hash']})" if "hash" in p else ""))
    print()
    print("| suite/lang | n | right | wrong | abstained | malformed | ECE | AURC |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    rows = list(r["suite_lang"].items()) + [("**all**", r["overall"])]
    for name, g in rows:
        print(f"| {name} | {g['answers']} | {g['correct']} | {g['wrong']} | {g['abstained']} | {g['malformed']} | "
              f"{cell(g, 'calibration')} | {cell(g, 'risk_coverage')} |")


def malformed_reasons(path):
    """Why answers were malformed (the offending value left out)."""
    answers = os.path.join(os.path.dirname(path), "answers.jsonl")
    c = collections.Counter()
    for line in open(answers):
        a = json.loads(line)
        if a["verdict"] == "malformed":
            c[re.sub(r"got '.*'$", "got …", a["reason"])] += 1
    print()
    print("malformed: " + "; ".join(f"{n}× {r}" for r, n in c.most_common()))


if __name__ == "__main__":
    main(sys.argv[1])
    malformed_reasons(sys.argv[1])
