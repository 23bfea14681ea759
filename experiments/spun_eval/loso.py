#!/usr/bin/env python3
"""Leave one spinner out: fit the language-model evidence on one spinner, test it on another.

The shipped detector is fitted on veritas's own substitution script (on its tuning
passages); report.py scores it on the evaluation's spinners, none of which it saw. This
asks the converse question on the evaluation's modern text: fitted on one of the two
independent spinners of a language, how well does the score find the other?

For each language, the clean documents are split by their index (even: tuning, odd:
test; every genre and length on both sides). For each spinner A, a logistic regression
(Newton, L2 1e-2 on standardised inputs, as `fit_logistic` in veritas) is fitted on the
tuning clean documents against A's copies of them (both rates, both lengths). Its inputs
are the per-document features `veritas curate score-spun --lm-en/--lm-zh` writes, turned
into evidence as veritas does: (mean - clean tuning mean) * sqrt(tokens); with --combined
the statistical detector's logit is one more input. The operating point is the threshold
that gives <= 1 % false positives on the tuning clean documents of that language (one
point for both lengths, as the shipped detector has). Reported on the test documents only:
  - false positives per clean genre at that operating point;
  - for each test spinner B (B = A too, held-out documents: the self-consistent figure),
    rate and length: recall at the operating point, recall at <= 1 % / <= 2 % false
    positives of the test clean documents, and AUC.

Usage: loso.py LM-SCORED.jsonl [--combined] [--features NAME,NAME,... | --relative]
(the document-relative features of within_doc.py, --relative, need its output as LM-SCORED)
"""
import argparse
import json
import math
import sys
from collections import defaultdict

import numpy as np

from report import auc, threshold_at
from within_doc import NEW as RELATIVE  # the document-relative features, when within_doc.py's output is given

FEATURES = ["mean_nll", "high_nll", "very_high_nll", "confident_miss", "mean_gap", "neighbour_2", "neighbour_4",
            "neighbour_evidence"]
L2 = 1e-2


def fit_logistic(x, y):
    """Weights over [1, x] at the optimum of the L2-regularised log-loss (Newton)."""
    x = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(x.shape[1])
    for _ in range(50):
        p = 1 / (1 + np.exp(-x @ w))
        g = x.T @ (p - y) + L2 * w
        h = (x * (p * (1 - p))[:, None]).T @ x + L2 * np.eye(len(w))
        step = np.linalg.solve(h, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def index(r):
    return int(r["id"].split("-")[3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scored")
    ap.add_argument("--combined", action="store_true", help="add the statistical detector's logit as an input")
    ap.add_argument("--features", help="comma-separated subset of the language-model features (default: the eight)")
    ap.add_argument("--relative", action="store_true",
                    help="the eight and within_doc.py's six document-relative features")
    args = ap.parse_args()
    features = args.features.split(",") if args.features else FEATURES + (RELATIVE if args.relative else [])
    unknown = set(features) - set(FEATURES + RELATIVE)
    if unknown:
        sys.exit(f"loso: unknown features {sorted(unknown)}; known: {FEATURES + RELATIVE}")
    rows = [json.loads(l) for l in open(args.scored, encoding="utf-8") if l.strip()]
    rows = [r for r in rows if r["spun"].get("lm", {}).get("tokens", 0) > 0]
    if not rows or any(f not in rows[0]["spun"]["lm"] for f in features):
        sys.exit("loso: needs the language-model features of `veritas curate score-spun --lm-en auto --lm-zh auto`"
                 " (and within_doc.py's output for its features)")

    def raw(r):
        lm = r["spun"]["lm"]
        v = [lm[f] for f in features]
        if args.combined:
            p = min(max(r["spun"]["prob"], 1e-12), 1 - 1e-12)
            v.append(math.log(p / (1 - p)))
        return v

    print(f"Inputs: the language-model features ({', '.join(features)})"
          f"{' and the statistical logit' if args.combined else ''}; "
          f"{len(rows)} documents. Tuning: even document indices; test: odd.\n")
    fp_rows, rec_rows = [], []
    for lang in sorted({r["lang"] for r in rows}):
        lr = [r for r in rows if r["lang"] == lang]
        spinners = sorted({r["spinner"] for r in lr} - {"none"})
        tune_clean = [r for r in lr if r["spinner"] == "none" and index(r) % 2 == 0]
        mu = np.mean([[r["spun"]["lm"][f] for f in features] for r in tune_clean], axis=0)

        def evidence(r):
            v = np.array(raw(r), dtype=np.float64)
            v[:len(features)] = (v[:len(features)] - mu) * math.sqrt(r["spun"]["lm"]["tokens"])
            return v

        for a in spinners:
            tune = tune_clean + [r for r in lr if r["spinner"] == a and index(r) % 2 == 0]
            x = np.array([evidence(r) for r in tune])
            y = np.array([r["spinner"] != "none" for r in tune], dtype=np.float64)
            m, s = x.mean(axis=0), x.std(axis=0) + 1e-12
            w = fit_logistic((x - m) / s, y)
            score = lambda r: float(w[0] + ((evidence(r) - m) / s) @ w[1:])
            op = threshold_at([score(r) for r in tune_clean], 0.01)
            test = [r for r in lr if index(r) % 2 == 1]
            clean_g, clean_l = defaultdict(list), defaultdict(list)
            spun = defaultdict(list)
            for r in test:
                sc = score(r)
                if r["spinner"] == "none":
                    clean_g[(r["length"], r["genre"])].append(sc)
                    clean_l[r["length"]].append(sc)
                else:
                    spun[(r["length"], r["spinner"], r["rate"])].append(sc)
            for (length, genre), v in sorted(clean_g.items()):
                fp = sum(x > op for x in v)
                fp_rows.append(f"| {lang} | {a} | {length} | {genre} | {len(v)} | {fp} ({100 * fp / len(v):.1f} %) |")
            for (length, b, rate), v in sorted(spun.items()):
                c = clean_l[length]
                t1, t2 = threshold_at(c, 0.01), threshold_at(c, 0.02)
                rec = lambda t: sum(x > t for x in v) / len(v)
                rec_rows.append(f"| {lang} | {a} | {b}{' (same)' if a == b else ''} | {length} | {rate:.2f} | {len(v)} "
                                f"| {rec(op):.3f} | {rec(t1):.3f} | {rec(t2):.3f} | {auc(c, v):.3f} |")
    print("**False positives per clean test genre** at the operating point fitted on each spinner "
          "(≤ 1 % FP on the tuning clean documents)\n")
    print("| language | fitted on | words | genre | clean documents | false positives |")
    print("| --- | --- | ---: | --- | ---: | ---: |")
    print("\n".join(fp_rows))
    print("\n**Recall on the test documents**: at that operating point; at the thresholds that give ≤ 1 % and "
          "≤ 2 % false positives on the test clean documents of that length; AUC\n")
    print("| language | fitted on | tested on | words | rate | documents | at the operating point | at ≤ 1 % FP "
          "| at ≤ 2 % FP | AUC |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rec_rows))


if __name__ == "__main__":
    main()
