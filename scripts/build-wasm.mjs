#!/usr/bin/env node
// Assembles src/models/wasm/*.wat (WebAssembly text) into src/models/wasm/*.wasm.ts, a module
// exporting the bytes as base64, so that `tsc` alone builds the package and no loader has to find
// a .wasm file at run time. `--check` fails when a committed .wasm.ts is not what its .wat gives.
//
//   npm run build:wasm            # rewrite the .wasm.ts files
//   node scripts/build-wasm.mjs --check
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import createWabt from 'wabt';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'src', 'models', 'wasm');
const check = process.argv.includes('--check');
const wabt = await createWabt();
let stale = 0;
for (const name of readdirSync(dir).filter((f) => f.endsWith('.wat')).sort()) {
  const text = readFileSync(join(dir, name), 'utf8');
  const module = wabt.parseWat(name, text, { simd: true });
  module.validate();
  const { buffer } = module.toBinary({ write_debug_names: false });
  module.destroy();
  const out = join(dir, name.replace(/\.wat$/, '.wasm.ts'));
  const source = `// Generated from ${name} by scripts/build-wasm.mjs: do not edit (npm run build:wasm).\nexport const WASM_BASE64 =\n  '${Buffer.from(buffer).toString('base64')}';\n`;
  const current = existsSync(out) ? readFileSync(out, 'utf8') : '';
  if (current === source) continue;
  if (check) {
    console.error(`${out} is out of date with ${name}: run npm run build:wasm`);
    stale++;
  } else {
    writeFileSync(out, source);
    console.log(`wrote ${out} (${buffer.length} bytes)`);
  }
}
process.exit(stale > 0 ? 1 : 0);
