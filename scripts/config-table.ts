/**
 * Rewrites the configuration table in README.md from the KNOBS table (between the
 * `<!-- config:start -->` and `<!-- config:end -->` markers). Run: `npm run docs:config`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { DEFAULTS, KNOBS } from '../src/config.js';

const rows = ['| flag | environment | default | meaning |', '|---|---|---|---|'];
for (const k of KNOBS) {
  const bounds = k.kind === 'int' ? ` (${k.min}–${k.max})` : k.choices !== undefined ? ` (${k.choices.join(', ')})` : '';
  rows.push(`| \`--${k.flag}\` | ${k.env.map((e) => `\`${e}\``).join(', ')} | ${String(DEFAULTS[k.key])} | ${k.help}${bounds} |`);
}
const path = new URL('../README.md', import.meta.url);
const readme = readFileSync(path, 'utf8');
const start = readme.indexOf('<!-- config:start -->');
const end = readme.indexOf('<!-- config:end -->');
if (start < 0 || end < start) throw new Error('README.md: config markers not found');
writeFileSync(path, `${readme.slice(0, start)}<!-- config:start -->\n${rows.join('\n')}\n${readme.slice(end)}`);
