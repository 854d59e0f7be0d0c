import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../../../src/errors.js';
import { defineJob } from '../../../src/jobs/job-definition.js';
import { JobDefinitionError, JobTaskUnboundError } from '../../../src/jobs/job-errors.js';
import { loadJobDefinitions } from '../../../src/jobs/load-jobs.js';
import { builtinTaskResolver, type BatchTaskBindings } from '../../../src/jobs/tasks.js';

const SHIPPED = resolve(fileURLToPath(import.meta.url), '..', '..', '..', '..', 'jobs');
const at = (s: string) => Date.parse(s);
const tmp = mkdtempSync(join(tmpdir(), 'tessera-jobs-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(join(tmp, 'd'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(d, name), text);
  return d;
}

const fakeCtx = { job: 'x', signal: new AbortController().signal, progress: () => {}, logger: { debug() {}, info() {}, warn() {}, error() {} }, offline: async () => { throw new Error('no'); }, online: () => { throw new Error('no'); }, now: () => 0 } as never;

describe('the shipped jobs/', () => {
  it('holds the three jobs, valid, with their schedules and partitions', async () => {
    const defs = await loadJobDefinitions(SHIPPED, builtinTaskResolver({}));
    expect(defs.map((d) => [d.name, d.schedule.expression, d.schedule.zone, d.partitioning.unit, d.task])).toEqual([
      ['consistency-check', '0 3 * * *', 'UTC', 'single', 'consistency'],
      ['daily-recompute', '30 1 * * *', 'UTC', 'day', 'recompute'],
      ['hourly-samples', '15 * * * *', 'UTC', 'hour', 'samples'],
    ]);
    const samples = defs.find((d) => d.name === 'hourly-samples')!;
    // fired at 2026-01-07T00:15Z it covers the 48 hours that settled (ended 25 h or more before)
    expect(samples.scheduledRange(at('2026-01-07T00:15:00Z'))).toEqual({ from: at('2026-01-03T23:00:00Z'), to: at('2026-01-05T23:00:00Z') });
    const recompute = defs.find((d) => d.name === 'daily-recompute')!;
    expect(recompute.partitions(recompute.scheduledRange(at('2026-01-07T01:30:00Z')))).toEqual([{ key: '2026-01-06', from: at('2026-01-06T00:00:00Z'), to: at('2026-01-07T00:00:00Z') }]);
  });

  it('calls the bound batch functions with the partition turned into their arguments', async () => {
    const calls: unknown[] = [];
    const bindings: BatchTaskBindings = {
      samples: async (a) => void calls.push(['samples', a]),
      recompute: async (a) => void calls.push(['recompute', a]),
      consistency: async (a) => void calls.push(['consistency', a]),
    };
    const defs = await loadJobDefinitions(SHIPPED, builtinTaskResolver(bindings));
    const byName = new Map(defs.map((d) => [d.name, d]));
    await byName.get('hourly-samples')!.run({ key: 'h', from: at('2026-01-05T03:00:00Z'), to: at('2026-01-05T04:00:00Z') }, fakeCtx);
    await byName.get('daily-recompute')!.run({ key: '2026-01-05', from: at('2026-01-05T00:00:00Z'), to: at('2026-01-06T00:00:00Z') }, fakeCtx);
    await byName.get('consistency-check')!.run({ key: 'c', from: at('2026-01-06T03:00:00Z'), to: at('2026-01-06T03:00:00Z') }, fakeCtx);
    expect(calls).toEqual([
      ['samples', { from: at('2026-01-05T03:00:00Z'), to: at('2026-01-05T04:00:00Z'), completeThrough: at('2026-01-06T05:00:00Z') }],
      ['recompute', { until: at('2026-01-06T00:00:00Z') }],
      ['consistency', { at: at('2026-01-06T03:00:00Z'), sample: 1000 }],
    ]);
  });

  it('the example in jobs/README.md is a valid definition', () => {
    const readme = readFileSync(join(SHIPPED, 'README.md'), 'utf8');
    const example = /```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(example).toBeDefined();
    const def = defineJob(JSON.parse(example as string), { source: 'jobs/README.md', resolveTask: builtinTaskResolver({}) });
    expect(def.partitions(def.scheduledRange(at('2026-01-12T03:00:00Z')))).toHaveLength(7 * 24);
  });

  it('an unbound task fails when run, with JOB_TASK_UNBOUND', async () => {
    const defs = await loadJobDefinitions(SHIPPED, builtinTaskResolver({}));
    await expect(defs[0]!.run({ key: 'c', from: 0, to: 0 }, fakeCtx)).rejects.toThrow(JobTaskUnboundError);
  });
});

describe('job definitions: validation', () => {
  const resolveTask = builtinTaskResolver({});
  it('collects every problem with how to fix it', () => {
    let err: JobDefinitionError | undefined;
    try {
      defineJob({ name: 'Hourly_Samples', schedule: '0 25 * * *', partition: 'week', settle: '25h', task: 'sample', colour: 'red' }, { source: 'jobs/x.json', resolveTask });
    } catch (e) {
      err = e as JobDefinitionError;
    }
    expect(err).toBeInstanceOf(JobDefinitionError);
    expect(err!.code).toBe('JOB_DEFINITION');
    const text = err!.problems.join('\n');
    expect(text).toMatch(/unknown field "colour"/);
    expect(text).toMatch(/must be kebab-case .* e\.g\. "hourly-samples"/);
    expect(text).toMatch(/description is missing/);
    expect(text).toMatch(/hour field "25"/);
    expect(text).toMatch(/partition "week" must be one of "hour", "day", "single"/);
    expect(text).toMatch(/settle "25h" is not an ISO 8601 duration; write e\.g\. "PT30M"/);
    expect(text).toMatch(/task "sample" is not a built-in kind; use one of samples, recompute, consistency/);
    expect(err!.message).toMatch(/has 7 problems/);
  });

  it.each([
    [{ timezone: 'Mars/Olympus' }, /not an IANA zone name/],
    [{ task: undefined }, /task is missing/],
    [{ run: async () => ({}) }, /either task .* or run .*, not both/],
    [{ lookback: 'PT0S' }, /lookback "PT0S" must be positive/],
    [{ leaseTtl: 'PT1S' }, /leaseTtl PT1S is shorter than 5 s/],
    [{ options: { sample: 5 } }, /task "samples" has no option "sample"; it takes none/],
  ])('rejects %j', (patch, message) => {
    const spec = { name: 'j', description: 'd', schedule: '15 * * * *', partition: 'hour', task: 'samples', ...patch };
    expect(() => defineJob(spec, { source: 'test', resolveTask })).toThrow(message);
  });

  it('checks the options of the consistency task', () => {
    const spec = { name: 'c', description: 'd', schedule: '0 3 * * *', partition: 'single', task: 'consistency' };
    expect(() => defineJob({ ...spec, options: { sample: 0 } }, { source: 't', resolveTask })).toThrow(/options\.sample must be a whole number/);
    expect(() => defineJob({ ...spec, lookback: 'PT1H' }, { source: 't', resolveTask })).toThrow(/lookback applies to hour and day partitions only/);
  });
});

describe('loadJobDefinitions', () => {
  it('loads JSON files and .mjs modules, ignoring other files', async () => {
    const d = dir({
      'a-json.json': JSON.stringify({ name: 'a-json', description: 'd', schedule: '0 * * * *', partition: 'hour', task: 'samples' }),
      'b-code.mjs': `export default { name: 'b-code', description: 'writes', schedule: '@daily', timezone: 'Asia/Shanghai', partition: 'day', async run(p) { return { rows: 1, summary: p.key } } };`,
      'README.md': '# not a job',
    });
    const defs = await loadJobDefinitions(d, builtinTaskResolver({}));
    expect(defs.map((x) => [x.name, x.task, x.partitioning.zone])).toEqual([
      ['a-json', 'samples', 'UTC'],
      ['b-code', 'custom', 'Asia/Shanghai'],
    ]);
    expect(await defs[1]!.run({ key: '2026-01-05', from: 0, to: 1 }, fakeCtx)).toEqual({ rows: 1, summary: '2026-01-05' });
  });

  it('reports every bad file at once: bad JSON, a name that is not the file name, a module without export', async () => {
    const d = dir({
      'broken.json': '{ "name": ',
      'misnamed.json': JSON.stringify({ name: 'other', description: 'd', schedule: '0 * * * *', partition: 'hour', task: 'samples' }),
      'empty.mjs': 'export const x = 1;',
    });
    const err = await loadJobDefinitions(d, builtinTaskResolver({})).catch((e: unknown) => e as JobDefinitionError);
    expect(err).toBeInstanceOf(JobDefinitionError);
    const text = (err as JobDefinitionError).message;
    expect(text).toMatch(/broken\.json: is not valid JSON/);
    expect(text).toMatch(/rename the file to other\.json or the job to "misnamed"/);
    expect(text).toMatch(/empty\.mjs: has no default export/);
  });

  it('explains a missing directory', async () => {
    await expect(loadJobDefinitions(join(tmp, 'nope'), builtinTaskResolver({}))).rejects.toThrow(ConfigError);
    await expect(loadJobDefinitions(join(tmp, 'nope'), builtinTaskResolver({}))).rejects.toThrow(/TESSERA_JOBS_DIR/);
  });
});
