#!/usr/bin/env python3
"""Side-by-side Markdown table of two or more scripts/everyday-chat.sh outputs.
Usage: scripts/everyday-chat-table.py LABEL=FILE.jsonl [LABEL=FILE.jsonl ...] > table.md"""
import json
import sys


def cell(text, limit=160):
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[:limit] + " …"
    return text.replace("|", "\\|")


def main(args):
    if not args or any("=" not in a for a in args):
        sys.exit(__doc__)
    runs = []
    for a in args:
        label, path = a.split("=", 1)
        with open(path, encoding="utf-8") as f:
            runs.append((label, {r["id"]: r for r in map(json.loads, f)}))
    ids = list(runs[0][1])
    for label, rows in runs[1:]:
        if list(rows) != ids:
            sys.exit(f"{label}: not the same prompts as {runs[0][0]}")
    print("| prompt | " + " | ".join(label for label, _ in runs) + " |")
    print("| --- |" + " --- |" * len(runs))
    for i in ids:
        print(f"| {cell(runs[0][1][i]['prompt'])} | " + " | ".join(cell(rows[i]["reply"]) for _, rows in runs) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
