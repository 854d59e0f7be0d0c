import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ServiceError, UsageError } from '../../errors.js';
import type { ManifestInput, ModelFile, ModelManifest, ModelStore } from '../../ports/model-store.js';

/**
 * ModelStore on a directory (local, or shared over NFS / any mounted volume):
 *
 * ```
 * <root>/<model>/versions/<version>/manifest.json   + the version's files
 * <root>/<model>/POINTER                             the served version's id
 * ```
 * A version is written into `<model>/.tmp-<uuid>/` (files, then the manifest with their sha256,
 * each fsynced) and renamed into `versions/` in one step, so a half-written version never has
 * its final name; version ids are `v<6-digit sequence>-<UTC time>`, and a rename that finds the
 * name taken (another publisher won the sequence number) retries with the next one. The pointer
 * is replaced by writing a temp file and renaming it over `POINTER`, atomic on POSIX file systems
 * (NFS included, within one directory). Leftover temp folders of crashed publishers are
 * ignored and removed by `prune` after an hour.
 */
export class FsModelStore implements ModelStore {
  constructor(private readonly root: string) {}

  async publish(model: string, files: readonly ModelFile[], input: ManifestInput): Promise<ModelManifest> {
    const dir = this.modelDir(model);
    const seen = new Set<string>();
    for (const f of files) {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(f.name) || f.name === 'manifest.json') throw new UsageError(`model file name "${f.name}": use letters, digits, '_', '-', '.' (not manifest.json)`);
      if (seen.has(f.name)) throw new UsageError(`model file "${f.name}" given twice`);
      seen.add(f.name);
    }
    if (input.parent !== null && !(await this.exists(join(dir, 'versions', input.parent, 'manifest.json')))) {
      throw new UsageError(`model ${model}: parent version ${input.parent} does not exist`);
    }
    await mkdir(join(dir, 'versions'), { recursive: true });
    const tmp = join(dir, `.tmp-${randomUUID()}`);
    await mkdir(tmp);
    try {
      const described: ModelManifest['files'] = [];
      for (const f of files) {
        await writeDurably(join(tmp, f.name), f.data);
        described.push({ name: f.name, bytes: f.data.byteLength, sha256: sha256(f.data) });
      }
      for (let attempt = 0; attempt < 50; attempt++) {
        const seq = (await this.sequences(model)).at(-1) ?? 0;
        const publishedAt = Date.now();
        const version = `v${String(seq + 1 + attempt).padStart(6, '0')}-${new Date(publishedAt).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
        const manifest: ModelManifest = { ...input, model, version, publishedAt, files: described };
        await writeDurably(join(tmp, 'manifest.json'), Buffer.from(JSON.stringify(manifest, null, 2)));
        try {
          await rename(tmp, join(dir, 'versions', version));
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') continue;
          throw err;
        }
        await this.setPointer(model, version);
        return manifest;
      }
      throw new ServiceError('model-store', `model ${model}: could not claim a version number after 50 attempts`, { retriable: true });
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
  }

  async pointer(model: string): Promise<string | null> {
    try {
      const v = (await readFile(join(this.modelDir(model), 'POINTER'), 'utf8')).trim();
      return v === '' ? null : v;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async setPointer(model: string, version: string): Promise<void> {
    const dir = this.modelDir(model);
    if (!(await this.exists(join(dir, 'versions', version, 'manifest.json')))) throw new UsageError(`model ${model} has no version ${version}`);
    const tmp = join(dir, `.POINTER-${randomUUID()}`);
    await writeDurably(tmp, Buffer.from(`${version}\n`));
    await rename(tmp, join(dir, 'POINTER'));
  }

  async list(model: string): Promise<ModelManifest[]> {
    const out: ModelManifest[] = [];
    for (const version of await this.versionIds(model)) {
      try {
        out.push(JSON.parse(await readFile(join(this.modelDir(model), 'versions', version, 'manifest.json'), 'utf8')) as ModelManifest);
      } catch {
        // a version folder without a readable manifest is not a version (never happens via publish)
      }
    }
    return out;
  }

  async read(model: string, version: string, only?: readonly string[]): Promise<{ manifest: ModelManifest; files: Map<string, Uint8Array> }> {
    const dir = join(this.modelDir(model), 'versions', version);
    let manifest: ModelManifest;
    try {
      manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as ModelManifest;
    } catch (err) {
      throw new ServiceError('model-store', `model ${model} version ${version}: no readable manifest (${(err as Error).message})`, { retriable: false });
    }
    const files = new Map<string, Uint8Array>();
    for (const f of manifest.files) {
      if (only !== undefined && !only.includes(f.name)) continue;
      let data: Buffer;
      try {
        data = await readFile(join(dir, f.name));
      } catch (err) {
        throw new ServiceError('model-store', `model ${model} version ${version}: file ${f.name} is missing (${(err as Error).message})`, { retriable: false });
      }
      if (data.byteLength !== f.bytes || (await sha256Yielding(data)) !== f.sha256) {
        throw new ServiceError('model-store', `model ${model} version ${version}: file ${f.name} does not match its manifest checksum (corrupt or tampered)`, { retriable: false });
      }
      files.set(f.name, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    return { manifest, files };
  }

  async prune(model: string, keep: number): Promise<string[]> {
    if (!Number.isSafeInteger(keep) || keep < 1) throw new UsageError(`prune: keep must be a whole number >= 1, got ${keep}`);
    const manifests = await this.list(model);
    const byId = new Map(manifests.map((m) => [m.version, m]));
    const kept = new Set<string>();
    const keepChain = (id: string | null | undefined) => {
      for (let v = id; v && !kept.has(v); v = byId.get(v)?.type === 'delta' ? byId.get(v)?.parent : null) kept.add(v);
    };
    for (const m of manifests.slice(-keep)) keepChain(m.version);
    keepChain(await this.pointer(model));
    const dir = this.modelDir(model);
    const deleted: string[] = [];
    for (const m of manifests) {
      if (kept.has(m.version)) continue;
      await rm(join(dir, 'versions', m.version), { recursive: true, force: true });
      deleted.push(m.version);
    }
    for (const name of await readdir(dir)) {
      if (!name.startsWith('.tmp-') && !name.startsWith('.POINTER-')) continue;
      const s = await stat(join(dir, name)).catch(() => null);
      if (s && Date.now() - s.mtimeMs > 3_600_000) await rm(join(dir, name), { recursive: true, force: true });
    }
    return deleted;
  }

  async models(): Promise<string[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const out: string[] = [];
    for (const n of names) if ((await this.versionIds(n).catch(() => [])).length > 0) out.push(n);
    return out.sort();
  }

  private modelDir(model: string): string {
    if (!/^[a-z0-9][a-z0-9_.-]{0,63}$/.test(model)) throw new UsageError(`model name "${model}": use 1-64 lower-case letters, digits, '_', '-', '.'`);
    return join(this.root, model);
  }

  private async versionIds(model: string): Promise<string[]> {
    const names = await readdir(join(this.modelDir(model), 'versions')).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [] as string[];
      throw err;
    });
    return names.filter((n) => /^v\d{6,}-/.test(n)).sort();
  }

  private async sequences(model: string): Promise<number[]> {
    return (await this.versionIds(model)).map((v) => Number(v.slice(1, v.indexOf('-')))).sort((a, b) => a - b);
  }

  private async exists(path: string): Promise<boolean> {
    return stat(path).then(
      () => true,
      () => false,
    );
  }
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 in 1 MiB slices with the event loop let through between them: a service verifying a
 * version of tens of MB while it answers requests holds them for one slice at a time (~2 ms).
 */
async function sha256Yielding(data: Uint8Array): Promise<string> {
  const hash = createHash('sha256');
  const slice = 1 << 20;
  for (let at = 0; at < data.byteLength; at += slice) {
    hash.update(data.subarray(at, Math.min(data.byteLength, at + slice)));
    if (at + slice < data.byteLength) await new Promise((r) => setImmediate(r));
  }
  return hash.digest('hex');
}

async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function createFsModelStore(root: string): FsModelStore {
  return new FsModelStore(root);
}
