import { copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from '../command.js';
import { UsageError } from '../../errors.js';
import { PROJECT_FILES, readProjectSource } from '../../project/load-project.js';
import { EXAMPLES_DIR, PACKAGE_ROOT } from '../paths.js';

/** The project `tessera init` copies: a small shop with an event type of its own. */
const STARTER_DIR = join(EXAMPLES_DIR, 'starter');

export const initCommand: Command = {
  name: 'init',
  summary: 'Write a new feature project (events, entities, feature groups, labels, model inputs) into a folder.',
  usage: 'tessera init [dir] [--json]',
  details: `Copies the starter project into <dir> (default: the current folder): tessera.project.ts (or, with
--json, tessera.project.json), its Avro schemas under events/, and a package.json (an ES module) and
tsconfig.json that let an editor check the definitions against Tessera's types. Refuses a folder that already holds a project or any of
the files it would write. Then: edit the events and groups (docs/project-reference.md describes every
field), list what they produce with \`tessera features list --project <dir>\`, and point TESSERA_PROJECT at the folder.`,
  options: {
    json: { type: 'boolean', description: 'Write the definition as JSON instead of TypeScript' },
  },
  allowPositionals: true,
  async run(ctx) {
    const dir = resolve(ctx.positionals[0] ?? '.');
    if (ctx.positionals.length > 1) throw new UsageError('usage: tessera init [dir] [--json]');
    const json = ctx.values.json === true;
    const existing = existsSync(dir) ? PROJECT_FILES.filter((f) => existsSync(join(dir, f))) : [];
    if (existing.length > 0) throw new UsageError(`${dir} already holds a project (${existing.join(', ')}); choose an empty folder`);
    const schemas = readdirSync(join(STARTER_DIR, 'events')).filter((f) => f.endsWith('.avsc'));
    const files = [json ? 'tessera.project.json' : 'tessera.project.ts', ...(json ? [] : ['package.json', 'tsconfig.json']), ...schemas.map((f) => join('events', f))];
    const clashes = files.filter((f) => existsSync(join(dir, f)));
    if (clashes.length > 0) throw new UsageError(`${dir} already has ${clashes.join(', ')}; move them away or choose another folder`);

    mkdirSync(join(dir, 'events'), { recursive: true });
    for (const f of schemas) copyFileSync(join(STARTER_DIR, 'events', f), join(dir, 'events', f));
    if (json) {
      const source = await readProjectSource(STARTER_DIR);
      writeFileSync(join(dir, 'tessera.project.json'), JSON.stringify(source.definition, null, 2) + '\n');
    } else {
      copyFileSync(join(STARTER_DIR, 'tessera.project.ts'), join(dir, 'tessera.project.ts'));
      // editors resolve the helpers' types from the Tessera that wrote the project
      const types = join(PACKAGE_ROOT, 'dist', 'project', 'definition.d.ts');
      const tsconfig = {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          paths: { 'tessera/project': [types] },
        },
        include: ['tessera.project.ts'],
      };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2) + '\n');
      // the definition is an ES module (its `import ... from 'tessera/project'` is resolved by Tessera's loader)
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'shop-features', private: true, type: 'module' }, null, 2) + '\n');
    }
    ctx.stdout.write(
      `wrote a feature project into ${dir}:\n${files.map((f) => `  ${f}`).join('\n')}\n` +
        `next: edit it (docs/project-reference.md), check it with \`tessera features list --project ${ctx.positionals[0] ?? '.'}\`, ` +
        `and run Tessera on it with TESSERA_PROJECT=${ctx.positionals[0] ?? '.'}\n`,
    );
    return 0;
  },
};
