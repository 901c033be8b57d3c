#!/usr/bin/env bash
# `npm run bench [-- --quick] [name ...]`: runs the benchmarks (after setup), one
# at a time so they do not share the two cores, each writing
# bench/results/<name>.json (with the commit and whether the tree was clean) and
# printing its ratio against the baseline, ceiling or peer measured in the same
# run. Node runs with --expose-gc (benches that measure memory call gc()).
# --quick: every bench with tiny counts, under 2 minutes in all, results in
# bench/results/quick/ (figures that mean nothing; it proves the benches still
# run: the suite runs it, test/bench/quick.test.ts). Summary: docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
ALL=(xds-fanout ext-proc-envelope cm-getdatakeys groups-rotation dcp-stream)
quick=0; names=()
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    *) names+=("$a") ;;
  esac
done
[ ${#names[@]} -gt 0 ] || names=("${ALL[@]}")
[ "${BENCH_SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
# Tiny counts per bench for --quick.
declare -A QUICK=(
  [xds-fanout]="--clients 20 --rounds 2 --deadline-s 20"
  [ext-proc-envelope]="--seconds 1 --rounds 1"
  [cm-getdatakeys]="--seconds 1 --concurrency 2"
  [groups-rotation]="--rotations 3 --rule-changes 2 --baseline 2"
  [dcp-stream]="--size-mib 8 --small-mib 2"
)
for n in "${names[@]}"; do
  [ -f "bench/$n.ts" ] || { echo "unknown benchmark: $n (one of: ${ALL[*]})" >&2; exit 2; }
  echo "== bench/$n.ts${quick:+$( [ $quick = 1 ] && echo ' (quick)')}"
  if [ $quick = 1 ]; then
    # shellcheck disable=SC2086
    BENCH_QUICK=1 node --expose-gc --import=tsx "bench/$n.ts" ${QUICK[$n]}
  else
    node --expose-gc --import=tsx "bench/$n.ts"
  fi
done
