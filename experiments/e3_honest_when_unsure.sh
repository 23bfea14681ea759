#!/bin/bash
# E3 Honest when unsure (docs/selfplay.md#e3). E1's imitation model (which has seen a few
# "I don't know" demonstrations) meets questions it cannot answer: impossible and
# false-premise questions, and sums and products longer than any it was shown. Self-play
# with GRPO and a wrong answer costing lambda = 3 (answering pays only above 75%
# confidence) should turn wrong answers into abstentions. The KL term to the starting
# model (beta = 0.2) keeps it from collapsing into abstaining on everything (docs/selfplay.md#e3).
#   experiments/e3_honest_when_unsure.sh [OUT]      (default experiments/out/e3)
source "$(dirname "$0")/lib.sh"
OUT=${1:-$ROOT/experiments/out/e3}
E1=${E1:-$ROOT/experiments/out/e1}
D=${D:-2}
ROUNDS=${ROUNDS:-60}
LAMBDA=${LAMBDA:-3}
mkdir -p "$OUT"
CPU="$OUT/cpu.log"
[ -e "$E1/imitation/checkpoint/model.safetensors" ] || { log "E3 starts from E1's imitation model: running E1 first"; ROUNDS=0 "$ROOT/experiments/e1_beyond_imitation.sh" "$E1"; }

log "E3: self-play (GRPO, lambda $LAMBDA, $ROUNDS rounds)"
cpu "$CPU" selfplay selfplay "$OUT/selfplay" --model "$E1/imitation" --suites add mul impossible --rounds "$ROUNDS" \
  --questions 12 --k 8 --algo grpo --lambda "$LAMBDA" --kl "${KL:-0.2}" --lr "${SP_LR:-2e-4}" --epochs 2 --start-level "$D" \
  --max-level $((2 * D)) --max-tokens 200 --seed 3

log "E3: evaluation before and after"
for arm in before after; do
  m="$OUT/selfplay"
  [ $arm = before ] && m="$E1/imitation"
  grid "$m" "$OUT/eval-$arm" 100 "add mul" "$(seq -s ' ' "$D" $((2 * D)))"
  [ -s "$OUT/eval-$arm/impossible/results.json" ] || "$VT" eval --model "$m" --suite impossible --n 100 --split test \
    --difficulty '{"lang": "en"}' --no-system-prompt --max-tokens 200 -o "$OUT/eval-$arm/impossible" >/dev/null 2>&1
done
log "E3: done; tables and plots: $PY $ROOT/experiments/report.py"
