#!/usr/bin/env bash
# The main job on embedded defaults (`npm run demo`): installs the npm dependencies when missing,
# builds, and runs `tessera demo` with the in-process log and chDB. Needs no service.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ ! -d node_modules/chdb || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # exactly the lock file; it lists chdb's binaries for the other platforms too (without a tarball
  # digest; npm fetches them by version on those platforms), so npm ci accepts it everywhere
  npm ci --no-audit --no-fund
fi
npm run --silent build
exec node bin/tessera.js demo "$@"
