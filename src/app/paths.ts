import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

/** The repository (or installed package) root: src/app and dist/app both sit two levels below it. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where the public sample data sets live by convention: `../shared/data` beside the project. */
export const DEFAULT_DATA_DIR = resolve(PACKAGE_ROOT, '..', 'shared', 'data');

/** The example feature projects shipped with Tessera (`examples/`); `reference` is the demo's. */
export const EXAMPLES_DIR = resolve(PACKAGE_ROOT, 'examples');
