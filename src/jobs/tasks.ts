import type { JobTask, JobTaskContext, TaskResolver, TaskResult } from './job-definition.js';
import { JobTaskUnboundError } from './job-errors.js';

/** Arguments of the hourly samples task: the impressions of `[from, to)`. */
export interface SamplesTaskArgs {
  /** Partition start, epoch ms UTC (inclusive). */
  from: number;
  /** Partition end, epoch ms UTC (exclusive). */
  to: number;
  /**
   * The raw tables are complete through this instant (partition end plus the job's settle), so
   * every impression of the range is mature: its label windows closed before it.
   */
  completeThrough: number;
}

/** Arguments of the daily recompute task: the batch view as of `until`. */
export interface RecomputeTaskArgs {
  /** The batch watermark, epoch ms UTC: the end of the partition's day. */
  until: number;
}

/** Arguments of the consistency check task. */
export interface ConsistencyTaskArgs {
  /** The firing this check belongs to, epoch ms UTC (the check itself reads at the watermark). */
  at: number;
  /** How many random entities to compare. */
  sample: number;
}

/**
 * The batch work the shipped jobs call. The composition root (src/app) binds what exists; a job
 * whose task is unbound still lists and schedules, and fails with `JOB_TASK_UNBOUND` when run.
 * Each function must be idempotent for the same arguments (rerunning replaces its output).
 */
export interface BatchTaskBindings {
  /** `buildSamples` over `[from, to)` into the samples table (src/batch). */
  samples?: (args: SamplesTaskArgs, ctx: JobTaskContext) => Promise<TaskResult | void>;
  /** The full recompute writing the batch view as of `until` (`tessera batch features --until`). */
  recompute?: (args: RecomputeTaskArgs, ctx: JobTaskContext) => Promise<TaskResult | void>;
  /** `tessera check consistency --sample N`; throws when it finds mismatches, so the run fails. */
  consistency?: (args: ConsistencyTaskArgs, ctx: JobTaskContext) => Promise<TaskResult | void>;
}

/** The built-in task kinds a job file may name. */
export const TASK_KINDS = ['samples', 'recompute', 'consistency'] as const;
export type TaskKind = (typeof TASK_KINDS)[number];

const HINTS: Record<TaskKind, string> = {
  samples: 'it calls buildSamples from src/batch, bound in src/app/commands/jobs.ts once the batch sample job lands',
  recompute: 'it calls the full recompute behind `tessera batch features --until`, bound in src/app/commands/jobs.ts once it lands',
  consistency: 'it calls the check behind `tessera check consistency`, bound in src/app/commands/jobs.ts once it lands',
};

/**
 * The resolver `defineJob` uses for the built-in kinds, over the given bindings: checks each
 * kind's options and adapts the partition into the kind's arguments.
 */
export function builtinTaskResolver(bindings: BatchTaskBindings): TaskResolver {
  return (kind, options, job, settledAt) => {
    if (!(TASK_KINDS as readonly string[]).includes(kind)) {
      return { problems: [`task "${kind}" is not a built-in kind; use one of ${TASK_KINDS.join(', ')}, or write a .mjs job module exporting run`] };
    }
    const k = kind as TaskKind;
    const allowed = k === 'consistency' ? ['sample'] : [];
    const unknown = Object.keys(options).filter((o) => !allowed.includes(o));
    if (unknown.length > 0) {
      return { problems: [`task "${k}" has no option ${unknown.map((u) => `"${u}"`).join(', ')}${allowed.length ? `; its options are ${allowed.join(', ')}` : '; it takes none'}`] };
    }
    let sample = 1000;
    if (k === 'consistency' && options.sample !== undefined) {
      if (typeof options.sample !== 'number' || !Number.isInteger(options.sample) || options.sample < 1) {
        return { problems: [`options.sample must be a whole number of entities >= 1, e.g. 1000`] };
      }
      sample = options.sample;
    }
    const unbound = (): never => {
      throw new JobTaskUnboundError(job, k, HINTS[k]);
    };
    const task: JobTask = async (p, ctx) => {
      switch (k) {
        case 'samples': {
          const fn = bindings.samples ?? unbound();
          return fn({ from: p.from, to: p.to, completeThrough: settledAt(p.to) }, ctx);
        }
        case 'recompute': {
          const fn = bindings.recompute ?? unbound();
          return fn({ until: p.to }, ctx);
        }
        case 'consistency': {
          const fn = bindings.consistency ?? unbound();
          return fn({ at: p.to, sample }, ctx);
        }
      }
    };
    return { task };
  };
}

/** Which built-in kinds have an implementation in these bindings. */
export function boundKinds(bindings: BatchTaskBindings): Record<TaskKind, boolean> {
  return { samples: bindings.samples !== undefined, recompute: bindings.recompute !== undefined, consistency: bindings.consistency !== undefined };
}
