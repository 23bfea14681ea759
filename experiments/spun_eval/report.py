#!/usr/bin/env python3
"""Tables for the spun detector on the evaluation sets of make_sets.py, scored by
`veritas curate score-spun` (the "spun" object of each line).

Per language and document length:
  - at the detector's own operating point (drop when prob > 0.5, chosen on its tuning
    split): false positives per clean genre, recall per spinner and rate;
  - at the thresholds that give <= 1 % and <= 2 % false positives on the clean documents
    of that language and length (all genres): recall per spinner and rate. These points
    are read off the evaluation's own clean text, so they show what the score separates,
    not what the shipped operating point does (with n clean documents, floor(n / 100)
    of them may score above the 1 % threshold: none below 100);
  - AUC: the chance that a spun document scores above a clean one (threshold-free), over
    all genres and within each genre;
  - with the language model's features: its mean surprisal of the clean documents per
    genre, and its rise from a clean document to its spun copy.

Usage: report.py SCORED.jsonl [--score FIELD]   (FIELD: spun.prob by default; spun.lm.prob
for the language-model score)
"""
import argparse
import json
import math
import sys
from collections import defaultdict


def get(rec, path):
    v = rec
    for k in path.split("."):
        if not isinstance(v, dict) or k not in v:
            return None
        v = v[k]
    return v


def threshold_at(clean_scores, fp):
    """The lowest threshold t with share(clean > t) <= fp."""
    s = sorted(clean_scores)
    n = len(s)
    allowed = math.floor(fp * n)  # documents allowed above t
    if allowed >= n:
        return -math.inf
    return s[n - allowed - 1]


def auc(clean_scores, spun_scores):
    """P(a spun document scores above a clean one), ties counting half (Mann-Whitney)."""
    pairs = sorted([(x, 0) for x in clean_scores] + [(x, 1) for x in spun_scores])
    rank_sum, i = 0.0, 0
    while i < len(pairs):
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        mid = (i + j + 1) / 2  # average 1-based rank of the tie group
        rank_sum += mid * sum(1 for k in range(i, j) if pairs[k][1])
        i = j
    n1, n0 = len(spun_scores), len(clean_scores)
    return (rank_sum - n1 * (n1 + 1) / 2) / (n1 * n0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("scored")
    ap.add_argument("--score", default="spun.prob")
    ap.add_argument("--operating-point", type=float, default=0.5, help="drop above this score (default 0.5)")
    args = ap.parse_args()
    rows = [json.loads(l) for l in open(args.scored, encoding="utf-8") if l.strip()]
    unscored = sum(1 for r in rows if get(r, args.score) is None)
    rows = [r for r in rows if get(r, args.score) is not None]
    if not rows:
        sys.exit(f"report: no document has {args.score}")
    clean = defaultdict(list)   # (lang, length) -> scores
    clean_g = defaultdict(list) # (lang, length, genre) -> scores
    spun = defaultdict(list)    # (lang, length, spinner, rate) -> scores
    spun_g = defaultdict(list)  # (lang, length, spinner, rate, genre)
    for r in rows:
        s = get(r, args.score)
        key = (r["lang"], r["length"])
        if r["spinner"] == "none":
            clean[key].append(s)
            clean_g[key + (r["genre"],)].append(s)
        else:
            spun[key + (r["spinner"], r["rate"])].append(s)
            spun_g[key + (r["spinner"], r["rate"], r["genre"])].append(s)
    op = args.operating_point
    print(f"Score: `{args.score}`; {len(rows)} documents scored ({unscored} too short or not scored).\n")
    print(f"**At the operating point** (drop when the score > {op}): false positives per clean genre\n")
    print("| language | words | genre | clean documents | false positives |")
    print("| --- | ---: | --- | ---: | ---: |")
    for key in sorted(clean_g):
        v = clean_g[key]
        fp = sum(x > op for x in v)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(v)} | {fp} ({100 * fp / len(v):.1f} %) |")
    print("\n**Recall** per spinner and rate: at the operating point, and at the thresholds that give "
          "≤ 1 % and ≤ 2 % false positives on this language's and length's clean documents\n")
    print("| language | words | spinner | rate | documents | at the operating point | at ≤ 1 % FP | at ≤ 2 % FP | AUC |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in sorted(spun):
        v = spun[key]
        c = clean[key[:2]]
        t1, t2 = threshold_at(c, 0.01), threshold_at(c, 0.02)
        rec = lambda t: sum(x > t for x in v) / len(v)
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]:.2f} | {len(v)} | {rec(op):.3f} | {rec(t1):.3f} | {rec(t2):.3f} "
              f"| {auc(c, v):.3f} |")
    print("\n**Per genre**, rate 0.30: recall at the operating point, and AUC against the clean documents of the "
          "same genre (a threshold per genre would see this separation; one for all genres sees the AUC above)\n")
    print("| language | words | spinner | genre | recall | AUC within the genre |")
    print("| --- | ---: | --- | --- | ---: | ---: |")
    for key in sorted(spun_g):
        if abs(key[3] - 0.30) > 1e-9:
            continue
        v = spun_g[key]
        c = clean_g[key[:2] + (key[4],)]
        print(f"| {key[0]} | {key[1]} | {key[2]} | {key[4]} | {sum(x > op for x in v) / len(v):.3f} | {auc(c, v):.3f} |")
    surprisal(rows)


def surprisal(rows):
    """With the language-model features: the model's mean surprisal of the clean documents
    per genre, and how much spinning at rate 0.30 raises it (spun copy minus its original)."""
    by_id = {r["id"]: r for r in rows}
    nll = lambda r: get(r, "spun.lm.mean_nll")
    clean_g, shift = defaultdict(list), defaultdict(list)
    for r in rows:
        if r["spinner"] != "none" or nll(r) is None:
            continue
        clean_g[(r["lang"], r["length"], r["genre"])].append(nll(r))
    for r in rows:
        if r["spinner"] == "none" or abs(r["rate"] - 0.30) > 1e-9 or nll(r) is None:
            continue
        orig = by_id.get("-".join(r["id"].split("-")[:4]))
        if orig is not None and nll(orig) is not None:
            shift[(r["lang"], r["length"], r["spinner"])].append(nll(r) - nll(orig))
    if not clean_g:
        return
    mean_table("**The model's mean surprisal** (nats a content token): clean documents per genre",
               ["genre", "clean documents", "mean surprisal"], clean_g)
    mean_table("... and its rise from a clean document to its spun copy, rate 0.30",
               ["spinner", "pairs", "mean rise"], shift)


def mean_table(title, cols, groups):
    """One row per (language, words, name) group: its size and mean."""
    print(f"\n{title}\n")
    print(f"| language | words | {' | '.join(cols)} |")
    print("| --- | ---: | --- | ---: | ---: |")
    for key in sorted(groups):
        v = groups[key]
        print(f"| {key[0]} | {key[1]} | {key[2]} | {len(v)} | {sum(v) / len(v):.2f} |")


if __name__ == "__main__":
    main()
