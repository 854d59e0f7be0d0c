import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readContextSchema } from '../../../src/events/schema-registry.js';
import { compileProject, parseDuration, ProjectError, type ProjectSource } from '../../../src/project/compile-project.js';
import { REFERENCE_DIR, REFERENCE_PROJECT } from '../../helpers/reference.js';

const CONTEXT = [readContextSchema()];

/** The reference schemas as a project would name them. */
const SCHEMAS: Record<string, string> = Object.fromEntries(
  ['Impression', 'Click', 'Order', 'ItemProfile', 'UserProfile'].map((n) => [`events/${n}.avsc`, readFileSync(join(REFERENCE_DIR, 'events', `${n}.avsc`), 'utf8')]),
);

const RATING = JSON.stringify({
  type: 'record',
  name: 'Rating',
  namespace: 'com.example.films',
  fields: [
    { name: 'eventId', type: 'string' },
    { name: 'eventTime', type: { type: 'long', logicalType: 'timestamp-millis' } },
    { name: 'userId', type: 'string' },
    { name: 'itemId', type: 'string' },
    { name: 'stars', type: 'double' },
    { name: 'genre', type: ['null', 'string'], default: null },
  ],
});

/** A small valid project in JSON form: the reference role events plus a rating event of its own. */
function definition(): Record<string, any> {
  return {
    name: 'films',
    events: {
      impression: { schema: 'events/Impression.avsc', key: 'userId' },
      click: { schema: 'events/Click.avsc', key: 'userId' },
      order: { schema: 'events/Order.avsc', key: 'userId' },
      rating: { schema: 'events/Rating.avsc', key: 'userId' },
    },
    entities: { viewer: ['userId'], film: ['itemId'] },
    groups: [
      {
        name: 'viewer',
        entity: 'viewer',
        aggregations: [
          { source: 'rating', op: 'count', windows: ['30d'] },
          { source: 'rating', op: 'last_k', field: 'genre', k: 5 },
        ],
      },
      { name: 'film', entity: 'film', aggregations: [{ source: 'rating', op: 'avg', field: 'stars', windows: ['30d'] }] },
    ],
    labels: { exposure: 'impression', click: { source: 'click', window: '30m' }, conversion: { source: 'order', window: '1d' } },
    models: { ranker: { kind: 'fm', crosses: [['user', 'item']] } },
  };
}

function source(def: unknown, schemas: Record<string, string> = { ...SCHEMAS, 'events/Rating.avsc': RATING }): ProjectSource {
  return { file: 'tessera.project.json', definition: def, schemas, shared: CONTEXT };
}

function problemsOf(def: unknown, schemas?: Record<string, string>): string[] {
  try {
    compileProject(source(def, schemas));
  } catch (err) {
    if (err instanceof ProjectError) return err.problems.map((p) => `${p.file}: ${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('expected the project to be refused');
}

describe('compileProject', () => {
  it('compiles a project with an event type of its own: catalog, names, labels, models, defaults', () => {
    const p = compileProject(source(definition()));
    expect(p.name).toBe('films');
    expect(p.catalog.types).toEqual(['impression', 'click', 'order', 'rating']);
    expect(p.catalog.kinds['rating']).toEqual({ eventId: 'id', eventTime: 'instant', userId: 'id', itemId: 'id', stars: 'double', genre: 'nullableString' });
    expect(p.groups.map((g) => g.features.map((f) => f.name))).toEqual([
      ['viewer_rating_count_30d', 'viewer_last_rated_genres'],
      ['film_rating_stars_avg_30d'],
    ]);
    expect(p.labels).toEqual({ exposure: 'impression', click: 'click', conversion: 'order', clickWindowMs: 1_800_000, orderWindowMs: 86_400_000 });
    expect(p.models['ranker']).toEqual({ name: 'ranker', kind: 'fm', label: 'click', crosses: [['user', 'item']], config: {} });
    expect(p.latenessMs).toBe(600_000);
    expect(p.dedupeHorizonMs).toBe(86_400_000);
  });

  it('hashes the definition and schemas, not the file name or key order', () => {
    const a = compileProject(source(definition()));
    const reordered = Object.fromEntries(Object.entries(definition()).reverse());
    const b = compileProject({ ...source(reordered), file: 'tessera.project.ts' });
    expect(b.hash).toBe(a.hash);
    const changed = definition();
    changed.groups[0].aggregations[0].windows = ['7d'];
    expect(compileProject(source(changed)).hash).not.toBe(a.hash);
    const schemaChanged = compileProject(source(definition(), { ...SCHEMAS, 'events/Rating.avsc': RATING.replace('"Rating"', '"Rating", "doc": "one rating"') }));
    expect(schemaChanged.hash).not.toBe(a.hash);
  });

  it('the reference project keeps the reference feature names', () => {
    expect(REFERENCE_PROJECT.groups.flatMap((g) => g.features.map((f) => f.name))).toEqual([
      'user_impression_count_1h', 'user_impression_count_24h', 'user_impression_count_7d', 'user_click_count_1h', 'user_click_count_24h',
      'user_click_count_7d', 'user_order_count_30d', 'user_order_amount_sum_30d', 'user_last_clicked_items', 'user_last_click_time', 'user_ctr_7d',
      'item_impression_count_1h', 'item_impression_count_24h', 'item_click_count_1h', 'item_click_count_24h', 'item_order_count_7d', 'item_ctr_24h',
      'user_category_click_count_7d',
    ]);
  });

  it('parses durations and refuses anything else with the forms to write', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2w')).toBe(14 * 86_400_000);
    expect(parseDuration(1500)).toBe(1500);
    for (const bad of ['7days', '1.5h', '', '-1h', 0, 1.5, null, '1M']) expect(parseDuration(bad)).toHaveProperty('problem');
  });
});

describe('compileProject refuses bad definitions with file, field and fix, one message per problem', () => {
  it('an unknown source and an unknown field', () => {
    const d = definition();
    d.groups[0].aggregations[0].source = 'ratings';
    d.groups[1].aggregations[0].field = 'star';
    expect(problemsOf(d)).toEqual([
      'tessera.project.json: groups[0] (viewer): aggregations[0] (ratings count): unknown source "ratings"; use one of the project\'s event types: impression, click, order, rating',
      'tessera.project.json: groups[1] (film): aggregations[0] (rating avg star): rating events have no field "star"; rating has stars',
    ]);
  });

  it('a window that is not a multiple of its hop, and a duration that does not parse', () => {
    const d = definition();
    d.groups[0].aggregations[0].windows = ['90m', '7 days'];
    const problems = problemsOf(d);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('groups[0] (viewer).aggregations[0].windows[1]: "7 days" is not a duration');
    d.groups[0].aggregations[0].windows = ['62m'];
    expect(problemsOf(d)).toEqual([
      expect.stringMatching(/groups\[0\] \(viewer\): aggregations\[0\] \(rating count\): window 62m is not a whole number of its hop 5m .*use 60m or 65m|use 1h or 65m/),
    ]);
  });

  it('two features with one name, within the project', () => {
    const d = definition();
    d.groups.push({ name: 'viewer2', entity: 'viewer', aggregations: [{ source: 'rating', op: 'count', windows: ['30d'] }] });
    expect(problemsOf(d)).toEqual([
      'tessera.project.json: groups[2] (viewer2): feature viewer_rating_count_30d is also produced by groups[0] (viewer); feature names must be unique across the project (rename a group or its entity)',
    ]);
    const twice = definition();
    twice.groups[1].name = 'viewer';
    expect(problemsOf(twice)).toContainEqual(expect.stringContaining('groups[1] (viewer).name: groups[0] is already named viewer'));
  });

  it('an entity the project does not declare, a key field a source lacks', () => {
    const d = definition();
    d.groups[1].entity = 'movie';
    d.entities.genre = ['genre'];
    d.groups.push({ name: 'genre', entity: 'genre', aggregations: [{ source: 'click', op: 'count', windows: ['1d'] }] });
    const problems = problemsOf(d);
    expect(problems).toContainEqual(expect.stringContaining('groups[1] (film).entity: "movie" is not an entity of the project; declare it under entities or use one of viewer, film, genre'));
    expect(problems).toContainEqual(expect.stringContaining('groups[2] (genre): aggregations[0] (click count): click events have no field genre, which entity genre is keyed by'));
  });

  it('unknown properties, with the likely meant one', () => {
    const d = definition();
    d.groups[0].aggregations[0].windowsMs = d.groups[0].aggregations[0].windows;
    delete d.groups[0].aggregations[0].windows;
    d.labelz = {};
    const problems = problemsOf(d);
    expect(problems).toContainEqual('tessera.project.json: labelz: unknown property (known: name, events, entities, groups, labels, models, stream)');
    expect(problems).toContainEqual(expect.stringContaining('groups[0] (viewer).aggregations[0].windowsMs: unknown property; did you mean windows?'));
  });

  it('label roles whose event types lack the fields the label rule reads', () => {
    const d = definition();
    d.labels.exposure = 'rating';
    d.labels.click.source = 'nope';
    d.labels.conversion.window = 'soon';
    const problems = problemsOf(d);
    expect(problems).toContainEqual(expect.stringContaining('labels.exposure: the exposure role reads requestId (id), which rating events do not have; add it to events/Rating.avsc or pick another event type'));
    expect(problems).toContainEqual(expect.stringContaining('labels.click.source: "nope" is not an event type of the project'));
    expect(problems).toContainEqual(expect.stringContaining('labels.conversion.window: "soon" is not a duration'));
  });

  it('schemas: a missing file, invalid JSON, no envelope, an unsupported field type, a bad partition key', () => {
    const missing = definition();
    missing.events.rating.schema = 'events/Ratings.avsc';
    expect(problemsOf(missing)).toContainEqual('tessera.project.json: events.rating.schema: events/Ratings.avsc does not exist in the project folder; create it or fix the path');
    expect(problemsOf(definition(), { ...SCHEMAS, 'events/Rating.avsc': '{ not json' })).toEqual([expect.stringMatching(/^events\/Rating\.avsc: : not valid JSON/)]);
    const noEnvelope = JSON.stringify({ type: 'record', name: 'Rating', fields: [{ name: 'userId', type: 'string' }, { name: 'liked', type: 'boolean' }] });
    const problems = problemsOf(definition(), { ...SCHEMAS, 'events/Rating.avsc': noEnvelope });
    expect(problems).toContainEqual(expect.stringContaining('events/Rating.avsc: : field liked: type boolean is not supported'));
    expect(problems).toContainEqual(expect.stringContaining('events/Rating.avsc: : every event needs the envelope field eventId'));
    expect(problems).toContainEqual(expect.stringContaining('events/Rating.avsc: : every event needs the envelope field eventTime'));
    const badKey = definition();
    badKey.events.rating.key = 'stars';
    expect(problemsOf(badKey)).toContainEqual(expect.stringContaining('events/Rating.avsc: : the partition key stars is double; partition by a non-nullable string field'));
  });

  it('model inputs', () => {
    const d = definition();
    d.models = { ranker: { kind: 'gbdt', label: 'buy', crosses: [['user', 'user']] } };
    const problems = problemsOf(d);
    expect(problems).toContainEqual(expect.stringContaining('models.ranker.kind: "gbdt" is not a model kind; use one of lr, fm, wide-deep'));
    expect(problems).toContainEqual(expect.stringContaining('models.ranker.label: "buy" is not a label; use "click" or "conversion"'));
    expect(problems).toContainEqual(expect.stringContaining('models.ranker.crosses: must be a list of pairs of two different fields'));
  });

  it('not an object at all, and a module without a default export', () => {
    expect(problemsOf(undefined)).toEqual([expect.stringContaining('(a TypeScript project exports it as its default export)')]);
    expect(problemsOf([])).toEqual([expect.stringContaining('the project must be an object')]);
  });
});
