/**
 * The architecture, checked from the import lines of every `src/**\/*.ts` file:
 *
 * - **floors**: a file imports only its own floor or lower ones (type imports included);
 * - **services**: a service never imports another service (only the shared host);
 * - **root**: no file below the root imports `src/slabcast.ts`;
 * - **client**: `src/client/` (the `slabcast/client` entry, which runs in browsers) is a floor of its
 *   own: it imports only itself, and nothing of the server imports it;
 * - **cycles**: no runtime import cycle (`import type`, `export type` and type-position
 *   `import('…')` are erased, so they are ignored; `import { type A }` is not erased under
 *   `verbatimModuleSyntax`, it stays as `import {} from`, so it counts).
 *
 * Edges that break a rule today are listed in {@link KNOWN_VIOLATIONS}. The list only shrinks: the test
 * fails on a violation missing from it, and on an entry that no longer happens.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = join(REPO, 'src');

/** Floors, lowest first. A file may import its own floor and the ones before it. */
const FLOORS = ['base', 'core', 'protocols', 'ops', 'services', 'cluster', 'root'] as const;
/** `client` stands beside the floors, not on them: no edge may cross between it and any of them. */
type Floor = (typeof FLOORS)[number] | 'client';

/** Which floor a file (path relative to the repo, `/`-separated) is on; the first matching row wins. */
const FLOOR_OF: readonly (readonly [RegExp, Floor])[] = [
  [/^src\/(errors|native|config)\.ts$/, 'base'],
  [/^src\/storage\//, 'base'],
  [/^src\/auth\//, 'base'],
  [/^src\/core\//, 'core'],
  [/^src\/protocols\//, 'protocols'],
  [/^src\/ops\//, 'ops'],
  [/^src\/services\//, 'services'],
  [/^src\/cluster\//, 'cluster'],
  [/^src\/(slabcast|settings|server|index)\.ts$/, 'root'],
  [/^src\/cli\//, 'root'],
  [/^src\/client\//, 'client'],
];

/** The composition root: nothing below the root floor may import it. */
const ROOT_FILE = 'src/slabcast.ts';

/** Files under `src/services/` every service may import (they belong to no one service). */
const SHARED_SERVICE_FILES: readonly string[] = ['src/services/service-host.ts'];

type Rule = 'floor' | 'service' | 'root' | 'cycle' | 'client';

/** One import edge that breaks `rule`: `from` imports `to` (paths relative to the repo). */
interface Violation {
  readonly rule: Rule;
  readonly from: string;
  readonly to: string;
}

/**
 * The violations that exist today, being removed. Delete an entry when its edge is gone; never add one.
 * A `cycle` entry is a runtime edge between two files of the same import cycle.
 */
const KNOWN_VIOLATIONS: readonly Violation[] = [];

/** One import of a file: the file it names and whether it survives compilation. */
interface ImportEdge {
  readonly to: string;
  readonly runtime: boolean;
  readonly line: number;
}

function listSources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listSources(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

function repoPath(absolute: string): string {
  return relative(REPO, absolute).split(sep).join('/');
}

/** The repo path a relative specifier names (`./x.js` → `…/x.ts`), or null for a package. */
function resolveSpecifier(fromFile: string, specifier: string): string | null {
  if (!specifier.startsWith('.')) return null;
  const target = resolve(dirname(join(REPO, fromFile)), specifier);
  return repoPath(target.endsWith('.js') ? `${target.slice(0, -3)}.ts` : target);
}

/** Every relative import in `text` (the source of `file`): declarations, `import('…')` calls, type-position imports. */
function importsIn(file: string, text: string): ImportEdge[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const edges: ImportEdge[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, runtime: boolean): void => {
    if (specifier === undefined || !ts.isStringLiteral(specifier)) return;
    const to = resolveSpecifier(file, specifier.text);
    if (to === null) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    edges.push({ to, runtime, line });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.importClause?.isTypeOnly !== true);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, !node.isTypeOnly);
    } else if (ts.isImportTypeNode(node)) {
      const arg = node.argument;
      if (ts.isLiteralTypeNode(arg)) add(node, arg.literal, false);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      // A dynamic import loads lazily: it counts for the floors, not as a load-time cycle.
      add(node, node.arguments[0], false);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

function floorOf(file: string): Floor | null {
  for (const [pattern, floor] of FLOOR_OF) if (pattern.test(file)) return floor;
  return null;
}

/** `src/services/<name>/…` → `<name>`; a file directly in `src/services/` is its own unit. */
function serviceOf(file: string): string | null {
  const m = /^src\/services\/([^/]+)/.exec(file);
  return m === null ? null : m[1];
}

/** The rule the edge `from → to` breaks, if any (one rule per edge: root, then floor, then service). */
function ruleBroken(from: string, to: string): Rule | null {
  const fromFloor = floorOf(from);
  const toFloor = floorOf(to);
  if (fromFloor === null || toFloor === null) return null;
  if ((fromFloor === 'client') !== (toFloor === 'client')) return 'client';
  if (to === ROOT_FILE && fromFloor !== 'root') return 'root';
  if (fromFloor === 'client' || toFloor === 'client') return null;
  if (FLOORS.indexOf(toFloor) > FLOORS.indexOf(fromFloor)) return 'floor';
  const fromService = serviceOf(from);
  const toService = serviceOf(to);
  if (fromService !== null && toService !== null && fromService !== toService && !SHARED_SERVICE_FILES.includes(to)) {
    return 'service';
  }
  return null;
}

/** Strongly connected components of the runtime graph (Tarjan), only those that form a cycle. */
function cyclicComponents(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) connect(v);
  return out;
}

/** A shortest runtime path `from → … → to` inside `members`, for the message. */
function pathWithin(graph: ReadonlyMap<string, readonly string[]>, members: ReadonlySet<string>, from: string, to: string): string[] {
  const previous = new Map<string, string>([[from, from]]);
  const queue = [from];
  for (let i = 0; i < queue.length; i++) {
    const v = queue[i];
    if (v === to && i > 0) break;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w) || previous.has(w)) continue;
      previous.set(w, v);
      queue.push(w);
    }
  }
  const path = [to];
  for (let v = to; v !== from; ) {
    v = previous.get(v)!;
    path.unshift(v);
  }
  return path;
}

const key = (v: Violation): string => `${v.rule} ${v.from} -> ${v.to}`;
const asEntry = (v: Violation): string => `  { rule: '${v.rule}', from: '${v.from}', to: '${v.to}' },`;

const RULE_HELP: Record<Rule, string> = {
  floor: `imports a higher floor (floors, low to high: ${FLOORS.join(' < ')}): depend downwards, or move the shared piece down`,
  service: 'a service imports another service: share through src/services/service-host.ts or a lower floor',
  root: `imports the composition root ${ROOT_FILE}: take what you need through the service host instead`,
  client: 'src/client/ runs in browsers: it imports nothing of the server, and the server imports nothing of it',
  cycle: 'runtime import cycle: move the shared piece into its own file, or make the import `import type`',
};

describe('architecture (import lines of src/)', () => {
  const files = listSources(SRC).map(repoPath).sort();
  const edgesOf = new Map(files.map((file) => [file, importsIn(file, readFileSync(join(REPO, file), 'utf8'))]));

  const found: Violation[] = [];
  const where = new Map<string, string>();
  for (const [from, edges] of edgesOf) {
    for (const edge of edges) {
      const rule = ruleBroken(from, edge.to);
      if (rule === null) continue;
      const v = { rule, from, to: edge.to };
      if (!where.has(key(v))) {
        found.push(v);
        where.set(key(v), `${from}:${edge.line}`);
      }
    }
  }

  const runtime = new Map<string, string[]>();
  for (const [from, edges] of edgesOf) {
    runtime.set(from, [...new Set(edges.filter((e) => e.runtime && edgesOf.has(e.to)).map((e) => e.to))]);
  }
  const cycles = cyclicComponents(runtime);
  const cyclePaths = new Map<string, string>();
  for (const component of cycles) {
    const members = new Set(component);
    for (const from of component) {
      for (const to of runtime.get(from)!) {
        if (!members.has(to)) continue;
        const v: Violation = { rule: 'cycle', from, to };
        found.push(v);
        const line = edgesOf.get(from)!.find((e) => e.runtime && e.to === to)!.line;
        where.set(key(v), `${from}:${line}`);
        cyclePaths.set(key(v), [from, ...pathWithin(runtime, members, to, from)].join(' -> '));
      }
    }
  }

  it('assigns every source file a floor', () => {
    const unplaced = files.filter((file) => floorOf(file) === null);
    expect(unplaced, `add these files to FLOOR_OF in test/unit/architecture.test.ts:\n${unplaced.join('\n')}`).toEqual([]);
  });

  it('resolves every relative import to a source file', () => {
    const missing = [...edgesOf].flatMap(([from, edges]) =>
      edges.filter((e) => e.to.startsWith('src/') && !edgesOf.has(e.to)).map((e) => `${from}:${e.line} -> ${e.to}`),
    );
    expect(missing, `imports of files that do not exist:\n${missing.join('\n')}`).toEqual([]);
  });

  it('has no floor, service, root or cycle violation beyond KNOWN_VIOLATIONS', () => {
    const known = new Set(KNOWN_VIOLATIONS.map(key));
    const fresh = found.filter((v) => !known.has(key(v)));
    const message = fresh
      .map((v) => {
        const path = cyclePaths.get(key(v));
        return `${where.get(key(v))} ${v.rule}: ${v.from} -> ${v.to}\n    ${RULE_HELP[v.rule]}${path === undefined ? '' : `\n    cycle: ${path}`}`;
      })
      .join('\n');
    expect(fresh, `new architecture violations (fix them; do not add them to KNOWN_VIOLATIONS):\n${message}`).toEqual([]);
  });

  it('lists in KNOWN_VIOLATIONS only violations that still exist (the list only shrinks)', () => {
    const current = new Set(found.map(key));
    const gone = KNOWN_VIOLATIONS.filter((v) => !current.has(key(v)));
    const message = gone.map(asEntry).join('\n');
    expect(gone, `these violations are gone: delete their entries from KNOWN_VIOLATIONS:\n${message}`).toEqual([]);
  });

  it('keeps the client apart from the server both ways', () => {
    expect(ruleBroken('src/client/room-client.ts', 'src/client/socket.ts')).toBeNull();
    expect(ruleBroken('src/client/room-client.ts', 'src/errors.ts')).toBe('client');
    expect(ruleBroken('src/client/audio-client.ts', 'src/services/audio-cache/audio-errors.ts')).toBe('client');
    expect(ruleBroken('src/index.ts', 'src/client/index.ts')).toBe('client');
    expect(ruleBroken('src/services/rooms/room-service.ts', 'src/client/room-client.ts')).toBe('client');
  });

  it('tells runtime imports from erased ones', () => {
    const text = [
      "import { a } from './a.js';",
      "import type { B } from './b.js';",
      "import { type C } from './c.js';",
      "export { d } from './d.js';",
      "export type { E } from './e.js';",
      "import './f.js';",
      "let g: import('./g.js').G;",
      "const h = await import('./h.js');",
      "import { readFileSync } from 'node:fs';",
    ].join('\n');
    const edges = importsIn('src/core/x.ts', text).map((e) => `${e.to} ${e.runtime ? 'runtime' : 'erased'}`);
    expect(edges).toEqual([
      'src/core/a.ts runtime',
      'src/core/b.ts erased',
      // verbatimModuleSyntax keeps it as `import {} from './c.js'`: the module still loads.
      'src/core/c.ts runtime',
      'src/core/d.ts runtime',
      'src/core/e.ts erased',
      'src/core/f.ts runtime',
      'src/core/g.ts erased',
      'src/core/h.ts erased',
    ]);
  });
});
