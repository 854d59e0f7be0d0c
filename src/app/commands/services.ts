import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import type { Command } from '../command.js';
import { UsageError } from '../../errors.js';
import { PACKAGE_ROOT } from '../paths.js';

export const servicesCommand: Command = {
  name: 'services',
  summary: 'Install (where missing), start, stop or inspect the local test services on loopback.',
  usage: 'tessera services up|down|status|env [redis] [kafka] [clickhouse]',
  details: `Runs scripts/services.sh: Redis from Debian packages, a single-node KRaft Apache Kafka broker
from Maven Central jars on the machine's JDK, and Debian's ClickHouse server (an old 18.16, used
only for the server adapter's smoke test; production needs a current ClickHouse). chDB, the
embedded engine, is an npm dependency and needs no service. Idempotent; waits for readiness.
Logs: \${XDG_CACHE_HOME:-~/.cache}/tessera/services/logs/. "env" prints the TESSERA_TEST_* variables.`,
  options: {},
  allowPositionals: true,
  async run(ctx) {
    const [action, ...names] = ctx.positionals;
    if (!action || !['up', 'down', 'status', 'env'].includes(action)) throw new UsageError('give one of up, down, status, env (see tessera services --help)');
    for (const n of names) if (!['redis', 'kafka', 'clickhouse'].includes(n)) throw new UsageError(`unknown service "${n}": use redis, kafka or clickhouse`);
    const script = resolve(PACKAGE_ROOT, 'scripts', 'services.sh');
    return await new Promise<number>((done) => {
      const child = spawn('bash', [script, action, ...names], { stdio: 'inherit' });
      child.on('exit', (code) => done(code ?? 1));
    });
  },
};
