#!/usr/bin/env bash
# Passes when the binary carries GPU code: a non-empty .nv_fatbin section.
set -euo pipefail
size_hex="$(readelf -SW "$1" | sed -n 's/.*\.nv_fatbin *PROGBITS *[0-9a-f]* [0-9a-f]* \([0-9a-f]*\).*/\1/p')"
[ -n "$size_hex" ] || { echo "no .nv_fatbin section in $1"; exit 1; }
echo ".nv_fatbin: $((16#$size_hex)) bytes"
[ "$((16#$size_hex))" -gt 0 ]
