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
  # exactly the lock file; it lists chdb's binaries for the other platforms too (without a tarball
  # digest; npm fetches them by version on those platforms), so npm ci accepts it everywhere
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
results=$(mktemp -d)
echo "[test] unit and contract suites on memory adapters and chDB" >&2
set +e
npx vitest run --project unit --passWithNoTests --reporter=default --reporter=json --outputFile="$results/unit.json" "$@"
unit=$?
echo "[test] integration and contract suites on the real services" >&2
npx vitest run --project integration --no-file-parallelism --passWithNoTests --reporter=default --reporter=json --outputFile="$results/integration.json" "$@"
integration=$?
set -e
# one plain closing line for the whole run
node -e '
  let p = 0, f = 0, s = 0;
  for (const file of process.argv.slice(1)) {
    try { const r = require(file); p += r.numPassedTests; f += r.numFailedTests; s += r.numPendingTests + r.numTodoTests; } catch { f++; }
  }
  console.log(`tests: ${p} passed, ${f} failed, ${s} skipped`);
' "$results/unit.json" "$results/integration.json"
rm -rf "$results"
((unit == 0 && integration == 0))
