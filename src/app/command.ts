import { UsageError } from '../errors.js';
import { parseInstant } from '../events/time.js';
import type { TesseraConfig } from './config.js';

/** One option of a sub-command, as `node:util` parseArgs takes it, plus help text. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  description: string;
  /** Shown in help; parsing does not apply it (the command does, so it can validate). */
  defaultText?: string;
  multiple?: boolean;
}

/** What a sub-command's `run` receives. */
export interface CommandContext {
  /** Parsed option values. */
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  /** Loaded lazily: `services` and `--help` work with a broken config. */
  config: () => TesseraConfig;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/**
 * A `tessera` sub-command. Every one has a usage line, a summary and documented options, from
 * which `--help` is printed.
 */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Longer help, printed after the usage line. */
  details?: string;
  options: Record<string, OptionSpec>;
  allowPositionals?: boolean;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** Renders `tessera <cmd> --help`. */
export function renderHelp(cmd: Command): string {
  const lines = [`Usage: ${cmd.usage}`, '', cmd.summary];
  if (cmd.details) lines.push('', cmd.details.trim());
  const opts = Object.entries({
    ...cmd.options,
    project: { type: 'string', description: 'The feature project folder', defaultText: 'TESSERA_PROJECT' } as OptionSpec,
    help: { type: 'boolean', short: 'h', description: 'Show this help' } as OptionSpec,
  });
  lines.push('', 'Options:');
  const left = opts.map(([name, o]) => `  ${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ' <value>' : ''}`);
  const width = Math.max(...left.map((l) => l.length)) + 2;
  opts.forEach(([, o], i) => {
    const def = o.defaultText ? ` (default: ${o.defaultText})` : '';
    lines.push(`${(left[i] as string).padEnd(width)}${o.description}${def}`);
  });
  return lines.join('\n') + '\n';
}

/** Reads a numeric option, with a message that names the option when it is not a number. */
export function numberOption(ctx: CommandContext, name: string, fallback: number, { min = -Infinity, integer = true } = {}): number {
  const raw = ctx.values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new UsageError(`--${name} must be ${integer ? 'a whole number' : 'a number'}${min > -Infinity ? ` >= ${min}` : ''}, got "${String(raw)}"`);
  }
  return n;
}

/** Reads a string option. */
export function stringOption(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.values[name];
  return typeof v === 'string' ? v : undefined;
}

const DURATION_UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * `30m`, `24h`, `90s`, `2d`, `1500ms` or a plain number of ms, as ms.
 *
 * @throws UsageError naming the option and the accepted forms.
 */
export function parseDurationText(name: string, text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) throw new UsageError(`--${name} must be a duration such as 30m, 24h, 90s, 2d or a number of ms, got "${text}"`);
  return Number(m[1]) * (DURATION_UNIT_MS[m[2] ?? 'ms'] as number);
}

/** Reads a duration option ({@link parseDurationText}). */
export function durationOption(ctx: CommandContext, name: string, fallback: number): number {
  const raw = stringOption(ctx, name);
  return raw === undefined ? fallback : parseDurationText(name, raw);
}

/** An instant option: ISO-8601 with a zone or epoch ms. */
export function instantOption(ctx: CommandContext, name: string, required: true): number;
export function instantOption(ctx: CommandContext, name: string, required: false): number | undefined;
export function instantOption(ctx: CommandContext, name: string, required: boolean): number | undefined {
  const text = stringOption(ctx, name);
  if (text === undefined) {
    if (required) throw new UsageError(`--${name} is required (ISO-8601 with a zone, e.g. 2026-01-05T00:00:00Z, or epoch ms)`);
    return undefined;
  }
  try {
    return parseInstant(/^-?\d+$/.test(text) ? Number(text) : text);
  } catch (err) {
    throw new UsageError(`--${name} "${text}": ${(err as Error).message}`);
  }
}
