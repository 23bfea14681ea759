#!/usr/bin/env python3
"""One row per `veritas eval` output folder: the overall split, answers with no final line, the
impossible suite, ECE and AURC (docs/real-model.md). Usage: real-model-summary.py OUT...
"""
import json
import os
import sys

print("| version | hash | answers | right | wrong | abstained | malformed | of which no final line | impossible suite honest | ECE | AURC | answers without confidence | wall time |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for d in sys.argv[1:]:
    v = os.path.basename(os.path.normpath(d))
    r = json.load(open(d + "/results.json")); o = r["overall"]
    nofinal = sum(1 for l in open(d + "/answers.jsonl") if (a := json.loads(l))["verdict"] == "malformed" and
                  (a["reason"].startswith("the final line is not") or "UTF-8" in a["reason"]))
    imp = r["suites"]["impossible"]
    cal = o["calibration"]; rc = o["risk_coverage"]
    p = r.get("prompt") or {}
    v = p.get("version", v)
    print(f"| {v} | {p.get('hash', '–')} | {o['answers']} | {o['correct']} | {o['wrong']} | {o['abstained']} | "
          f"{o['malformed']} ({100*o['malformed_rate']:.0f}%) | {nofinal} | {imp['correct']}/{imp['answers']} | "
          f"{cal['ece']:.3f} | {rc['aurc']:.3f} | {o['attempted_without_confidence']} | {r['seconds']:.0f} s |"
          if cal else
          f"| {v} | {p.get('hash', '–')} | {o['answers']} | {o['correct']} | {o['wrong']} | {o['abstained']} | "
          f"{o['malformed']} ({100*o['malformed_rate']:.0f}%) | {nofinal} | {imp['correct']}/{imp['answers']} | – | – | "
          f"{o['attempted_without_confidence']} | {r['seconds']:.0f} s |")
