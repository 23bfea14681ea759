#!/bin/bash
# E5 Truth on a real model (docs/selfplay.md#e5): SmolLM2-135M-Instruct (installed by
# scripts/setup) taught the answer protocol on verifier-checked demonstrations (the last 4
# of 30 blocks: the format phase); then graded — K answers sampled per train-split
# question, at the default difficulty and at each suite's easiest, and scored by the
# verifiers — and taught the confidence it earned, abstaining where its share of right
# answers is below 1/2 and refusing questions without an answer with Confidence 1 (the
# calibration phase); then self-play against the verifiers (GRPO, KL-anchored to the
# calibrated model; a Brier term rewards a stated confidence that matches the verdict).
# Both SFT phases mix in the starting model's own replies to general prompts
# (prompts/replay.jsonl, sampled at temperature 1), which anchor the rest of its
# behaviour. Every model is scored on the same held-out questions (N per suite and
# language), with the held-out perplexity (English and Chinese fortunes) and the 20
# everyday chat prompts as the general-ability check. CPU seconds of every step go to
# cpu.log; experiments/report_e5.py writes the tables and curves.
#   experiments/e5_real_model.sh [OUT]      (default experiments/out/e5; about an hour on 2 cores)
source "$(dirname "$0")/lib.sh"
OUT=${1:-$ROOT/experiments/out/e5}
STEPS=${STEPS:-150}
ROUNDS=${ROUNDS:-10}
N=${N:-8}
GRADE_N=${GRADE_N:-24}        # train-split questions per suite and language graded, at each of two difficulties
GRADE_K=${GRADE_K:-4}         # answers sampled per graded question
CALIB_STEPS=${CALIB_STEPS:-150}
REPEAT=${REPEAT:-3}           # each claim (an answer, a refusal) written this many times
PROMPT=${PROMPT:-$ROOT/prompts/answer-protocol/v5}
REPLAY_SEEDS=${REPLAY_SEEDS:-1 2 3 4}  # the starting model's replies to prompts/replay.jsonl: one set per seed
REPLAY_CALIB=${REPLAY_CALIB:-1}   # copies of those replies in the calibration mix (1: 18% of it; 3: 39%, as in the format mix)
PLAIN_ZH=${PLAIN_ZH:-0}           # Chinese prose the starting model continues, mixed into calibration (experiments/plain_replay.py)
PLAIN_CALIB=${PLAIN_CALIB:-1}     # copies of those continuations in the calibration mix
mkdir -p "$OUT"
CPU="$OUT/cpu.log"
M=$(find -L "$ROOT/.venv" -name 'SmolLM2-135M-Instruct.Q4_1.gguf' -print -quit)
[ -n "$M" ] || { echo "SmolLM2-135M-Instruct is not installed: run scripts/setup" >&2; exit 1; }

log "E5: import $M"
[ -s "$OUT/base/model.safetensors" ] || cpu "$CPU" import "$VT" import "$M" -o "$OUT/base" >&2
# The starting model's own replies (temperature 1: samples of its distribution, so
# learning them pulls the model back toward it and nowhere else).
# REPLAY_SEEDS: one reply per prompt and seed.
if [ ! -s "$OUT/replay.jsonl" ]; then
  for seed in $REPLAY_SEEDS; do
    [ -s "$OUT/replay-$seed.jsonl" ] || cpu "$CPU" "replay-$seed" "$VT" sample --model "$OUT/base" \
      --prompts "$ROOT/prompts/replay.jsonl" --precision bf16 --temperature 1 --seed "$seed" --max-tokens 128 \
      -o "$OUT/replay-$seed.jsonl" >&2
  done
  (for seed in $REPLAY_SEEDS; do cat "$OUT/replay-$seed.jsonl"; done) > "$OUT/replay.tmp" && mv "$OUT/replay.tmp" "$OUT/replay.jsonl"
fi
[ -s "$OUT/sft.jsonl" ] || "$VT" tasks protocol-demos --prompt "$PROMPT" --n 24 --mix "$OUT/replay.jsonl" -o "$OUT/sft.jsonl"

# sft_phase NAME FROM DATA STEPS: SFT of the last 4 blocks from FROM's weights into
# $OUT/NAME (resumed after a kill).
sft_phase() {
  local name=$1 from=$2 data=$3 steps=$4
  log "E5: $name phase ($steps SFT steps, last 4 blocks)"
  [ -e "$OUT/.done-$name" ] && return
  local resume=(); [ -e "$OUT/$name/checkpoint" ] && resume=(--resume)
  cpu "$CPU" "$name" "$VT" train --init-from "$from" --sft "$data" --tokenizer "$OUT/base/tokenizer.json" \
    --train-layers 4 --steps "$steps" --batch 4 --seq 192 --lr 1e-4 --warmup 10 --eval-every 0 --save-every 25 \
    --out "$OUT/$name" "${resume[@]}"
  touch "$OUT/.done-$name"
}

sft_phase format "$OUT/base" "$OUT/sft.jsonl" "$STEPS"

log "E5: grading ($GRADE_K samples of $((GRADE_N * 24)) train-split questions)"
if [ ! -s "$OUT/grade-tasks.jsonl" ]; then
  "$VT" tasks protocol-demos --tasks-only --split train --n "$GRADE_N" -o "$OUT/grade-hard.jsonl"
  "$VT" tasks protocol-demos --tasks-only --split train --n "$GRADE_N" --easy --seed 300 -o "$OUT/grade-easy.jsonl"
  cat "$OUT/grade-hard.jsonl" "$OUT/grade-easy.jsonl" > "$OUT/grade-tasks.tmp" && mv "$OUT/grade-tasks.tmp" "$OUT/grade-tasks.jsonl"
fi
[ -s "$OUT/grade/results.json" ] || cpu "$CPU" grade "$VT" eval --tasks "$OUT/grade-tasks.jsonl" --model "$OUT/format" \
  --prompt "$PROMPT" -k "$GRADE_K" --sample-temperature 0.3 --max-tokens 40 --seed 7 -o "$OUT/grade" >/dev/null
if [ ! -s "$OUT/calib.jsonl" ]; then
  replay_mix=(); for _ in $(seq "$REPLAY_CALIB"); do replay_mix+=(--mix "$OUT/replay.jsonl"); done
  "$VT" tasks protocol-demos --prompt "$PROMPT" --n "$GRADE_N" --easy --seed 300 --graded "$OUT/grade/answers.jsonl" \
    --repeat-answered "$REPEAT" -o "$OUT/calib-easy.jsonl"
  "$VT" tasks protocol-demos --prompt "$PROMPT" --n "$GRADE_N" --graded "$OUT/grade/answers.jsonl" \
    --repeat-answered "$REPEAT" --mix "$OUT/calib-easy.jsonl" "${replay_mix[@]}" -o "$OUT/calib-demos.jsonl"
  plain=()
  if [ "$PLAIN_ZH" -gt 0 ]; then
    [ -s "$OUT/plain-zh.jsonl" ] || cpu "$CPU" plain-zh $PY "$ROOT/experiments/plain_replay.py" "$VT" "$OUT/base" "$PLAIN_ZH" \
      "$OUT/plain-zh.jsonl" >&2
    for _ in $(seq "$PLAIN_CALIB"); do plain+=("$OUT/plain-zh.jsonl"); done
  fi
  cat "$OUT/calib-demos.jsonl" "${plain[@]}" > "$OUT/calib.tmp" && mv "$OUT/calib.tmp" "$OUT/calib.jsonl"
fi

sft_phase calib "$OUT/format" "$OUT/calib.jsonl" "$CALIB_STEPS"

log "E5: self-play ($ROUNDS GRPO rounds)"
if [ ! -e "$OUT/.done-selfplay" ]; then
  if [ -e "$OUT/selfplay/checkpoint" ]; then
    cpu "$CPU" selfplay "$VT" selfplay --resume -o "$OUT/selfplay"
  else
    cpu "$CPU" selfplay "$VT" selfplay --model "$OUT/calib" --prompt "$PROMPT" \
      --suites arith algebra units physics facts impossible --questions 3 -k 4 --rounds "$ROUNDS" --max-tokens 40 \
      --context 320 --micro-batch 4 --train-layers 4 --kl 0.05 --lr 1e-5 --brier 1 --lang mix --time-limit 3600 -o "$OUT/selfplay"
  fi
  touch "$OUT/.done-selfplay"
fi

for m in base format calib selfplay; do
  log "E5: $m: held-out questions, perplexity, everyday chat"
  [ -s "$OUT/eval-$m/results.json" ] || cpu "$CPU" "eval-$m" env PRECISION=fp32 VERITAS="$VT" \
    "$ROOT/scripts/real-model-eval.sh" "$OUT/$m" "$PROMPT" "$N" 40 "$OUT/eval-$m" >/dev/null 2>&1
  for lang in en zh; do
    f=/usr/share/games/fortunes/literature; [ $lang = zh ] && f=/usr/share/games/fortunes/chinese
    [ -s "$OUT/ppl-$m-$lang.json" ] || "$VT" perplexity --model "$OUT/$m" --text "$f" --max-bytes 40000 \
      > "$OUT/ppl-$m-$lang.json"
  done
  [ -s "$OUT/chat-$m.jsonl" ] || VERITAS="$VT" "$ROOT/scripts/everyday-chat.sh" "$OUT/$m" "$OUT/chat-$m.jsonl" 48
done
$PY "$ROOT/experiments/report_e5.py" "$OUT"
