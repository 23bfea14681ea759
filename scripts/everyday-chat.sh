#!/usr/bin/env bash
# A model's greedy replies to the fixed everyday chat prompts (prompts/everyday-chat.jsonl),
# one JSON line each: the general-ability check shown beside the truth evaluation
# (a model fine-tuned for honesty should still answer everyday questions as before).
# Usage: scripts/everyday-chat.sh MODEL OUT.jsonl [MAX_TOKENS=64]
# PRECISION (default fp32) is passed to veritas sample; VERITAS names the binary.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 MODEL OUT.jsonl [MAX_TOKENS]" >&2; exit 2; }
model=$1 out=$2 max_tokens=${3:-64}
bin=${VERITAS:-build/veritas}
prompts=$(dirname "$0")/../prompts/everyday-chat.jsonl
tmp="$out.tmp"
: > "$tmp"
while IFS= read -r line; do
  prompt=$(printf '%s' "$line" | python3 -c 'import json, sys; print(json.load(sys.stdin)["prompt"], end="")')
  reply=$("$bin" sample --model "$model" --precision "${PRECISION:-fp32}" --chat --temperature 0 \
    --max-tokens "$max_tokens" --quiet --prompt "$prompt")
  printf '%s' "$reply" | python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["reply"] = sys.stdin.read(); print(json.dumps(d, ensure_ascii=False))' "$line" >> "$tmp"
done < "$prompts"
mv "$tmp" "$out"
echo "wrote $(wc -l < "$out") replies to $out" >&2
