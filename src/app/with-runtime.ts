import type { CommandContext } from './command.js';
import { Runtime } from './runtime.js';
import type { Logger } from '../ports/logger.js';

/** Runs a command body with a Runtime and closes it afterwards, whatever happens. */
export async function withRuntime<T>(
  ctx: CommandContext,
  options: { embeddedLogAllowed?: boolean; logger?: Logger },
  body: (rt: Runtime) => Promise<T>,
): Promise<T> {
  const rt = new Runtime(ctx.config(), options);
  try {
    return await body(rt);
  } finally {
    await rt.close();
  }
}
