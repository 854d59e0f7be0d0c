import { describe, expect, it } from 'vitest';
import { compileProject, ProjectError } from '../../../src/project/compile-project.js';
import { REFERENCE_PROJECT } from '../../helpers/reference.js';

describe('a group keyed by fields the exposure lacks', () => {
  it('is refused: no sample and no ranking request could key its entities', () => {
    const source = REFERENCE_PROJECT.source;
    const def = source.definition as { entities: object; groups: object[] };
    const definition = {
      ...def,
      entities: { ...def.entities, brand: ['brand'] },
      groups: [...def.groups, { name: 'brand', entity: 'brand', aggregations: [{ source: 'item_profile', op: 'count' }] }],
    };
    let error: unknown;
    try {
      compileProject({ ...source, definition });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ProjectError);
    const problems = (error as ProjectError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ path: 'groups (brand)' });
    expect(problems[0]?.message).toMatch(/keyed by brand, which impression events \(the exposure\) do not carry.*events\/Impression\.avsc/);
  });
});
