#!/bin/bash
# E4 Per joule (docs/selfplay.md#e4): accuracy against compute for imitation-only versus
# self-play. E1 scores both arms every CHUNK rounds on a fixed test set and logs the CPU
# time of every step (cpu.log); this script runs E1 if needed and writes the tables and
# plots. Energy: RAPL package counters when /sys/class/powercap is readable, otherwise CPU
# seconds x 3.75 W per core (an estimate, labelled as such).
#   experiments/e4_per_joule.sh
source "$(dirname "$0")/lib.sh"
E1=${E1:-$ROOT/experiments/out/e1}
OUT=$E1
if ls /sys/class/powercap/intel-rapl:*/energy_uj >/dev/null 2>&1 && cat /sys/class/powercap/intel-rapl:0/energy_uj >/dev/null 2>&1; then
  log "E4: RAPL energy counters are readable: self-play logs measured joules"
else
  log "E4: no readable RAPL counters on this machine: joules are estimated from CPU time"
fi
[ -s "$E1/eval-selfplay/summary.json" ] || "$ROOT/experiments/e1_beyond_imitation.sh" "$E1"
$PY "$ROOT/experiments/report.py"
