/**
 * ModelStore: where the trainer publishes model versions and the inference service finds them (a
 * shared directory, NFS or any mounted volume, in production; a local directory by default).
 *
 * Contract (checked by `test/contract/model-store.contract.ts`):
 * - a version is immutable once published: its files never change, and `read` verifies every
 *   file against the checksum in its manifest;
 * - `publish` makes the version complete before it moves the model's pointer, and moves the
 *   pointer atomically, so a reader following the pointer never sees half a version;
 * - `setPointer` (rollback) moves the pointer to any complete version, atomically;
 * - `prune` keeps the newest `keep` versions, the one the pointer names, and every version a
 *   kept delta needs to be loaded (its chain back to a full snapshot);
 * - a folder left by a publisher that crashed mid-write is never listed nor pointed at.
 */
export interface ModelStore {
  /** Writes a new version of `model` and points the model at it; returns its manifest. */
  publish(model: string, files: readonly ModelFile[], manifest: ManifestInput): Promise<ModelManifest>;
  /** The version the model's pointer names, null when none was published. */
  pointer(model: string): Promise<string | null>;
  /** Points the model at an existing version (rollback / roll forward). */
  setPointer(model: string, version: string): Promise<void>;
  /** Every complete version of the model, oldest first. */
  list(model: string): Promise<ModelManifest[]>;
  /**
   * A version's manifest and files, checksums verified; with `only`, just the named files that the
   * version has (a server loading `model.bin` need not read and hash the key-value export).
   */
  read(model: string, version: string, only?: readonly string[]): Promise<{ manifest: ModelManifest; files: Map<string, Uint8Array> }>;
  /** Deletes old versions (see the contract); returns the deleted version ids. */
  prune(model: string, keep: number): Promise<string[]>;
  /** The model names with at least one version. */
  models(): Promise<string[]>;
}

export interface ModelFile {
  /** A plain file name (no directories), e.g. `params.bin`. */
  name: string;
  data: Uint8Array;
}

/** What the publisher says about a version; the store adds id, time, sizes and checksums. */
export interface ManifestInput {
  /** `lr`, `fm`, `wide-deep`. */
  kind: string;
  /** The feature spec the model was trained for (samples/sample.ts). */
  featureSpecHash: string;
  /** `full`, or `delta` holding only rows changed since `parent`. */
  type: 'full' | 'delta';
  /** The version this one continues (warm start or delta base); null for the first. */
  parent: string | null;
  /** Samples learned, data range (event time) and the consumed offsets / sample cursors. */
  data: { samples: number; from: number | null; to: number | null; offsets?: Record<string, unknown> };
  /** Evaluation figures at publication (progressive AUC, logloss, calibration...). */
  metrics: Record<string, number>;
  /** Model hyper-parameters and anything the loader needs. */
  config: Record<string, unknown>;
  /**
   * The features the version reads: their names, and the registry version and group versions they
   * were served by while it trained (docs/architecture.md, The registry); registry null when
   * nothing was registered. Absent in versions published before the registry.
   */
  features?: { names: string[]; registry: number | null; groups: Record<string, number> };
}

export interface ModelManifest extends ManifestInput {
  model: string;
  version: string;
  /** Wall-clock publication time, epoch ms. */
  publishedAt: number;
  files: { name: string; bytes: number; sha256: string }[];
}
