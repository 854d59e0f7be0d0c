/**
 * The registry's head as the online catalog holds it (`registry` field of `<prefix>:catalog`; see
 * src/registry/registry.ts and docs/architecture.md, The registry). Plain data, no imports, so
 * the catalog can parse it without depending on the registry's logic.
 */

/** One version of a feature group. */
export interface GroupVersion {
  /** 1, 2, ... per group. */
  readonly version: number;
  /** The registry version whose source defines it. */
  readonly registry: number;
  readonly specHash: string;
  /** Namespaces holding this version's streaming state (the first, and one more per kappa rebuild). */
  readonly namespaces: readonly string[];
  /** When it was applied (wall clock, epoch ms). */
  readonly appliedAt: number;
  /** A backfilled batch view written for it, made its batch view by the flip. */
  readonly backfill?: { readonly namespace: string; readonly until: number; readonly writtenAt: number } | null;
}

export interface RegisteredGroup {
  /** Ascending by version. */
  readonly versions: readonly GroupVersion[];
}

export interface RegistryHead {
  readonly version: number;
  readonly appliedAt: number;
  readonly project: string;
  /** The applied source's hash (Project.hash). */
  readonly hash: string;
  readonly groups: Readonly<Record<string, RegisteredGroup>>;
}
