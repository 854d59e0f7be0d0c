import { parseArgs } from 'node:util';
import { TesseraError, UsageError } from '../errors.js';
import { renderHelp, type Command, type CommandContext } from './command.js';
import { loadConfig, type TesseraConfig } from './config.js';
import { deadLettersCommand } from './commands/deadletters.js';
import { demoCommand } from './commands/demo.js';
import { initCommand } from './commands/init.js';
import { generateCommand } from './commands/generate.js';
import { produceCommand } from './commands/produce.js';
import { replayCommand } from './commands/replay.js';
import { servicesCommand } from './commands/services.js';
import { sinkCommand } from './commands/sink.js';
import { topicsCommand } from './commands/topics.js';
import { streamCommand } from './commands/stream.js';
import { featuresCommand } from './commands/features.js';
import { rebuildCommand } from './commands/rebuild.js';
import { versionsCommand } from './commands/versions.js';
import { applyCommand, backfillCommand, planCommand } from './commands/registry.js';
import { serveCommand } from './commands/serve.js';
import { modelsCommand } from './commands/models.js';
import { trainCommand } from './commands/train.js';
import { checkCommand } from './commands/check.js';
import { jobsCommand } from './commands/jobs.js';
import { joinCommand } from './commands/join.js';
import { batchCommand } from './commands/batch.js';

/** Every sub-command, in help order. */
export const COMMANDS: readonly Command[] = [
  demoCommand,
  initCommand,
  servicesCommand,
  generateCommand,
  produceCommand,
  replayCommand,
  sinkCommand,
  streamCommand,
  joinCommand,
  batchCommand,
  featuresCommand,
  planCommand,
  applyCommand,
  backfillCommand,
  rebuildCommand,
  versionsCommand,
  checkCommand,
  trainCommand,
  serveCommand,
  modelsCommand,
  topicsCommand,
  deadLettersCommand,
  jobsCommand,
];

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: tessera <command> [options]',
    '',
    'Tessera: streaming features, lambda/kappa batch layer and training data for recommender systems.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run `tessera <command> --help` for a command\'s options. Configuration comes from TESSERA_* environment',
    'variables or a JSON file named by TESSERA_CONFIG (see README); unset service URLs mean embedded defaults.',
    'Every command runs on a feature project: --project <dir> or TESSERA_PROJECT (`tessera init <dir>` writes one).',
    '',
  ].join('\n');
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream } = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(topHelp());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    io.stderr.write(`tessera: unknown command "${name}"\n\n${topHelp()}`);
    return 2;
  }
  try {
    const parsed = parseArgs({
      args: rest,
      options: {
        ...Object.fromEntries(
          Object.entries(cmd.options).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) }]),
        ),
        help: { type: 'boolean', short: 'h' },
        project: { type: 'string' },
      },
      allowPositionals: cmd.allowPositionals ?? false,
      strict: true,
    });
    if (parsed.values.help) {
      io.stdout.write(renderHelp(cmd));
      return 0;
    }
    let config: TesseraConfig | undefined;
    const ctx: CommandContext = {
      values: parsed.values as CommandContext['values'],
      positionals: parsed.positionals,
      config: () => (config ??= loadConfig(process.env, typeof parsed.values.project === 'string' ? { overrides: { project: parsed.values.project } } : {})),
      stdout: io.stdout,
      stderr: io.stderr,
    };
    return await cmd.run(ctx);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`tessera ${name}: ${(err as Error).message}\nRun \`tessera ${name} --help\` for usage.\n`);
      return 2;
    }
    if (err instanceof TesseraError) {
      io.stderr.write(`tessera ${name}: ${err.code}: ${err.message}\n`);
      return 1;
    }
    io.stderr.write(`tessera ${name}: unexpected error: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}
