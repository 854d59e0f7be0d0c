/**
 * The feature project the benchmarks run on, loaded the way the CLI loads it: the folder of
 * `TESSERA_PROJECT` (bench/run.sh sets examples/reference, relative to the repository, which it
 * runs from), else the bundled examples/reference. The benchmarks measure the reference feature
 * set (their results name its features); a `tessera` they spawn gets the same folder through
 * {@link PROJECT_ENV}.
 */
import { resolve } from 'node:path';
import { EXAMPLES_DIR } from '../src/app/paths.js';
import type { EventCatalog } from '../src/events/event-catalog.js';
import { createSchemaRegistry, type SchemaRegistry } from '../src/events/schema-registry.js';
import { createTopics, type Topics } from '../src/events/topics.js';
import type { CompiledGroup } from '../src/features/definitions.js';
import { loadProject } from '../src/project/load-project.js';

/** The project folder, absolute. */
export const PROJECT_DIR = resolve(process.env.TESSERA_PROJECT || resolve(EXAMPLES_DIR, 'reference'));
/** The compiled project. */
export const PROJECT = await loadProject(PROJECT_DIR);
/** Its event types. */
export const CATALOG: EventCatalog = PROJECT.catalog;
/** Its feature groups, compiled. */
export const GROUPS: readonly CompiledGroup[] = PROJECT.groups;
/** The environment a spawned `tessera` needs to run on the same project. */
export const PROJECT_ENV: Readonly<{ TESSERA_PROJECT: string }> = Object.freeze({ TESSERA_PROJECT: PROJECT_DIR });

/** A schema registry of the project's event types. */
export function projectRegistry(): SchemaRegistry {
  return createSchemaRegistry(CATALOG);
}

/** The topics of the project's event types under a prefix. */
export function projectTopics(prefix?: string): Topics {
  return createTopics(CATALOG.types, prefix);
}
