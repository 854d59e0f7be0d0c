#!/usr/bin/env bash
# Runs a benchmark against the real services: bash bench/run.sh <name> [args]
#   ingest   produce + sink throughput beside Kafka's perf tools (issue 2)
#   stream   streaming features: sustained rate, freshness, reader latency (issue 3)
#   stream-budget  one streamed event's CPU in Node and in Redis, the apply script's time split by phase (issue 14)
#   join     streaming joiner: core and end-to-end events/s, samples/s, state, recovery (issue 4)
#   reader   feature reader p50/p99 for 1 user + 200 items beside the Redis round-trip floor (issue 3)
#   batch    batch layer on chDB: samples/s, read rate, full recompute, beside count() and a plain window (issue 4)
#   serve    tessera serve at a fixed rate from a second process: p50/p99 beside the Redis floor, 100 hot reloads, INT8 (issue 6)
#   models   LR / FM / Wide&Deep accuracy and samples/s beside scikit-learn, Vowpal Wabbit and River (issue 5)
#   taobao   incremental vs frozen-after-N-days models on the Taobao replay, progressive AUC per day (issue 5)
#   kafka-clients  kafkajs (through KafkaEventLog) beside @platformatic/kafka: produce and consume the same records (issue 14)
#   train    tessera train end to end (chDB samples) beside its own kernel on the same samples (issue 14)
#   reload-lag  what a hot reload costs the serving thread: per-second event-loop delay and stalls with and without reloads (issue 13)
#   backfill a changed group brought into service on the demo's data: batch backfill, stream catch-up, flip (issue 11)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
# every benchmark measures the reference feature set; bench/project.ts and any tessera a benchmark
# spawns read the project from here (relative to the repository, the working folder)
export TESSERA_PROJECT=examples/reference
name=${1:?usage: bench/run.sh ingest [args]}; shift
[[ -d node_modules/chdb ]] || npm ci --no-audit --no-fund
if [[ $name == models ]]; then # pure models: no service; the reference libraries live in a venv outside the repo
  venv=${TESSERA_BENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/tessera/venv-models}
  req=bench/tools/requirements-models.txt
  if [[ ! -x $venv/bin/python || $req -nt $venv/.installed ]]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
    touch "$venv/.installed"
  fi
  export TESSERA_BENCH_PYTHON=$venv/bin/python
elif [[ $name != batch && $name != taobao && $name != train && $name != reload-lag ]]; then # batch and train run on chDB alone, taobao and reload-lag in memory
  bash scripts/services.sh up kafka redis >&2
  eval "$(bash scripts/services.sh env)"
fi
exec npx tsx "bench/$name.ts" "$@"
