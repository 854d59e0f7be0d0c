#!/usr/bin/env node
// The `tessera` command. It runs the compiled JavaScript in dist/ (built by `npm run build`,
// which `npm install` runs through the `prepare` script).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = new URL('../dist/app/cli.js', import.meta.url);
if (!existsSync(fileURLToPath(cli))) {
  process.stderr.write('tessera: dist/ is missing; run `npm install` (or `npm run build`) in the project first\n');
  process.exit(1);
}
// a reader that stops early (`tessera features list | head`) ends the output, not the process with a stack trace
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});
const { main } = await import(cli.href);
const code = await main(process.argv.slice(2));
process.exitCode = code;
// Drivers (kafkajs, chDB threads) can leave handles behind after an orderly close; do not hang on them.
setTimeout(() => process.exit(code), 200).unref();
