import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import definition from '../../examples/reference/tessera.project.ts';
import type { EventCatalog, EventKinds } from '../../src/events/event-catalog.js';
import { createSchemaRegistry, readContextSchema, type SchemaRegistry, type SchemaRegistryOptions } from '../../src/events/schema-registry.js';
import { createTopics, type Topics } from '../../src/events/topics.js';
import { compileGroup, type CompiledGroup, type FeatureGroupDef } from '../../src/features/definitions.js';
import { compileProject, type Project } from '../../src/project/compile-project.js';

/**
 * The reference example project (examples/reference), compiled once per test file, and the
 * shorthands tests use: its catalog, groups, registry and topics.
 */

/** The folder of the reference project. */
export const REFERENCE_DIR = fileURLToPath(new URL('../../examples/reference/', import.meta.url));

function schemasOf(def: { events: Record<string, { schema: string }> }): Record<string, string> {
  return Object.fromEntries(Object.values(def.events).map((e) => [e.schema, readFileSync(new URL(e.schema, `file://${REFERENCE_DIR}`), 'utf8')]));
}

/** The compiled reference project. */
export const REFERENCE_PROJECT: Project = compileProject({ file: 'tessera.project.ts', definition, schemas: schemasOf(definition), shared: [readContextSchema()] });
/** Its event types. */
export const REFERENCE_CATALOG: EventCatalog = REFERENCE_PROJECT.catalog;
/** Their field kinds. */
export const REFERENCE_KINDS: EventKinds = REFERENCE_CATALOG.kinds;
/** Its feature groups (user, item, user_category), compiled. */
export const REFERENCE_GROUPS: readonly CompiledGroup[] = REFERENCE_PROJECT.groups;
/** Its groups by name. */
export const [USER_GROUP, ITEM_GROUP, USER_CATEGORY_GROUP] = REFERENCE_GROUPS as [CompiledGroup, CompiledGroup, CompiledGroup];

/** A group definition compiled against the reference project's event types. */
export function compileRef(def: FeatureGroupDef): CompiledGroup {
  return compileGroup(def, REFERENCE_KINDS);
}

/** A schema registry of the reference event types. */
export function referenceRegistry(options: SchemaRegistryOptions = {}): SchemaRegistry {
  return createSchemaRegistry(REFERENCE_CATALOG, options);
}

/** The topics of the reference event types under a prefix. */
export function referenceTopics(prefix?: string): Topics {
  return createTopics(REFERENCE_CATALOG.types, prefix);
}
