#!/bin/bash
# E1 Beyond imitation (docs/selfplay.md#e1). A small model imitates noisy "human"
# demonstrations of column addition and long multiplication up to D digits (10% carry a
# random slip, 5-10% say "I don't know"). From that model, two arms trained on the same
# number of answer tokens:
#   imitation: more SFT on the same demonstrations;
#   self-play: veritas selfplay (verified rewards, curriculum from D up to 2D digits).
# Every CHUNK rounds both arms are scored on a fixed test set (the accuracy-vs-compute
# curve of E4); at the end on test questions of 1..2D digits.
#   experiments/e1_beyond_imitation.sh [OUT]      (default experiments/out/e1)
source "$(dirname "$0")/lib.sh"
OUT=${1:-$ROOT/experiments/out/e1}
D=${D:-2}
IMIT_STEPS=${IMIT_STEPS:-1200}
ROUNDS=${ROUNDS:-160}
CHUNK=${CHUNK:-40}
ALGO=${ALGO:-expert}
SP_LR=${SP_LR:-3e-4}
LAMBDA=${LAMBDA:-1}
EPOCHS=${EPOCHS:-1}
PROPOSER=${PROPOSER:-curriculum}
mkdir -p "$OUT"
CPU="$OUT/cpu.log"
# FROM=DIR: reuse another E1 run's data and imitation model (to compare self-play settings).
if [ -n "${FROM:-}" ]; then
  for f in demos.jsonl propose.jsonl train.jsonl tok.json imitation curve/imitation-0; do
    mkdir -p "$(dirname "$OUT/$f")"
    [ -e "$OUT/$f" ] || ln -s "$(cd "$FROM" && pwd)/$f" "$OUT/$f"
  done
  [ -e "$CPU" ] || grep "^imitation " "$FROM/cpu.log" > "$CPU" 2>/dev/null || true
fi

log "E1: demonstrations (D=$D, 10% slips, abstentions) and tokenizer"
demos "$OUT/demos.jsonl" --op mix --max-digits "$D" --n 20000 --error-rate 0.1 --error-kind slip --abstain-rate 0.05 --seed 1
proposer_demos "$OUT/demos.jsonl" "$OUT/propose.jsonl" 1000
[ -s "$OUT/train.jsonl" ] || cat "$OUT/demos.jsonl" "$OUT/propose.jsonl" > "$OUT/train.jsonl"
tokenizer "$OUT/tok.json" "$OUT/demos.jsonl"

log "E1: imitation ($IMIT_STEPS steps)"
if [ ! -e "$OUT/imitation/checkpoint" ] || [ "$(sft_steps "$OUT/imitation")" -lt "$IMIT_STEPS" ]; then
  cpu "$CPU" imitation imitate "$OUT/imitation" "$OUT/train.jsonl" "$OUT/tok.json" "$IMIT_STEPS"
fi
[ "$ROUNDS" -gt 0 ] || exit 0  # ROUNDS=0: only the imitation model (E3 starts from it)
PER_STEP=$($PY -c 'import json,sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(max(1, round(sum(r.get("tokens", 0) for r in rows) / len(rows))))' "$OUT/imitation/metrics.jsonl")

CURVE_SET="add mul"
CURVE_DIGITS="$D $((2 * D))"
grid "$OUT/imitation" "$OUT/curve/imitation-0" 50 "$CURVE_SET" "$CURVE_DIGITS"
for ((r = CHUNK; r <= ROUNDS; r += CHUNK)); do
  if [ ! -s "$OUT/curve/selfplay-$r/summary.json" ]; then
    log "E1: self-play to round $r"
    cpu "$CPU" "selfplay-$r" selfplay "$OUT/selfplay" --model "$OUT/imitation" --suites add mul --rounds "$r" \
      --questions 16 --k 8 --algo "$ALGO" --lr "$SP_LR" --lambda "$LAMBDA" --epochs "$EPOCHS" --proposer "$PROPOSER" --start-level "$D" --max-level $((2 * D)) --max-tokens 200 --seed 1
    grid "$OUT/selfplay" "$OUT/curve/selfplay-$r" 50 "$CURVE_SET" "$CURVE_DIGITS"
  fi
  # The imitation arm: as many trained answer tokens as self-play has used so far.
  if [ ! -s "$OUT/curve/imitation-$r/summary.json" ]; then
    SP_TOKENS=$(selfplay_tokens "$OUT/selfplay")
    STEPS=$(( (SP_TOKENS + PER_STEP - 1) / PER_STEP ))
    log "E1: imitation arm to $STEPS extra steps (~$SP_TOKENS answer tokens, as self-play)"
    resume=()
    [ -e "$OUT/imitation-more/checkpoint" ] && resume=(--resume)
    cpu "$CPU" "imitation-$r" "$VT" train --sft "$OUT/train.jsonl" --tokenizer "$OUT/tok.json" --init-from "$OUT/imitation" \
      --seq 128 --batch 32 --steps "$STEPS" --warmup 0 --lr 3e-4 --min-lr 3e-4 --eval-every 0 --seed 2 \
      --out "$OUT/imitation-more" "${resume[@]}"
    grid "$OUT/imitation-more" "$OUT/curve/imitation-$r" 50 "$CURVE_SET" "$CURVE_DIGITS"
  fi
done

log "E1: evaluation on test questions of 1..$((2 * D)) digits"
DIGITS=$(seq -s ' ' 1 $((2 * D)))
grid "$OUT/imitation" "$OUT/eval-imitation" 100 "add mul" "$DIGITS"
grid "$OUT/imitation-more" "$OUT/eval-imitation-more" 100 "add mul" "$DIGITS"
grid "$OUT/selfplay" "$OUT/eval-selfplay" 100 "add mul" "$DIGITS"
log "E1: done; tables and plots: $PY $ROOT/experiments/report.py"
