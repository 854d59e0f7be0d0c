#!/usr/bin/env bash
# Runs a benchmark against the real services: bash bench/run.sh <name> [args]
#   ingest   produce + sink throughput beside Kafka's perf tools (issue 2)
#   stream   streaming features: sustained rate, freshness, reader latency (issue 3)
#   join     streaming joiner: core and end-to-end events/s, samples/s, state, recovery (issue 4)
#   reader   feature reader p50/p99 for 1 user + 200 items beside the Redis round-trip floor (issue 3)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
name=${1:?usage: bench/run.sh ingest [args]}; shift
[[ -d node_modules/chdb ]] || npm install --no-audit --no-fund
bash scripts/services.sh up kafka redis >&2
eval "$(bash scripts/services.sh env)"
exec npx tsx "bench/$name.ts" "$@"
