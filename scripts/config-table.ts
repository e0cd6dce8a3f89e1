/**
 * The configuration table of docs/operations.md, generated from the knob table (KNOBS, DEFAULTS in
 * src/config.ts) between the `<!-- config:start -->` and `<!-- config:end -->` markers.
 * Run: `npm run docs:config`. test/unit/docs-config.test.ts fails when the page is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULTS, KNOB_GROUPS, KNOBS } from '../src/config.js';

export const OPERATIONS_PAGE = new URL('../docs/operations.md', import.meta.url);
const START = '<!-- config:start -->';
const END = '<!-- config:end -->';

/** The table: one row per knob (flag, environment variables, default, meaning with its bounds). */
export function configTable(): string {
  const rows = ['| flag | environment | default | meaning |', '|---|---|---|---|'];
  for (const k of KNOBS) {
    const group = KNOB_GROUPS.find((g) => g.from === k.key);
    if (group !== undefined) rows.push(`| **${group.title}** | | | |`);
    const bounds = k.kind === 'int' ? ` (${k.min}–${k.max})` : k.choices !== undefined ? ` (${k.choices.join(', ')})` : '';
    rows.push(`| \`--${k.flag}\` | ${k.env.map((e) => `\`${e}\``).join(', ')} | ${String(DEFAULTS[k.key])} | ${k.help}${bounds} |`);
  }
  return rows.join('\n');
}

/** `page` with the table between the markers replaced by {@link configTable}. */
export function withConfigTable(page: string): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error('docs/operations.md: config markers not found');
  return `${page.slice(0, start)}${START}\n${configTable()}\n${page.slice(end)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(OPERATIONS_PAGE, withConfigTable(readFileSync(OPERATIONS_PAGE, 'utf8')));
}
