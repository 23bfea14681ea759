#!/bin/bash
# E1b Self-improvement beyond the demonstrations (docs/selfplay.md#e1b). A small model
# imitates noisy demonstrations (operands of up to D = 5 digits, 10% carry a slip) in the
# reversed-digit format, then `veritas self-improve` rounds ask problems one digit longer
# than it has mastered, keep the answers a filter accepts and fine-tune on them. Arms, each
# from the same imitation model, each for every seed:
#   imitation  --filter none      the same fine-tuning steps on the demonstrations only
#   verifier   --filter verifier  keep a verified-correct answer per problem
#   majority   --filter majority  keep the answer most of the k samples agree on (no verifier)
#   mul1       --op mul1 --filter verifier   multiplication by a 1-digit number
#   columns    (seed 1 only) the column format of E1, --filter verifier: does it extend?
# Every run writes rounds.jsonl with greedy accuracy per length (1..32 digits) after each
# round; experiments/report_e1b.py turns them into docs/selfplay/e1b.md and its plots.
#   experiments/e1b_self_improve.sh [OUT]      (default experiments/out/e1b)
# Killed at any point, the same command continues where it stopped.
source "$(dirname "$0")/lib.sh"
OUT=${1:-$ROOT/experiments/out/e1b}
D=${D:-5}
SEEDS=${SEEDS:-"1 2"}
N_DEMOS=${N_DEMOS:-20000}
IMIT_STEPS=${IMIT_STEPS:-1500}
ROUNDS=${ROUNDS:-16}
STEPS=${STEPS:-60}
QUESTIONS=${QUESTIONS:-96}
K=${K:-4}
TEMP=${TEMP:-0.7}
THRESHOLD=${THRESHOLD:-0.8}
LR=${LR:-5e-4}
EVAL_N=${EVAL_N:-20}
EVAL_LENGTHS=${EVAL_LENGTHS:-"1 2 3 4 5 6 7 8 9 10 12 14 16 18 20 24 28 32"}
ARMS=${ARMS:-"imitation verifier majority mul1"}
COLUMNS_ROUNDS=${COLUMNS_ROUNDS:-4}
THREADS=${THREADS:-1}
mkdir -p "$OUT"
CPU="$OUT/cpu.log"
# The seeds' pipelines run side by side: each keeps its own `times` file.
children_cpu() {
  local f="$OUT/.times.$BASHPID"
  times > "$f"
  CHILD_CPU=$(tail -1 "$f" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } print s }')
}
SHAPE=(--hidden-size 128 --layers 4 --heads 4 --intermediate-size 384 --max-seq-len 512)

log "E1b: demonstrations (up to $D digits, 10% slips) and tokenizer"
for op in add mul1; do
  demos "$OUT/demos-$op.jsonl" --op "$op" --format reversed --max-digits "$D" --n "$N_DEMOS" --error-rate 0.1 \
    --error-kind slip --seed 1
done
demos "$OUT/demos-columns.jsonl" --op add --format columns --max-digits "$D" --n "$N_DEMOS" --error-rate 0.1 \
  --error-kind slip --seed 1
tokenizer "$OUT/tok.json" "$OUT/demos-add.jsonl" "$OUT/demos-mul1.jsonl" "$OUT/demos-columns.jsonl"

# imitation DIR DEMOS SEED SEQ: a fresh model trained on the demonstrations (resumable).
imitation() {
  local out=$1 data=$2 seed=$3 seq=${4:-64}
  if [ -e "$out/checkpoint/model.safetensors" ] && [ "$(sft_steps "$out")" -ge "$IMIT_STEPS" ]; then return; fi
  local resume=()
  [ -e "$out/checkpoint" ] && resume=(--resume)
  cpu "$CPU" "$(basename "$out")" "$VT" train --sft "$data" --tokenizer "$OUT/tok.json" "${SHAPE[@]}" --seq "$seq" \
    --batch 32 --steps "$IMIT_STEPS" --warmup 50 --lr 3e-3 --eval-every 0 --save-every 250 --seed "$seed" \
    --threads "$THREADS" --out "$out" "${resume[@]}" >&2
}

# improve DIR ARGS...: veritas self-improve, resumed when DIR holds part of the run.
improve() {
  local out=$1; shift
  [ -s "$out/done" ] && return
  if [ -e "$out/checkpoint" ]; then "$VT" self-improve --resume -o "$out" --threads "$THREADS" >&2
  else "$VT" self-improve -o "$out" --threads "$THREADS" "$@" >&2; fi
  echo ok > "$out/done"
}

# One seed's pipeline: imitation models, then the arms.
pipeline() {
  local s=$1
  local common=(--rounds "$ROUNDS" --steps "$STEPS" --questions "$QUESTIONS" --k "$K" --temperature "$TEMP"
    --threshold "$THRESHOLD" --lr "$LR" --start-level $((D + 1)) --max-level 40 --batch 32 --seq 128
    --eval-n "$EVAL_N" --seed "$s")
  imitation "$OUT/imitation-add-s$s" "$OUT/demos-add.jsonl" "$s"
  for arm in $ARMS; do
    case $arm in
      imitation) f=none; op=add ;;
      verifier) f=verifier; op=add ;;
      majority) f=majority; op=add ;;
      mul1) f=verifier; op=mul1; imitation "$OUT/imitation-mul1-s$s" "$OUT/demos-mul1.jsonl" "$s" ;;
    esac
    log "E1b: seed $s, arm $arm"
    cpu "$CPU" "$arm-s$s" improve "$OUT/$arm-s$s" --model "$OUT/imitation-$op-s$s" --demos "$OUT/demos-$op.jsonl" \
      --op "$op" --format reversed --filter "$f" "${common[@]}" --eval-lengths $EVAL_LENGTHS
  done
  if [ "$s" = 1 ] && [ "$COLUMNS_ROUNDS" -gt 0 ]; then
    imitation "$OUT/imitation-columns-s1" "$OUT/demos-columns.jsonl" 1 160
    log "E1b: the column format, verifier, $COLUMNS_ROUNDS rounds"
    local cols=("${common[@]}")
    cols[1]=$COLUMNS_ROUNDS
    cpu "$CPU" "columns-s1" improve "$OUT/columns-s1" --model "$OUT/imitation-columns-s1" \
      --demos "$OUT/demos-columns.jsonl" --op add --format columns --filter verifier "${cols[@]}" \
      --eval-lengths 1 2 3 4 5 6 7 8 10
  fi
}

# The seeds run side by side (one thread each: a tiny model gains little from more).
pids=()
for s in $SEEDS; do
  pipeline "$s" 2> "$OUT/log-s$s.txt" &
  pids+=($!)
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
[ $status = 0 ] || { echo "E1b: a pipeline failed; see $OUT/log-s*.txt" >&2; exit 1; }
log "E1b: done; tables and plots: $PY $ROOT/experiments/report_e1b.py"
