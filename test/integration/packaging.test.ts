import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
let tmp = '';
afterAll(() => {
  if (tmp !== '') rmSync(tmp, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('the tarball holds what runs (dist, the addon sources, the demo, README, LICENSE), not tests, benchmarks, CI or TypeScript sources', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const paths = pack.files.map((f) => f.path);
    for (const needed of ['package.json', 'LICENSE', 'README.md', 'binding.gyp', 'dist/server.js', 'dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'native/transport.cc', 'native/mmap.cc', 'demo/index.html']) {
      expect(paths, needed).toContain(needed);
    }
    const tops = [...new Set(paths.map((p) => p.split('/')[0]))].sort();
    expect(tops).toEqual(['LICENSE', 'README.md', 'binding.gyp', 'demo', 'dist', 'native', 'package.json']);
  });

  it('importers get the public API only: "slabcast" and "slabcast/client" resolve, an internal file is not exported', async () => {
    tmp = mkdtempSync(join(tmpdir(), 'slabcast-pkg-'));
    mkdirSync(join(tmp, 'node_modules'));
    symlinkSync(ROOT, join(tmp, 'node_modules', 'slabcast'), 'dir');
    writeFileSync(
      join(tmp, 'probe.mjs'),
      `const api = await import('slabcast');
let internal = 'exported';
try { await import('slabcast/dist/core/slab.js'); } catch (e) { internal = e.code; }
const { version } = (await import('slabcast/package.json', { with: { type: 'json' } })).default;
const client = await import('slabcast/client');
console.log(JSON.stringify({ Slabcast: typeof api.Slabcast, internal, version, connectRoom: typeof client.connectRoom, AudioClient: typeof client.AudioClient }));
`,
    );
    const { stdout } = await run(process.execPath, ['probe.mjs'], { cwd: tmp });
    expect(JSON.parse(stdout)).toMatchObject({ Slabcast: 'function', internal: 'ERR_PACKAGE_PATH_NOT_EXPORTED', connectRoom: 'function', AudioClient: 'function' });
  });
});
