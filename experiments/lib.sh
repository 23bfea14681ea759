# Shared helpers of the self-play experiments (sourced by e*.sh). Every step writes into
# $OUT and is skipped when its result is already there, so a killed experiment re-runs
# from where it stopped.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VT=${VERITAS:-$ROOT/build/veritas}
PY=/usr/bin/python3
export VERITAS_QUIET=${VERITAS_QUIET:-1}
[ -x "$VT" ] || { echo "build veritas first (scripts/setup)" >&2; exit 1; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# demos OUT.jsonl ARGS...: worked demonstrations (veritas tasks demos) plus a plain-text
# copy for tokenizer training.
demos() {
  local out=$1; shift
  [ -s "$out" ] || "$VT" tasks demos --suite arith --lang en "$@" -o "$out" >&2
}

# tokenizer TOK.json DEMOS.jsonl...: byte-level BPE that never merges digits.
tokenizer() {
  local tok=$1; shift
  [ -s "$tok" ] && return
  $PY -c 'import json,sys
with open(sys.argv[1], "w") as f:
    for p in sys.argv[2:]:
        for l in open(p):
            j = json.loads(l); f.write(j["prompt"] + "\n" + j["completion"] + "\n")' "$tok.txt" "$@"
  "$VT" tokenizer train --input "$tok.txt" --vocab-size 512 --split-digits -o "$tok" >&2
  rm -f "$tok.txt"
}

# testset FILE OP DIGITS N [ARGS]: test-split questions (never seen in training) as a tasks file.
testset() {
  local f=$1 op=$2 d=$3 n=$4; shift 4
  [ -s "$f" ] && return
  "$VT" tasks demos --suite arith --lang en --split test --op "$op" --digits "$d" --n "$n" --seed 777 "$@" -o "$f.demos" >/dev/null
  $PY -c 'import json,sys
with open(sys.argv[2], "w") as f:
    for l in open(sys.argv[1]):
        f.write(json.dumps(json.loads(l)["task"]) + "\n")' "$f.demos" "$f"
  rm -f "$f.demos"
}

# evaluate MODEL TASKS OUTDIR [MAX_TOKENS]: greedy answers scored by the verifier.
evaluate() {
  local model=$1 tasks=$2 out=$3 mt=${4:-320}
  [ -s "$out/results.json" ] || "$VT" eval --model "$model" --tasks "$tasks" --no-system-prompt --max-tokens "$mt" \
    -o "$out" >/dev/null 2>&1
}

# proposer_demos DEMOS.jsonl OUT.jsonl N: "Propose a new arithmetic question." -> a demo's
# question, so the model can also act as the proposer (veritas selfplay --proposer model).
proposer_demos() {
  [ -s "$2" ] && return
  $PY -c 'import json,random,sys
rows = [json.loads(l)["prompt"] for l in open(sys.argv[1])]
random.seed(5)
with open(sys.argv[2], "w") as f:
    for q in random.sample(rows, int(sys.argv[3])):
        f.write(json.dumps({"messages": [{"role": "user", "content": "Propose a new arithmetic question."},
                                         {"role": "assistant", "content": q}]}) + "\n")' "$1" "$2" "$3"
}

# imitate OUT TRAIN.jsonl TOK STEPS [ARGS]: SFT of a fresh small model on the demonstrations.
MODEL_SHAPE=(--hidden-size 128 --layers 4 --heads 4 --intermediate-size 384 --max-seq-len 512)
imitate() {
  local out=$1 train=$2 tok=$3 steps=$4; shift 4
  [ -e "$out/checkpoint/model.safetensors" ] && [ "$(sft_steps "$out")" -ge "$steps" ] && return
  local resume=()
  [ -e "$out/checkpoint" ] && resume=(--resume)
  "$VT" train --sft "$train" --tokenizer "$tok" "${MODEL_SHAPE[@]}" --seq 128 --batch 32 --steps "$steps" \
    --warmup 50 --lr 3e-3 --eval-every 0 --save-every 200 --seed 1 --out "$out" "${resume[@]}" "$@" >&2
}
sft_steps() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["step"])' "$1/checkpoint/train_state.json"; }

# Answer tokens trained so far: a train run's metrics.jsonl or a self-play run's rounds.jsonl.
sft_tokens() { $PY -c 'import json,sys; print(sum(json.loads(l).get("tokens", 0) for l in open(sys.argv[1])))' "$1/metrics.jsonl"; }
selfplay_tokens() { $PY -c 'import json,sys; print(sum(json.loads(l)["tokens_trained"] for l in open(sys.argv[1])))' "$1/rounds.jsonl"; }

# selfplay OUT ARGS...: veritas selfplay, resumed when OUT already holds part of the run.
selfplay() {
  local out=$1; shift
  if [ -e "$out/checkpoint" ]; then "$VT" selfplay --resume -o "$out" "$@" >&2
  else "$VT" selfplay -o "$out" "$@" >&2; fi
}

# grid MODEL EVALDIR N OPS DIGITS: evaluate on test questions for each op x digits and
# write EVALDIR/summary.json: {"add": {"3": {"correct": .., "wrong": .., ...}}, ...}.
grid() {
  local model=$1 dir=$2 n=$3 ops=$4 digits=$5
  mkdir -p "$dir" "$ROOT/experiments/out/testsets"
  for op in $ops; do
    for d in $digits; do
      local t="$ROOT/experiments/out/testsets/$op-$d-$n.jsonl"
      testset "$t" "$op" "$d" "$n" 2>/dev/null
      evaluate "$model" "$t" "$dir/$op-$d"
    done
  done
  $PY - "$dir" $ops -- $digits <<'PYEOF'
import json, os, sys
d = sys.argv[1]; sep = sys.argv.index("--")
ops, digits = sys.argv[2:sep], sys.argv[sep + 1:]
out = {}
for op in ops:
    for n in digits:
        r = json.load(open(os.path.join(d, f"{op}-{n}", "results.json")))["overall"]
        out.setdefault(op, {})[n] = dict({k: r[k] for k in ("correct", "wrong", "abstained", "malformed")}, n=r["answers"])
json.dump(out, open(os.path.join(d, "summary.json"), "w"), indent=1)
PYEOF
}

# cpu LOG LABEL CMD...: runs CMD (a command or a function) and appends
# "LABEL <cpu seconds> <wall seconds>" to LOG: user + system time of the processes it
# started (bash's `times`), for the compute accounting of E4.
children_cpu() {  # sets CHILD_CPU; `times` must run in this shell, not a subshell, to see its children
  times > "$OUT/.times"
  CHILD_CPU=$(tail -1 "$OUT/.times" | awk '{ for (i = 1; i <= 2; i++) { split($i, a, "m"); s += a[1] * 60 + a[2] } print s }')
}
cpu() {
  local logf=$1 label=$2; shift 2
  local c0 t0
  children_cpu
  c0=$CHILD_CPU
  t0=$(date +%s.%N)
  "$@"
  children_cpu
  echo "$label $(echo "$CHILD_CPU - $c0" | bc) $(echo "$(date +%s.%N) - $t0" | bc)" >> "$logf"
}
