#!/usr/bin/env bash
# `npm start`: setup (idempotent), then the demo. `exec` twice (npm's `sh -c`
# execs this script, this script execs node) so the demo is npm's direct child:
# SIGTERM or SIGINT sent to npm reaches the demo, which stops every component and
# Envoy. The demo also stops on its own when its parent goes away (npm killed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node bin/aenv.js demo "$@"
