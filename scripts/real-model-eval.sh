#!/usr/bin/env bash
# Evaluates a GGUF model on every suite, in English and Chinese, with one prompt set
# (docs/real-model.md): N test-split questions per suite and language (each suite's
# default mix of difficulty knobs), greedy decoding, at most MAX_TOKENS per answer.
# Usage: scripts/real-model-eval.sh MODEL.gguf PROMPT_DIR|builtin N MAX_TOKENS OUT
# MODEL may also be a checkpoint folder (veritas import, a fine-tuned run): set
# PRECISION=fp32 (or bf16, int8) then; the default is gguf.
set -euo pipefail
[ $# -eq 5 ] || { echo "usage: $0 MODEL.gguf PROMPT_DIR|builtin N MAX_TOKENS OUT" >&2; exit 2; }
model=$1 prompt=$2 n=$3 max_tokens=$4 out=$5
bin=${VERITAS:-build/veritas}
precision=${PRECISION:-gguf}
mkdir -p "$out"
tasks="$out/tasks.jsonl"
: > "$tasks"
for suite in arith algebra units physics facts impossible; do
  seed=1
  for lang in en zh; do  # one seed per language: task ids stay unique
    "$bin" tasks generate --suite "$suite" --split test --seed "$seed" --n "$n" \
      --difficulty "{\"lang\":\"$lang\"}" -o - >> "$tasks"
    seed=$((seed + 1))
  done
done
prompt_args=()
[ "$prompt" = builtin ] || prompt_args=(--prompt "$prompt")
"$bin" eval --tasks "$tasks" --model "$model" --precision "$precision" --max-tokens "$max_tokens" \
  "${prompt_args[@]}" -o "$out"
