import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { COMMANDS, main } from '../../../src/app/cli.js';
import { REFERENCE_DIR } from '../../helpers/reference.js';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdout, stderr } as unknown as { stdout: typeof process.stdout; stderr: typeof process.stderr }, out: () => out, err: () => err };
}

/** Runs a body with environment variables removed, restoring them afterwards. */
async function without<T>(names: readonly string[], body: () => Promise<T>): Promise<T> {
  const saved = names.map((n) => [n, process.env[n]] as const);
  for (const n of names) delete process.env[n];
  try {
    return await body();
  } finally {
    for (const [n, v] of saved) if (v !== undefined) process.env[n] = v;
  }
}

describe('tessera CLI', () => {
  it.each(COMMANDS.map((c) => c.name))('%s --help documents usage and every option', async (name) => {
    const t = io();
    expect(await main([name, '--help'], t.io)).toBe(0);
    const cmd = COMMANDS.find((c) => c.name === name)!;
    expect(t.out()).toContain(`Usage: ${cmd.usage}`);
    for (const opt of Object.keys(cmd.options)) expect(t.out()).toContain(`--${opt}`);
    // every command takes the feature project
    expect(t.out()).toMatch(/--project <value>\s+The feature project folder/);
  });

  it('lists every command in the top-level help', async () => {
    const t = io();
    expect(await main(['--help'], t.io)).toBe(0);
    for (const c of COMMANDS) expect(t.out()).toContain(c.name);
    expect(t.out()).toContain('--project <dir> or TESSERA_PROJECT');
  });

  it('asks for a feature project when neither --project nor TESSERA_PROJECT names one', async () => {
    await without(['TESSERA_PROJECT', 'TESSERA_CONFIG'], async () => {
      const t = io();
      expect(await main(['produce', '--input', 'package.json'], t.io)).toBe(2);
      expect(t.err()).toContain('no feature project: set TESSERA_PROJECT=<dir> or pass --project <dir>');
      expect(t.err()).toContain('tessera produce --help');
    });
  });

  it('rejects unknown commands and options with exit code 2 and a pointer to --help', async () => {
    const a = io();
    expect(await main(['nope'], a.io)).toBe(2);
    expect(a.err()).toContain('unknown command "nope"');
    const b = io();
    expect(await main(['sink', '--bogus'], b.io)).toBe(2);
    expect(b.err()).toContain('tessera sink --help');
  });

  it('explains that produce needs Kafka when no broker is configured', async () => {
    await without(['TESSERA_KAFKA_BROKERS', 'TESSERA_PROJECT'], async () => {
      // --project on the command line
      const t = io();
      expect(await main(['produce', '--project', REFERENCE_DIR, '--input', 'package.json'], t.io)).toBe(2);
      expect(t.err()).toContain('TESSERA_KAFKA_BROKERS');
      // and TESSERA_PROJECT in the environment
      process.env.TESSERA_PROJECT = REFERENCE_DIR;
      const e = io();
      expect(await main(['produce', '--input', 'package.json'], e.io)).toBe(2);
      expect(e.err()).toContain('TESSERA_KAFKA_BROKERS');
      delete process.env.TESSERA_PROJECT;
    });
  });

  it('train refuses bad model options and crosses before touching any service', async () => {
    for (const [args, message] of [
      [['--config', '{"k":3}'], /fm: unknown option "k"; its options are factors/],
      [['--config', '{"factors":'], /--config is not JSON/],
      [['--crosses', 'user:shop'], /a cross is a pair of two different fields of user, item, category/],
      [['--crosses', 'user'], /--crosses: "user" is not a pair/],
    ] as const) {
      const t = io();
      expect(await main(['train', '--project', REFERENCE_DIR, '--model', 'fm', ...args], t.io)).not.toBe(0);
      expect(t.err()).toMatch(message);
    }
  });

  it('train picks its model inputs from the project and refuses names the project lacks', async () => {
    const a = io();
    expect(await main(['train', '--project', REFERENCE_DIR, '--inputs', 'gbdt'], a.io)).toBe(2);
    expect(a.err()).toContain('--inputs: the project has no model inputs "gbdt" (it has fm, wide_deep, lr)');
    const b = io();
    expect(await main(['train', '--project', REFERENCE_DIR], b.io)).toBe(2);
    expect(b.err()).toMatch(/name the model: --inputs <one of the project's models: fm, wide_deep, lr> or --model lr\|fm\|wide-deep/);
    // the inputs' kind is fm: its options are checked before any service is touched
    const c = io();
    expect(await main(['train', '--project', REFERENCE_DIR, '--inputs', 'fm', '--config', '{"k":3}'], c.io)).not.toBe(0);
    expect(c.err()).toMatch(/fm: unknown option "k"; its options are factors/);
  });
});
