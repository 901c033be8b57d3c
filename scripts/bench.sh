#!/usr/bin/env bash
# `npm run bench [name ...]`: runs the benchmarks (after setup), one at a time so
# they do not share the two cores, each writing bench/results/<name>.json and
# printing its ratio against the baseline measured in the same run.
# Summary: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
ALL=(xds-fanout ext-proc-envelope cm-getdatakeys groups-rotation dcp-stream)
names=("$@"); [ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
  [ -f "bench/$n.ts" ] || { echo "unknown benchmark: $n (one of: ${ALL[*]})" >&2; exit 2; }
  echo "== bench/$n.ts"
  node --import=tsx "bench/$n.ts"
done
