#!/bin/bash
# E2 Truth over popularity (docs/selfplay.md#e2). 60% of the addition demonstrations
# follow one coherent false rule (every carry is dropped: 58 + 67 = 15), 40% are right.
# Imitation learns the majority; self-play, rewarded by the verifier, should not.
#   experiments/e2_truth_over_popularity.sh [OUT]      (default experiments/out/e2)
source "$(dirname "$0")/lib.sh"
OUT=${1:-$ROOT/experiments/out/e2}
D=${D:-2}
IMIT_STEPS=${IMIT_STEPS:-800}
ROUNDS=${ROUNDS:-80}
mkdir -p "$OUT"
CPU="$OUT/cpu.log"

log "E2: demonstrations (60% drop every carry) and tokenizer"
demos "$OUT/demos.jsonl" --op add --max-digits "$D" --n 20000 --error-rate 0.6 --error-kind rule --rule drop_carry --seed 2
tokenizer "$OUT/tok.json" "$OUT/demos.jsonl"

log "E2: imitation ($IMIT_STEPS steps)"
if [ ! -e "$OUT/imitation/checkpoint" ] || [ "$(sft_steps "$OUT/imitation")" -lt "$IMIT_STEPS" ]; then
  cpu "$CPU" imitation imitate "$OUT/imitation" "$OUT/demos.jsonl" "$OUT/tok.json" "$IMIT_STEPS"
fi

log "E2: self-play ($ROUNDS rounds)"
# lambda = 0: this experiment is about true versus popular answers, so a wrong answer costs
# no more than an abstention (E3 is about abstaining).
cpu "$CPU" selfplay selfplay "$OUT/selfplay" --model "$OUT/imitation" --suites add --rounds "$ROUNDS" --questions 24 --k 8 \
  --algo "${ALGO:-grpo}" --lambda 0 --lr "${SP_LR:-2e-4}" --epochs 2 --start-level "$D" --max-level "$D" --max-tokens 160 --seed 2

log "E2: evaluation"
for arm in imitation selfplay; do grid "$OUT/$arm" "$OUT/eval-$arm" 200 add "$(seq -s ' ' 1 "$D")"; done
log "E2: done; tables and plots: $PY $ROOT/experiments/report.py"
