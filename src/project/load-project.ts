import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { register } from 'node:module';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { readContextSchema } from '../events/schema-registry.js';
import { compileProject, ProjectError, type Project, type ProjectSource } from './compile-project.js';

/**
 * Reads a feature project folder: finds its definition file, imports it (TypeScript through
 * tsx, or JSON), reads the schema files it names, and compiles the lot (`compile-project.ts`).
 *
 * A TypeScript project imports its helpers from `tessera/project`; that specifier is resolved to
 * the running Tessera's own module whatever the project's `node_modules` hold, so a project never
 * runs against another version's helpers.
 */

/** The definition files a project folder may hold (exactly one of them). */
export const PROJECT_FILES = ['tessera.project.ts', 'tessera.project.mts', 'tessera.project.js', 'tessera.project.mjs', 'tessera.project.json'] as const;

/** Where `tessera/project` resolves to: the helpers next to this module (src in tests, dist when installed). */
function helpersUrl(): string {
  const ts = new URL('./definition.ts', import.meta.url);
  return existsSync(ts) ? ts.href : new URL('./definition.js', import.meta.url).href;
}

let hookRegistered = false;

/** Registers (once per process) the resolve hook that maps `tessera/project` to our helpers. */
function registerHelpersHook(): void {
  if (hookRegistered) return;
  hookRegistered = true;
  const hook = `
let target;
export async function initialize(data) { target = data.target; }
export async function resolve(specifier, context, next) {
  if (specifier === 'tessera/project' || specifier === 'tessera') return { url: target, shortCircuit: true };
  return next(specifier, context);
}`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`, { data: { target: helpersUrl() } });
}

/**
 * Reads a project folder into a {@link ProjectSource} without compiling it.
 *
 * @throws ProjectError when the folder or its definition file is missing, the definition does not
 *   import or parse, or a schema file it names cannot be read.
 */
export async function readProjectSource(dir: string): Promise<ProjectSource & { readonly dir: string }> {
  const root = resolve(dir);
  if (!existsSync(root) || !statSync(root).isDirectory()) {
    throw new ProjectError([{ file: dir, path: '', message: `no such project folder; create one with \`tessera init ${dir}\`, or point TESSERA_PROJECT / --project at an existing one` }]);
  }
  const present = PROJECT_FILES.filter((f) => existsSync(join(root, f)));
  if (present.length === 0) {
    const found = readdirSync(root).slice(0, 8).join(', ');
    throw new ProjectError([
      { file: dir, path: '', message: `holds no project definition (${PROJECT_FILES.join(', ')})${found === '' ? '' : `; it has ${found}`}; \`tessera init ${dir}\` writes one` },
    ]);
  }
  if (present.length > 1) {
    throw new ProjectError([{ file: dir, path: '', message: `holds ${present.join(' and ')}; keep exactly one project definition` }]);
  }
  const file = present[0] as string;
  const definition = await importDefinition(join(root, file), file);
  const schemas: Record<string, unknown> = {};
  const events = typeof definition === 'object' && definition !== null ? (definition as { events?: unknown }).events : undefined;
  if (typeof events === 'object' && events !== null) {
    for (const [name, e] of Object.entries(events as Record<string, unknown>)) {
      const path = typeof e === 'object' && e !== null ? (e as { schema?: unknown }).schema : undefined;
      if (typeof path !== 'string') continue; // compileProject reports it
      const full = resolve(root, path);
      const rel = relative(root, full);
      if (rel.startsWith('..') || isAbsolute(rel)) {
        throw new ProjectError([{ file, path: `events.${name}.schema`, message: `${path} lies outside the project folder; keep schemas inside it (e.g. events/${name}.avsc)` }]);
      }
      if (existsSync(full)) schemas[path] = readFileSync(full, 'utf8');
    }
  }
  return { file, definition, schemas, shared: [readContextSchema()], dir: root };
}

/**
 * Loads and compiles a project folder.
 *
 * @throws ProjectError listing every problem, with file, field and fix.
 */
export async function loadProject(dir: string): Promise<Project & { readonly dir: string }> {
  try {
    const source = await readProjectSource(dir);
    const { dir: root, ...rest } = source;
    return { ...compileProject(rest), dir: root };
  } catch (err) {
    if (!(err instanceof ProjectError)) throw err;
    // messages name files by their path from the working folder, so an editor can open them
    const here = (file: string): string => (file === dir || isAbsolute(file) ? file : join(dir, file));
    throw new ProjectError(err.problems.map((p) => ({ ...p, file: here(p.file) })));
  }
}

async function importDefinition(path: string, file: string): Promise<unknown> {
  if (file.endsWith('.json')) {
    try {
      return JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new ProjectError([{ file, path: '', message: `not valid JSON: ${err instanceof Error ? err.message : String(err)}` }]);
    }
  }
  registerHelpersHook();
  let mod: { default?: unknown };
  try {
    const { tsImport } = await import('tsx/esm/api');
    mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as { default?: unknown };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err);
    // a .ts file outside an ES-module package is compiled to CommonJS, whose require() the hook does not see
    const hint = /Cannot find module 'tessera(\/project)?'/.test(message)
      ? '; the project is loaded as an ES module only when its folder\'s package.json says "type": "module" (tessera init writes one) or the file is named tessera.project.mts'
      : '';
    throw new ProjectError([{ file, path: '', message: `does not import: ${message}${hint}` }]);
  }
  if (mod.default === undefined) {
    throw new ProjectError([{ file, path: '', message: 'has no default export; end it with `export default defineProject({ ... })`' }]);
  }
  return mod.default;
}
