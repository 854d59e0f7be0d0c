import { resolve } from 'node:path';
import { UsageError } from '../errors.js';
import type { ProjectEventMapper } from '../ingest/project-events.js';
import type { Project } from '../project/compile-project.js';
import { loadProject } from '../project/load-project.js';
import type { Logger } from '../ports/logger.js';
import { durationOption, type CommandContext } from './command.js';
import { labelRule, type LabelRule } from '../samples/labels.js';
import type { TesseraConfig } from './config.js';
import { EXAMPLES_DIR } from './paths.js';
import { Runtime } from './runtime.js';

/** The bundled reference project (the demo's; the generator's and importers' event types). */
export const REFERENCE_PROJECT_DIR = resolve(EXAMPLES_DIR, 'reference');

/** Options of {@link withRuntime}. */
export interface WithRuntimeOptions {
  embeddedLogAllowed?: boolean;
  logger?: Logger;
  /** The project folder used when none is configured (the demo's bundled reference project); otherwise one is required. */
  defaultProject?: string;
  /**
   * Take the definitions from the registry in the online store when one is registered (default
   * true when TESSERA_REDIS_URL is set); `plan`, `apply` and `init` work on the folder.
   */
  registry?: boolean;
}

/** The project folder a command runs on: `--project` / TESSERA_PROJECT, else the default, else a usage error. */
export function projectDir(config: TesseraConfig, defaultProject?: string): string {
  const dir = config.project ?? defaultProject;
  if (dir === undefined) {
    throw new UsageError(
      'no feature project: set TESSERA_PROJECT=<dir> or pass --project <dir> (`tessera init <dir>` writes a new one; examples/reference holds the demo\'s)',
    );
  }
  return resolve(dir);
}

/** Loads the command's feature project, runs a command body with a Runtime on it and closes the Runtime afterwards, whatever happens. */
export async function withRuntime<T>(ctx: CommandContext, options: WithRuntimeOptions, body: (rt: Runtime) => Promise<T>): Promise<T> {
  const config = ctx.config();
  const project = await loadProject(projectDir(config, options.defaultProject));
  const rt = new Runtime(config, project, options);
  try {
    if (options.registry !== false && config.redisUrl) {
      const { registered, folderDiffers } = await rt.useRegistry();
      if (registered !== null && folderDiffers) {
        ctx.stderr.write(`note: running on registry version ${registered}; ${project.dir} has changes not applied (tessera plan shows them)\n`);
      }
    }
    return await body(rt);
  } finally {
    await rt.close();
  }
}

/** The project's label rule with the windows of `--click-window` / `--order-window` where given. */
export function labelRuleOf(ctx: CommandContext, rt: Runtime): LabelRule {
  const base = rt.project.labels;
  return labelRule({
    ...base,
    clickWindowMs: durationOption(ctx, 'click-window', base.clickWindowMs),
    orderWindowMs: durationOption(ctx, 'order-window', base.orderWindowMs),
  });
}

/** Says on stderr how the reference vocabulary of Tessera's own sources is put into the project's event types, unless it passes through unchanged. */
export function reportEventMapping(ctx: CommandContext, project: Project, mapper: ProjectEventMapper): void {
  if (!mapper.identity) ctx.stderr.write(`events of project ${project.name}:\n${mapper.summary.map((l) => `  ${l}\n`).join('')}`);
}
