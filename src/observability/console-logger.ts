import type { Logger } from '../ports/logger.js';
import type { LogLevel } from '../app/config.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** A logger writing one JSON object per line to stderr (stdout is kept for command output). */
export function createConsoleLogger(level: LogLevel = 'info', component = 'tessera'): Logger {
  const min = RANK[level];
  const write = (lvl: LogLevel, event: string, fields?: Record<string, unknown>): void => {
    if (RANK[lvl] < min) return;
    const line = { t: new Date().toISOString(), level: lvl, component, event, ...fields };
    process.stderr.write(JSON.stringify(line, errorReplacer) + '\n');
  };
  return {
    debug: (e, f) => write('debug', e, f),
    info: (e, f) => write('info', e, f),
    warn: (e, f) => write('warn', e, f),
    error: (e, f) => write('error', e, f),
  };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  return value;
}
