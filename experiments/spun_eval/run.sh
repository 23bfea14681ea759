#!/usr/bin/env bash
# The spun detector on text it was not fitted on: modern clean genres and spinners other
# than the fitted one (make_sets.py says which), scored by the statistical detector alone
# (every document) and with the language-model evidence (up to LM_DOCS clean documents
# per genre and length and their spun copies: the model costs 0.5-3 s a document).
# Tables: OUT/report-stat.md, OUT/report-lm.md (combined score), OUT/report-lm-only.md
# (the model's evidence alone), OUT/report-loso*.md (fitted on one spinner, tested on the
# other; report-loso-relative.md with document-relative features, within_doc.py). Each
# step is skipped when its output exists, so a killed run resumes.
#
#   scripts/setup --spun-eval && experiments/spun_eval/run.sh [OUT]   (default experiments/out/spun-eval)
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-experiments/out/spun-eval}
LM_DOCS=${LM_DOCS:-40}
PY=.venv/bin/python
mkdir -p "$OUT"

[ -s "$OUT/sets.jsonl" ] || $PY experiments/spun_eval/make_sets.py "$OUT/sets.jsonl"
[ -s "$OUT/scored.jsonl" ] || build/veritas curate score-spun -i "$OUT/sets.jsonl" -o "$OUT/scored.jsonl"
$PY experiments/spun_eval/report.py "$OUT/scored.jsonl" > "$OUT/report-stat.md"

# The language-model subset: the first LM_DOCS clean documents of each genre and length.
if [ ! -s "$OUT/lm-sets.jsonl" ]; then
  $PY - "$OUT/sets.jsonl" "$OUT/lm-sets.jsonl" "$LM_DOCS" <<'EOF'
import collections, json, sys
rows = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
n, keep = collections.Counter(), set()
for r in rows:
    key = (r["lang"], r["genre"], r["length"])
    if r["spinner"] == "none" and n[key] < int(sys.argv[3]):
        n[key] += 1
        keep.add(r["id"])
with open(sys.argv[2] + ".tmp", "w", encoding="utf-8") as f:
    for r in rows:
        if "-".join(r["id"].split("-")[:4]) in keep:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
import os; os.replace(sys.argv[2] + ".tmp", sys.argv[2])
EOF
fi
[ -s "$OUT/lm-scored.jsonl" ] || build/veritas curate score-spun -i "$OUT/lm-sets.jsonl" -o "$OUT/lm-scored.jsonl" --lm-en auto --lm-zh auto
$PY experiments/spun_eval/report.py "$OUT/lm-scored.jsonl" > "$OUT/report-stat-subset.md"
$PY experiments/spun_eval/report.py "$OUT/lm-scored.jsonl" --score spun.lm.prob > "$OUT/report-lm.md"
$PY experiments/spun_eval/report.py "$OUT/lm-scored.jsonl" --score spun.lm.lm_prob > "$OUT/report-lm-only.md"

# Leave one spinner out: fitted on one spinner of the evaluation's modern text, tested on
# the other (loso.py says how).
$PY experiments/spun_eval/loso.py "$OUT/lm-scored.jsonl" > "$OUT/report-loso.md"
$PY experiments/spun_eval/loso.py "$OUT/lm-scored.jsonl" --combined > "$OUT/report-loso-combined.md"
# Document-relative features (within_doc.py) from each content token's evidence, on the
# 300-word documents of the language-model subset: leave one spinner out with the eight
# features, then with the six relative ones added.
if [ ! -s "$OUT/pt-scored.jsonl" ]; then
  $PY -c 'import json, sys
for l in open(sys.argv[1], encoding="utf-8"):
    if json.loads(l)["length"] == 300: sys.stdout.write(l)' "$OUT/lm-sets.jsonl" > "$OUT/pt-sets.jsonl"
  build/veritas curate score-spun -i "$OUT/pt-sets.jsonl" -o "$OUT/pt-scored.jsonl" --lm-en auto --lm-zh auto --per-token
fi
[ -s "$OUT/pt-relative.jsonl" ] || $PY experiments/spun_eval/within_doc.py "$OUT/pt-scored.jsonl" "$OUT/pt-relative.jsonl"
$PY experiments/spun_eval/loso.py "$OUT/pt-relative.jsonl" > "$OUT/report-loso-300.md"
$PY experiments/spun_eval/loso.py "$OUT/pt-relative.jsonl" --relative > "$OUT/report-loso-relative.md"
echo "spun-eval: tables in $OUT/report-*.md"
