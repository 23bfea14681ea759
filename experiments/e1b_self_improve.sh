#!/bin/bash
# E1b Self-improvement beyond the demonstrations (docs/selfplay.md, E1b). A small model
# imitates noisy demonstrations (both operands of one length 1..D, 10% carry a slip) in
# FORMAT (reversed: digits ones first, no steps; marked: reversed with a letter naming each
# digit's place; shuffled: marked, the question's (letter, digit) pairs in random order;
# columns: worked column steps), then
# `veritas self-improve` rounds ask problems one digit longer
# than it has mastered, keep the answers a filter accepts and fine-tune on them. Arms, each
# from the same imitation model, each for every seed:
#   imitation  --filter none      the same fine-tuning steps on the demonstrations only
#   verifier   --filter verifier  keep a verified-correct answer per problem
#   majority   --filter majority  keep the answer most of the k samples agree on (no verifier)
#   mul1       --op mul1 --filter verifier   multiplication by a 1-digit number
#   OTHER      (seed 1 only) the other format's imitation model and verifier arm, OTHER_ROUNDS
#              rounds (the format comparison)
# Every run writes rounds.jsonl with greedy accuracy per length (EVAL_LENGTHS) after each
# round; experiments/report_e1b.py turns them into docs/selfplay/e1b.md and its plots.
#   experiments/e1b_self_improve.sh [OUT]      (default experiments/out/e1b)
# The 2026-12-05 runs (docs/selfplay.md, E1b): the defaults (reversed), and
#   FORMAT=marked OTHER=marked IMIT_SEQ=64 SEQ=192 IMIT_STEPS=8000 ARMS="verifier majority imitation" \
#   EVAL_LENGTHS="1 2 3 4 5 6 7 8 10 12 14 16 18 20 22 24" experiments/e1b_self_improve.sh experiments/out/e1b-marked
# and the third attempt:
#   FORMAT=shuffled OTHER=shuffled ARMS=verifier ROUNDS=80 IMIT_SEQ=64 SEQ=192 IMIT_STEPS=8000 \
#   EVAL_LENGTHS="1 2 3 4 5 6 7 8 10 12 14 16 18 20 22 24" experiments/e1b_self_improve.sh experiments/out/e1b-shuffled
# and the fourth (2026-12-06; the same imitation models, the frontier recipe; then the ranged format):
#   FORMAT=shuffled OTHER=shuffled ARMS=verifier ROUNDS=300 IMIT_SEQ=64 SEQ=192 IMIT_STEPS=8000 QUESTIONS=384 \
#   LOOKAHEAD=0.25 FRONTIER=0.3 THRESHOLD=0.7 EVAL_LENGTHS="1 2 3 4 5 6 7 8 10 12 14 16 18 20 22 24" \
#   experiments/e1b_self_improve.sh experiments/out/e1b-frontier
#   FORMAT=ranged OTHER=ranged SEEDS=1 IMIT_SEQ=80 (the rest as above) ... experiments/out/e1b-ranged
# and the fifth (the fourth's settings and folder, a third seed, then the majority vote):
#   SEEDS=3 ROUNDS=140 (the rest as the fourth) ... experiments/out/e1b-frontier
#   SEEDS=1 ARMS=majority ROUNDS=30 (the rest as the fourth) ... experiments/out/e1b-frontier
#   SEEDS=1 ARMS=mul1 MUL1_ROUNDS=70 (the rest as the fourth; stopped after round 57) ... experiments/out/e1b-frontier
# and the sixth (2026-12-07; the fourth's settings): × 1 digit, a second seed; mixed-length
# demonstrations; the tagged format (both stopped after their first rounds, docs/selfplay.md):
#   SEEDS=2 ARMS=mul1 MUL1_ROUNDS=80 (the rest as the fourth) ... experiments/out/e1b-sixth
#   SAME_LENGTH=0 SEEDS="1 2" ARMS=verifier (the rest as the fourth) ... experiments/out/e1b-mixed
#   FORMAT=tagged OTHER=tagged SEEDS=1 ARMS=verifier (the rest as the fourth) ... experiments/out/e1b-tagged
# and the seventh (2026-12-07; the fourth's settings): no position encoding (stopped during its
# imitation), then two more seeds of the fourth's recipe (stopped after rounds 73 and 59):
#   POS=none SEEDS=1 ARMS=verifier (the rest as the fourth) ... experiments/out/e1b-nope
#   SEEDS=4 ARMS=verifier ROUNDS=140 (the rest as the fourth) ... experiments/out/e1b-seventh
#   SEEDS=5 (the same) ... experiments/out/e1b-seventh
# and the eighth (2026-12-07; the fourth's settings): × 1 digit, seeds 3 and 4 side by side:
#   SEEDS="3 4" ARMS=mul1 MUL1_ROUNDS=80 (the rest as the fourth; seed 3 stopped after round 40) ... experiments/out/e1b-eighth
#   SEEDS=4 ARMS=mul1 MUL1_ROUNDS=110 (the same folder: resumes; stopped after round 102) ... experiments/out/e1b-eighth
# Killed at any point, the same command continues where it stopped.
source "$(dirname "$0")/lib.sh"
OUT=${1:-$ROOT/experiments/out/e1b}
D=${D:-5}
# 1: both operands of a demonstration share one length (the problems self-improve asks);
# 0: each operand's length drawn on its own, so the answer's last place is the question's
# highest mark, not a count of its pairs (the sixth attempt).
SAME_LENGTH=${SAME_LENGTH:-1}
SEEDS=${SEEDS:-"1 2"}
N_DEMOS=${N_DEMOS:-50000}
IMIT_STEPS=${IMIT_STEPS:-10000}
IMIT_BATCH=${IMIT_BATCH:-32}
IMIT_LR=${IMIT_LR:-1e-3}
ROUNDS=${ROUNDS:-24}
MUL1_ROUNDS=${MUL1_ROUNDS:-16}
STEPS=${STEPS:-100}
BATCH=${BATCH:-32}
QUESTIONS=${QUESTIONS:-96}
K=${K:-4}
TEMP=${TEMP:-0.7}
THRESHOLD=${THRESHOLD:-0.5}
LOOKAHEAD=${LOOKAHEAD:-0}   # share of each round's problems one digit above the level
FRONTIER=${FRONTIER:-0}     # share of the training draws for the answers kept at the level (--frontier-share)
START=${START:-0}           # first level; 0 = one past the imitation model's reliable lengths
LR=${LR:-5e-4}
EVAL_N=${EVAL_N:-20}
EVAL_LENGTHS=${EVAL_LENGTHS:-"1 2 3 4 5 6 7 8 10 12 14 16 18 20 24 28 32"}
ARMS=${ARMS:-"imitation verifier majority mul1"}
FORMAT=${FORMAT:-reversed}
OTHER=${OTHER:-columns}
OTHER_ROUNDS=${OTHER_ROUNDS:-0}  # > 0: the other format's imitation model and verifier arm (seed 1)
IMIT_SEQ=${IMIT_SEQ:-48}    # tokens per imitation sequence: a reversed 5-digit sum is ~40 (columns D=3: 128)
SEQ=${SEQ:-128}             # per self-improvement sequence: a reversed 32-digit sum is ~115 (columns: 256)
MAX_LEVEL=${MAX_LEVEL:-$(case $FORMAT in marked|shuffled|ranged|tagged) echo 25 ;; *) echo 40 ;; esac)}  # marks: 26 places (a-z)
THREADS=${THREADS:-1}
mkdir -p "$OUT"
CPU="$OUT/cpu.log"
# The seeds' pipelines run side by side: each keeps its own `times` file.
children_cpu() {
  local f="$OUT/.times.$BASHPID"
  times > "$f"
  CHILD_CPU=$(tail -1 "$f" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } print s }')
}
# 6 layers: with 4, reversed sums of 3+ digits were not learned in 12,000 steps (loss stuck at 0.59).
# POS=none: no position encoding (NoPE, the seventh attempt); rope otherwise.
SHAPE=(--hidden-size 128 --layers ${LAYERS:-6} --heads 4 --intermediate-size 384 --max-seq-len 512
  --position-encoding "${POS:-rope}")

log "E1b: demonstrations (up to $D digits, 10% slips) and tokenizer"
for fmt in $(printf "%s\n" "$FORMAT" "$OTHER" | sort -u); do
  for op in add mul1; do
    demos "$OUT/demos-$fmt-$op.jsonl" --op "$op" --format "$fmt" --max-digits "$D" $([ "$SAME_LENGTH" = 1 ] && echo --same-length) --n "$N_DEMOS" \
      --error-rate 0.1 --error-kind slip --seed 1
  done
done
tokenizer "$OUT/tok.json" "$OUT"/demos-*-*.jsonl

# imitation DIR DEMOS SEED SEQ: a fresh model trained on the demonstrations (resumable).
imitation() {
  local out=$1 data=$2 seed=$3 seq=$4
  if [ -e "$out/checkpoint/model.safetensors" ] && [ "$(sft_steps "$out")" -ge "$IMIT_STEPS" ]; then return; fi
  local resume=()
  [ -e "$out/checkpoint" ] && resume=(--resume)
  cpu "$CPU" "$(basename "$out")" "$VT" train --sft "$data" --tokenizer "$OUT/tok.json" "${SHAPE[@]}" --seq "$seq" \
    --batch "$IMIT_BATCH" --steps "$IMIT_STEPS" --warmup 100 --lr "$IMIT_LR" --eval-every 0 --save-every 500 --seed "$seed" \
    --threads "$THREADS" --out "$out" "${resume[@]}" >&2
}

# improve DIR ROUNDS ARGS...: veritas self-improve, resumed (and extended to ROUNDS) when
# DIR holds part of the run.
improve() {
  local out=$1 rounds=$2; shift 2
  if [ -e "$out/checkpoint" ]; then "$VT" self-improve --resume --rounds "$rounds" -o "$out" --threads "$THREADS" >&2
  else "$VT" self-improve -o "$out" --rounds "$rounds" --threads "$THREADS" "$@" >&2; fi
}

# One seed's pipeline: imitation models, then the arms.
pipeline() {
  local s=$1
  local common=(--steps "$STEPS" --questions "$QUESTIONS" --k "$K" --temperature "$TEMP"
    --threshold "$THRESHOLD" --lookahead "$LOOKAHEAD" --frontier-share "$FRONTIER" --lr "$LR" --start-level "$START" --max-level "$MAX_LEVEL" --batch "$BATCH" --seq "$SEQ"
    --eval-n "$EVAL_N" --seed "$s")
  for arm in $ARMS; do
    case $arm in
      imitation) f=none; op=add; r=$ROUNDS ;;
      verifier) f=verifier; op=add; r=$ROUNDS ;;
      majority) f=majority; op=add; r=$ROUNDS ;;
      mul1) f=verifier; op=mul1; r=$MUL1_ROUNDS ;;
    esac
    # Each operation's imitation model is trained once, when an arm first needs it.
    imitation "$OUT/imitation-$FORMAT-$op-s$s" "$OUT/demos-$FORMAT-$op.jsonl" "$s" "$IMIT_SEQ"
    log "E1b: seed $s, arm $arm"
    cpu "$CPU" "$arm-s$s" improve "$OUT/$arm-s$s" "$r" --model "$OUT/imitation-$FORMAT-$op-s$s" \
      --demos "$OUT/demos-$FORMAT-$op.jsonl" --op "$op" --format "$FORMAT" --filter "$f" "${common[@]}" \
      --eval-lengths $EVAL_LENGTHS
  done
  if [ "$s" = 1 ] && [ "$OTHER_ROUNDS" -gt 0 ]; then
    imitation "$OUT/imitation-$OTHER-add-s1" "$OUT/demos-$OTHER-add.jsonl" 1 "$(case $OTHER in reversed) echo 48 ;; marked|shuffled|ranged|tagged) echo 64 ;; *) echo 128 ;; esac)"
    log "E1b: the $OTHER format, verifier, $OTHER_ROUNDS rounds"
    cpu "$CPU" "$OTHER-s1" improve "$OUT/$OTHER-s1" "$OTHER_ROUNDS" --model "$OUT/imitation-$OTHER-add-s1" \
      --demos "$OUT/demos-$OTHER-add.jsonl" --op add --format "$OTHER" --filter verifier "${common[@]}" \
      --eval-lengths $EVAL_LENGTHS
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
