import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { fieldOf, type ReferenceEvent } from '../../../src/events/event-types.js';
import { checkEvent } from '../../../src/events/validate.js';
import { generateEvents } from '../../../src/ingest/generator.js';
import { COMPANION_RATE, createProjectEventMapper } from '../../../src/ingest/project-events.js';
import { loadProject } from '../../../src/project/load-project.js';
import { REFERENCE_PROJECT } from '../../helpers/reference.js';

const STARTER_DIR = fileURLToPath(new URL('../../../examples/starter/', import.meta.url));

function generated(n: number): ReferenceEvent[] {
  return [...generateEvents({ events: n, users: 50, items: 200, seed: 7 })].map((r) => r.event);
}

describe('the project event mapper', () => {
  it('passes the reference vocabulary through unchanged', () => {
    const mapper = createProjectEventMapper(REFERENCE_PROJECT.catalog, REFERENCE_PROJECT.labels);
    expect(mapper.identity).toBe(true);
    const events = generated(2_000);
    const out = events.flatMap((e) => mapper.map(e));
    expect(out).toHaveLength(events.length);
    out.forEach((e, i) => expect(e).toBe(events[i]));
  });

  it("writes a project's own vocabulary: roles renamed, fields filled, companions drawn, every event valid", async () => {
    const project = await loadProject(STARTER_DIR);
    const mapper = createProjectEventMapper(project.catalog, project.labels);
    expect(mapper.identity).toBe(false);
    expect(mapper.summary).toContain('order -> purchase (the conversion role)');
    const events = generated(20_000);
    const out = events.flatMap((e) => mapper.map(e));
    const counts = new Map<string, number>();
    for (const e of out) {
      counts.set(e.type, (counts.get(e.type) ?? 0) + 1);
      const check = checkEvent(e, project.catalog, Date.UTC(2027, 0, 1));
      if (!check.ok) throw new Error(`${JSON.stringify(e)}: ${check.error.message}`);
      // exactly the target schema's fields
      expect(Object.keys(e).filter((k) => k !== 'type').sort()).toEqual(project.catalog.spec(e.type).fields.map(([f]) => f).sort());
    }
    const source = (t: string): number => events.filter((e) => e.type === t).length;
    expect(counts.get('impression')).toBe(source('impression'));
    expect(counts.get('click')).toBe(source('click'));
    expect(counts.get('purchase')).toBe(source('order'));
    expect(counts.has('item_profile')).toBe(false);
    // about 30 % of clicks get an add_to_cart, 1 ms after the click, of the same user and item
    const clicks = source('click');
    const carts = out.filter((e) => e.type === 'add_to_cart');
    expect(carts.length / clicks).toBeGreaterThan(COMPANION_RATE - 0.05);
    expect(carts.length / clicks).toBeLessThan(COMPANION_RATE + 0.05);
    const byId = new Map(events.map((e) => [e.eventId, e]));
    for (const c of carts.slice(0, 50)) {
      const click = byId.get(c.eventId.slice(0, c.eventId.lastIndexOf('.'))) as ReferenceEvent;
      expect(click.type).toBe('click');
      expect(c.eventTime).toBe(click.eventTime + 1);
      expect(fieldOf(c, 'userId')).toBe(fieldOf(click, 'userId'));
      expect(fieldOf(c, 'itemId')).toBe(fieldOf(click, 'itemId'));
      expect([1, 2, 3]).toContain(fieldOf(c, 'quantity'));
    }
    // a purchase keeps the order's amount
    const orders = events.filter((e) => e.type === 'order');
    const purchases = out.filter((e) => e.type === 'purchase');
    purchases.forEach((p, i) => expect(fieldOf(p, 'amount')).toBe(fieldOf(orders[i] as ReferenceEvent, 'amount')));
    // the same input gives the same output
    const again = createProjectEventMapper(project.catalog, project.labels);
    expect(events.flatMap((e) => again.map(e))).toEqual(out);
  });
});
