import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPERATIONS_PAGE, withConfigTable } from '../../scripts/config-table.js';

describe('docs/operations.md', () => {
  it('holds the configuration table generated from the knob table (run `npm run docs:config` after changing a knob)', () => {
    const page = readFileSync(OPERATIONS_PAGE, 'utf8');
    expect(withConfigTable(page)).toBe(page);
  });
});
