import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { COMMANDS, main } from '../../../src/app/cli.js';

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  return { io: { stdout, stderr } as unknown as { stdout: typeof process.stdout; stderr: typeof process.stderr }, out: () => out, err: () => err };
}

describe('tessera CLI', () => {
  it.each(COMMANDS.map((c) => c.name))('%s --help documents usage and every option', async (name) => {
    const t = io();
    expect(await main([name, '--help'], t.io)).toBe(0);
    const cmd = COMMANDS.find((c) => c.name === name)!;
    expect(t.out()).toContain(`Usage: ${cmd.usage}`);
    for (const opt of Object.keys(cmd.options)) expect(t.out()).toContain(`--${opt}`);
  });

  it('lists every command in the top-level help', async () => {
    const t = io();
    expect(await main(['--help'], t.io)).toBe(0);
    for (const c of COMMANDS) expect(t.out()).toContain(c.name);
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
    const t = io();
    const saved = process.env.TESSERA_KAFKA_BROKERS;
    delete process.env.TESSERA_KAFKA_BROKERS;
    try {
      expect(await main(['produce', '--input', 'package.json'], t.io)).toBe(2);
      expect(t.err()).toContain('TESSERA_KAFKA_BROKERS');
    } finally {
      if (saved !== undefined) process.env.TESSERA_KAFKA_BROKERS = saved;
    }
  });

  it('train refuses bad model options and crosses before touching any service', async () => {
    for (const [args, message] of [
      [['--config', '{"k":3}'], /fm: unknown option "k"; its options are factors/],
      [['--config', '{"factors":'], /--config is not JSON/],
      [['--crosses', 'user:shop'], /a cross is a pair of two different fields of user, item, category/],
      [['--crosses', 'user'], /--crosses: "user" is not a pair/],
    ] as const) {
      const t = io();
      expect(await main(['train', '--model', 'fm', ...args], t.io)).not.toBe(0);
      expect(t.err()).toMatch(message);
    }
  });
});
