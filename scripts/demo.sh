#!/usr/bin/env bash
# The main job on embedded defaults (`npm run demo`): installs the npm dependencies when missing,
# builds, and runs `tessera demo` with the in-process log and chDB. Needs no service.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
if [[ ! -d node_modules/chdb || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # npm ci refuses this lock file: chdb declares its other-platform binaries with an empty version
  npm install --no-audit --no-fund
fi
npm run --silent build
exec node bin/tessera.js demo "$@"
