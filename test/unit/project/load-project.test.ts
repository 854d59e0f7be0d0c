import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/app/cli.js';
import { EXAMPLES_DIR } from '../../../src/app/paths.js';
import { loadProject } from '../../../src/project/load-project.js';
import { ProjectError } from '../../../src/project/compile-project.js';
import { REFERENCE_PROJECT } from '../../helpers/reference.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'tessera-project-'));
  dirs.push(d);
  return d;
}
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function problemsOf(dir: string): Promise<string[]> {
  try {
    await loadProject(dir);
  } catch (err) {
    if (err instanceof ProjectError) return err.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('expected the project to be refused');
}

/** A writable stream that keeps what it is given. */
function sink(): NodeJS.WritableStream & { text: string } {
  const out = { text: '', write: (s: string) => ((out.text += s), true) };
  return out as unknown as NodeJS.WritableStream & { text: string };
}

describe('loadProject', () => {
  it('loads the TypeScript example projects through their helpers', async () => {
    const reference = await loadProject(join(EXAMPLES_DIR, 'reference'));
    // the CLI's loader and the tests' direct import agree on the whole compiled project
    expect(reference.hash).toBe(REFERENCE_PROJECT.hash);
    expect(reference.groups.map((g) => g.features.map((f) => f.name))).toEqual(REFERENCE_PROJECT.groups.map((g) => g.features.map((f) => f.name)));
    const taobao = await loadProject(join(EXAMPLES_DIR, 'taobao'));
    expect(taobao.catalog.types).toEqual(['impression', 'click', 'order', 'item_profile', 'cart', 'fav']);
    expect(taobao.groups.flatMap((g) => g.features.map((f) => f.name))).toContain('shopper_last_carted_items');
    expect(taobao.models['buyer']?.label).toBe('conversion');
    const starter = await loadProject(join(EXAMPLES_DIR, 'starter'));
    expect(starter.labels.conversion).toBe('purchase');
  });

  it('loads a JSON project, and the JSON form of a TypeScript project compiles to the same project', async () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'events'));
    const starter = join(EXAMPLES_DIR, 'starter');
    for (const f of ['Impression', 'Click', 'Purchase', 'AddToCart']) writeFileSync(join(dir, 'events', `${f}.avsc`), readFileSync(join(starter, 'events', `${f}.avsc`)));
    const fromTs = await loadProject(starter);
    writeFileSync(join(dir, 'tessera.project.json'), JSON.stringify(fromTs.source.definition, null, 2));
    const fromJson = await loadProject(dir);
    expect(fromJson.hash).toBe(fromTs.hash);
    expect(fromJson.source.file).toBe('tessera.project.json');
  });

  it('refuses a missing folder, a folder without a definition, and a folder with two', async () => {
    const missing = join(tempDir(), 'nowhere');
    expect(await problemsOf(missing)).toEqual([`${missing}: : no such project folder; create one with \`tessera init ${missing}\`, or point TESSERA_PROJECT / --project at an existing one`]);
    const empty = tempDir();
    writeFileSync(join(empty, 'notes.txt'), 'x');
    expect(await problemsOf(empty)).toEqual([expect.stringContaining('holds no project definition (tessera.project.ts, tessera.project.mts, tessera.project.js, tessera.project.mjs, tessera.project.json); it has notes.txt')]);
    const two = tempDir();
    writeFileSync(join(two, 'tessera.project.json'), '{}');
    writeFileSync(join(two, 'tessera.project.ts'), 'export default {}');
    expect(await problemsOf(two)).toEqual([expect.stringContaining('holds tessera.project.ts and tessera.project.json; keep exactly one project definition')]);
  });

  it('refuses invalid JSON, a TypeScript file without a default export or that throws, and a schema outside the folder', async () => {
    const json = tempDir();
    writeFileSync(join(json, 'tessera.project.json'), '{ "name": ');
    expect(await problemsOf(json)).toEqual([expect.stringMatching(/tessera\.project\.json: : not valid JSON/)]);
    const noDefault = tempDir();
    writeFileSync(join(noDefault, 'package.json'), '{"type":"module"}');
    writeFileSync(join(noDefault, 'tessera.project.ts'), 'export const project = { name: "x" };\n');
    expect(await problemsOf(noDefault)).toEqual([expect.stringContaining('tessera.project.ts: : has no default export; end it with `export default defineProject({ ... })`')]);
    const throws = tempDir();
    writeFileSync(join(throws, 'package.json'), '{"type":"module"}');
    writeFileSync(join(throws, 'tessera.project.ts'), 'throw new Error("boom");\nexport default {};\n');
    expect(await problemsOf(throws)).toEqual([expect.stringContaining('tessera.project.ts: : does not import: boom')]);
    const outside = tempDir();
    writeFileSync(join(outside, 'tessera.project.json'), JSON.stringify({ name: 'x', events: { click: { schema: '../Click.avsc', key: 'userId' } } }));
    expect(await problemsOf(outside)).toEqual([expect.stringContaining('events.click.schema: ../Click.avsc lies outside the project folder')]);
  });
});

describe('tessera init', () => {
  it('writes a project that loads, in TypeScript and in JSON, and refuses to overwrite one', async () => {
    const base = tempDir();
    for (const [dir, args] of [[join(base, 'ts'), []], [join(base, 'json'), ['--json']]] as const) {
      const out = sink();
      expect(await main(['init', dir, ...args], { stdout: out, stderr: sink() })).toBe(0);
      expect(out.text).toContain('wrote a feature project into');
      const project = await loadProject(dir);
      expect(project.name).toBe('shop');
      expect(project.catalog.types).toContain('add_to_cart');
    }
    expect(existsSync(join(base, 'ts', 'tsconfig.json'))).toBe(true);
    const err = sink();
    expect(await main(['init', join(base, 'ts')], { stdout: sink(), stderr: err })).toBe(2);
    expect(err.text).toContain('already holds a project (tessera.project.ts)');
  });
});
