import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ConfigError } from '../errors.js';
import { defineJob, type JobDefinition, type TaskResolver } from './job-definition.js';
import { JobDefinitionError } from './job-errors.js';

/** File kinds a jobs directory may hold: data over a built-in task, or a module with a task in code. */
const JOB_FILE = /\.(json|mjs|js)$/;

/**
 * Loads every job definition of a directory: `<name>.json` (a built-in task kind with a
 * schedule) and `<name>.mjs` / `<name>.js` (an ES module whose default export is a job spec with
 * a `run` function). Other files (README.md) are ignored. Every file is validated; all problems
 * of all files are reported together.
 *
 * @throws ConfigError when the directory is missing; JobDefinitionError listing every bad file.
 */
export async function loadJobDefinitions(dir: string, resolveTask: TaskResolver): Promise<JobDefinition[]> {
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
  } catch (err) {
    throw new ConfigError(`jobs directory ${dir} cannot be read (${(err as Error).message}); point TESSERA_JOBS_DIR at a directory of job files, or unset it for the shipped jobs/`, err);
  }
  const files = (await readdir(dir)).filter((f) => JOB_FILE.test(f)).sort();
  const defs: JobDefinition[] = [];
  const problems: string[] = [];
  for (const file of files) {
    const source = `${basename(dir)}/${file}`;
    try {
      const spec = await readSpec(join(dir, file), source);
      const def = defineJob(spec, { source, resolveTask });
      const stem = basename(file, extname(file));
      if (def.name !== stem) throw new JobDefinitionError(`job "${def.name}" (${source})`, [`its file must be named after it: rename the file to ${def.name}${extname(file)} or the job to "${stem}"`]);
      const clash = defs.find((d) => d.name === def.name);
      if (clash) throw new JobDefinitionError(`job "${def.name}" (${source})`, [`is also defined by ${clash.source}; keep one`]);
      defs.push(def);
    } catch (err) {
      if (err instanceof JobDefinitionError) problems.push(err.message);
      else throw err;
    }
  }
  if (problems.length > 0) throw new JobDefinitionError(`jobs in ${dir}`, problems);
  return defs;
}

async function readSpec(path: string, source: string): Promise<unknown> {
  if (path.endsWith('.json')) {
    try {
      return JSON.parse(await readFile(path, 'utf8')) as unknown;
    } catch (err) {
      throw new JobDefinitionError(`job definition ${source}`, [`is not valid JSON: ${(err as Error).message}`]);
    }
  }
  let mod: { default?: unknown };
  try {
    mod = (await import(pathToFileURL(path).href)) as { default?: unknown };
  } catch (err) {
    throw new JobDefinitionError(`job module ${source}`, [`cannot be imported: ${(err as Error).message}`]);
  }
  if (mod.default === undefined) throw new JobDefinitionError(`job module ${source}`, ['has no default export; export default { name, description, schedule, partition, run }']);
  return mod.default;
}
