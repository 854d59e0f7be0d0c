#!/usr/bin/env bash
# The test command (`npm test`, also run by .ci/run): installs what is missing, starts the real
# services on loopback, type-checks, checks for import cycles, and runs the whole suite (unit
# tests on memory adapters, contract suites on both adapters, integration tests on real Kafka,
# Redis, chDB and the ClickHouse server). Idempotent; safe to run again.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

if [[ ! -d node_modules/chdb || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund
fi
echo "[test] build" >&2
npm run --silent build
echo "[test] services" >&2
bash scripts/services.sh up
eval "$(bash scripts/services.sh env)"
echo "[test] typecheck" >&2
npx tsc -p tsconfig.check.json
echo "[test] import cycles" >&2
npx madge --circular --extensions ts --ts-config tsconfig.json src
echo "[test] vitest" >&2
npx vitest run "$@"
