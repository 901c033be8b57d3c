#!/usr/bin/env bash
# `npm test` after setup: type-check, then every tap test (real Envoy, real
# nats-server). Ends with one line `N passed, N failed` summing all of them
# (the type-check counts as one test).
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .tap
passed=0; failed=0
echo "== typecheck (tsc --noEmit)"
if npx --no-install tsc --noEmit -p .; then passed=$((passed+1)); echo "ok - typecheck"; else failed=$((failed+1)); echo "not ok - typecheck"; fi
echo "== tap ${*:-all tests}"
out=.tap/last-run.tap
npx --no-install tap --reporter=tap "$@" 2>&1 | tee "$out"
tap_rc=${PIPESTATUS[0]}
summary=$(grep -E '^# \{ total: [0-9]+' "$out" | tail -1)
if [ -z "$summary" ]; then
  echo "tap printed no summary (exit $tap_rc): counting the run as one failure"
  failed=$((failed+1))
else
  total=$(sed -E 's/.*total: ([0-9]+).*/\1/' <<<"$summary")
  pass=$(grep -oE 'pass: [0-9]+' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  fail=$(grep -oE 'fail: [0-9]+' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  todo=$(grep -oE 'todo: [0-9]+' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  skip=$(grep -oE 'skip: [0-9]+' <<<"$summary" | grep -oE '[0-9]+' || echo 0)
  passed=$((passed+pass)); failed=$((failed+fail))
  [ "$skip" -gt 0 ] && { echo "tests skipped: $skip (counted as failures: nothing may skip)"; failed=$((failed+skip)); }
  [ "$todo" -gt 0 ] && echo "todo: $todo"
  [ "$tap_rc" -ne 0 ] && [ "$fail" -eq 0 ] && { echo "tap exited $tap_rc with no failed assertion: counting one failure"; failed=$((failed+1)); }
  : "$total"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
