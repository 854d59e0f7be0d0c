import { TesseraError } from '../errors.js';

/**
 * A feature group definition is invalid. Thrown when a definition is loaded (start-up), never
 * while events flow, and never retriable: the same definition fails the same way.
 *
 * The message lists every problem found, each saying how to fix it; `problems` holds the same
 * sentences one by one for tools that display them separately.
 */
export class FeatureDefinitionError extends TesseraError {
  /** The group that failed, or null when the problem is not tied to one group. */
  readonly group: string | null;
  /** One sentence per problem, each naming the offending part and the fix. */
  readonly problems: readonly string[];

  constructor(group: string | null, problems: readonly string[]) {
    const where = group === null ? 'feature definition' : `feature group ${JSON.stringify(group)}`;
    const body = problems.length === 1 ? `: ${problems[0] ?? ''}` : ` has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
    super('FEATURE_DEFINITION', `${where}${body}`);
    this.group = group;
    this.problems = problems;
  }
}

/**
 * A stored aggregation state (read back from Redis, ClickHouse or a file) does not have the shape
 * its aggregation expects: written by another definition or version, or corrupted. Not
 * retriable; the caller decides whether to drop the state or refuse the read.
 */
export class FeatureStateError extends TesseraError {
  constructor(message: string) {
    super('FEATURE_STATE_INVALID', message);
  }
}
