import type { EventCatalog } from '../events/event-catalog.js';
import type { FieldKind } from '../events/event-fields.js';
import { isNullableKind } from '../events/event-fields.js';
import { EMPTY_CONTEXT, type AnyEvent, type ReferenceEvent } from '../events/event-types.js';
import type { LabelRule } from '../samples/labels.js';

/**
 * Puts the events Tessera's own sources write (the seeded generator, the importers: the
 * reference vocabulary of impressions, clicks, orders and profiles) into a project's own
 * vocabulary, so synthetic or public data can feed any project:
 *
 * - an impression, a click and an order become the project's exposure, click and conversion
 *   event types (its label roles); item and user profiles are kept when the project has an
 *   event type of that name, else dropped;
 * - every other event type of the project that carries `userId` and `itemId` (a cart, a
 *   favourite, a share) is drawn as a companion of a click: with probability 0.3, decided by a
 *   hash of the click's eventId and the type (so the same input gives the same output), one such
 *   event 1 ms after the click, with eventId `<click eventId>.<type>`;
 * - each field of the target type takes the source's value of the same name when it fits the
 *   field's kind, else null when the field is optional, else a deterministic stand-in: an id
 *   `<field stem>-<hash>`, the text `unknown`, an int from 1 to 3, a double from the source's
 *   amount or price (1 to 100 otherwise), the event time for an instant, the source's context
 *   (or the empty one).
 *
 * A type whose fields are exactly the source's (the reference project's) passes through
 * unchanged, so the reference vocabulary costs nothing.
 */
export interface ProjectEventMapper {
  /**
   * The project's events for one source event (none, one, or the event and its companions). An
   * event of another type than the reference ones (an importer's cart) is kept when the project
   * has its type, else dropped.
   */
  map(event: ReferenceEvent | AnyEvent): AnyEvent[];
  /** What the mapping does, one line per event type, for a command to print. */
  readonly summary: readonly string[];
  /** True when every source type keeps its name and no companion is drawn (the reference vocabulary). */
  readonly identity: boolean;
}

/** Companion events are drawn for this share of clicks. */
export const COMPANION_RATE = 0.3;

const SOURCE_ROLE = { impression: 'exposure', click: 'click', order: 'conversion' } as const;

/** Options of {@link createProjectEventMapper}. */
export interface ProjectEventMapperOptions {
  /** Draw companion events after clicks (default true; false for a source that has its own, like the Taobao importer's carts). */
  readonly companions?: boolean;
}

/** The mapper of a project (every field kind has a stand-in, so any project can be fed). */
export function createProjectEventMapper(catalog: EventCatalog, rule: LabelRule, options: ProjectEventMapperOptions = {}): ProjectEventMapper {
  const target: Record<ReferenceEvent['type'], string | null> = {
    impression: rule.exposure,
    click: rule.click,
    order: rule.conversion,
    item_profile: catalog.has('item_profile') ? 'item_profile' : null,
    user_profile: catalog.has('user_profile') ? 'user_profile' : null,
  };
  const mapped = new Set(Object.values(target).filter((t): t is string => t !== null));
  const companions = options.companions === false ? [] : catalog.types.filter((t) => !mapped.has(t) && isKeyField(catalog.fieldKind(t, 'userId')) && isKeyField(catalog.fieldKind(t, 'itemId')));
  const summary: string[] = [];
  for (const [source, type] of Object.entries(target)) {
    const role = (SOURCE_ROLE as Record<string, string | undefined>)[source];
    summary.push(type === null ? `${source}: dropped (the project has no ${source} event type)` : `${source} -> ${type}${role === undefined ? '' : ` (the ${role} role)`}`);
  }
  for (const t of companions) summary.push(`${t}: drawn after ${Math.round(COMPANION_RATE * 100)} % of clicks`);
  const left = catalog.types.filter((t) => !mapped.has(t) && !companions.includes(t));
  for (const t of left) summary.push(options.companions === false ? `${t}: as the source writes it` : `${t}: none (no userId and itemId to draw it from)`);

  const identity =
    companions.length === 0 &&
    left.length === 0 &&
    Object.entries(target).every(([source, type]) => type === source);
  const passthrough = new Map<string, boolean>();
  const fill = (type: string, source: Readonly<Record<string, unknown>>, eventId: string, eventTime: number): AnyEvent => {
    const out: Record<string, unknown> = { type, eventId, eventTime };
    for (const [field, kind] of catalog.spec(type).fields) {
      if (field === 'eventId' || field === 'eventTime') continue;
      const value = source[field];
      out[field] = fits(kind, value) ? value : standIn(kind, field, { source, eventId, eventTime });
    }
    return out as unknown as AnyEvent;
  };
  const same = (type: string, event: AnyEvent): boolean => {
    let p = passthrough.get(event.type);
    if (p === undefined) {
      const fields = catalog.spec(type).fields.map(([f]) => f);
      const keys = Object.keys(event).filter((k) => k !== 'type');
      p = type === event.type && fields.length === keys.length && fields.every((f) => keys.includes(f));
      passthrough.set(event.type, p);
    }
    return p;
  };

  return {
    summary,
    identity,
    map(event) {
      if (!Object.hasOwn(target, event.type)) return catalog.has(event.type) ? [event as AnyEvent] : [];
      const type = target[event.type as ReferenceEvent['type']];
      if (type === null) return [];
      const src = event as unknown as Readonly<Record<string, unknown>>;
      const first = same(type, event) ? (event as unknown as AnyEvent) : fill(type, src, event.eventId, event.eventTime);
      if (event.type !== 'click' || companions.length === 0) return [first];
      const out = [first];
      for (const t of companions) {
        if (hash01(`${event.eventId}\u0000${t}`) < COMPANION_RATE) out.push(fill(t, src, `${event.eventId}.${t}`, event.eventTime + 1));
      }
      return out;
    },
  };
}

function isKeyField(kind: FieldKind | undefined): boolean {
  return kind === 'id' || kind === 'string';
}

function fits(kind: FieldKind, value: unknown): boolean {
  if (value === null) return isNullableKind(kind);
  switch (kind) {
    case 'id':
    case 'nullableId':
    case 'string':
    case 'nullableString':
      return typeof value === 'string' && (value !== '' || !(kind === 'id'));
    case 'int':
    case 'nullableInt':
      return typeof value === 'number' && Number.isInteger(value);
    case 'double':
    case 'nullableDouble':
      return typeof value === 'number' && Number.isFinite(value);
    case 'instant':
    case 'nullableInstant':
      return typeof value === 'number' && Number.isSafeInteger(value);
    case 'context':
      return typeof value === 'object' && value !== null;
  }
}

interface StandInInput {
  readonly source: Readonly<Record<string, unknown>>;
  readonly eventId: string;
  readonly eventTime: number;
}

/** A deterministic value for a field the source lacks or has in another kind. */
function standIn(kind: FieldKind, field: string, at: StandInInput): unknown {
  if (isNullableKind(kind)) return null;
  const h = hash01(`${at.eventId}\u0000${field}`);
  switch (kind) {
    case 'id':
      return `${field.endsWith('Id') ? field.slice(0, -2) : field}-${Math.floor(h * 2 ** 32).toString(36)}`;
    case 'string':
      return 'unknown';
    case 'int':
      return 1 + Math.floor(h * 3);
    case 'double': {
      const base = at.source['amount'] ?? at.source['price'];
      return typeof base === 'number' && Number.isFinite(base) ? base : Math.round((1 + h * 99) * 100) / 100;
    }
    case 'instant':
      return at.eventTime;
    case 'context': {
      const c = at.source['context'];
      return typeof c === 'object' && c !== null ? c : EMPTY_CONTEXT;
    }
    case 'nullableId':
    case 'nullableString':
    case 'nullableInt':
    case 'nullableDouble':
    case 'nullableInstant':
      return null;
  }
}

/** A uniform number in [0, 1) from a string (FNV-1a, 32 bits). */
function hash01(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) / 2 ** 32;
}
