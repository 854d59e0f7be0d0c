import { TesseraError } from '../errors.js';

/**
 * A job definition (its cron schedule, zone, partitioning or task) is invalid. Raised when the
 * definitions are loaded, so a typo stops `tessera jobs ...` at start-up instead of silently
 * never firing. The message names the job, the file and the fix.
 */
export class JobDefinitionError extends TesseraError {
  /** One sentence per problem, each naming the offending field and how to fix it. */
  readonly problems: readonly string[];

  constructor(where: string, problems: readonly string[]) {
    const body = problems.length === 1 ? `: ${problems[0] ?? ''}` : ` has ${problems.length} problems:\n${problems.map((p) => `  - ${p}`).join('\n')}`;
    super('JOB_DEFINITION', `${where}${body}`);
    this.problems = problems;
  }
}

/**
 * A cron expression cannot be parsed or can never fire. Raised by `parseCron`; wrapped into a
 * {@link JobDefinitionError} when it comes from a job file.
 */
export class CronError extends TesseraError {
  constructor(message: string) {
    super('CRON_INVALID', message);
  }
}

/**
 * A job's task is declared but its implementation is not bound in this build (the batch work it
 * calls has not landed, or the composition root does not wire it). Not retriable.
 */
export class JobTaskUnboundError extends TesseraError {
  constructor(job: string, task: string, hint: string) {
    super('JOB_TASK_UNBOUND', `job "${job}": task "${task}" is not bound in this build; ${hint}`);
  }
}

/**
 * The run lost its partition lease while the task ran (the process stalled longer than the lease
 * lasts and another run took the partition over). The partition is not marked done; the run that
 * holds the lease now owns it.
 */
export class LeaseLostError extends TesseraError {
  constructor(job: string, partition: string) {
    super('JOB_LEASE_LOST', `job "${job}" partition ${partition}: the lease expired and was taken over while the task ran; not marking it done`, { retriable: true });
  }
}

/**
 * A partition's input was not complete when its task ran (e.g. samples whose label windows were
 * still open): the task refuses to let the ledger mark it done. The fix is a longer `settle`.
 */
export class PartitionNotReadyError extends TesseraError {
  constructor(message: string) {
    super('JOB_PARTITION_IMMATURE', message);
  }
}
