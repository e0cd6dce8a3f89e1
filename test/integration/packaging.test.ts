import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = new URL('../../', import.meta.url).pathname;
let tmp = '';
let installDir = '';
afterAll(() => {
  for (const dir of [tmp, installDir]) if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('the tarball holds what runs (dist, the addon sources, the demo, README, LICENSE), not tests, benchmarks, CI or TypeScript sources', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const [pack] = JSON.parse(stdout) as { files: { path: string }[] }[];
    const paths = pack.files.map((f) => f.path);
    for (const needed of ['package.json', 'LICENSE', 'README.md', 'binding.gyp', 'dist/server.js', 'dist/index.js', 'dist/index.d.ts', 'dist/client/index.js', 'dist/client/index.d.ts', 'native/transport.cc', 'native/mmap.cc', 'demo/index.html']) {
      expect(paths, needed).toContain(needed);
    }
    // prebuilds/ exists only after `npm run build:prebuilds` (a release step; never committed).
    const tops = [...new Set(paths.map((p) => p.split('/')[0]))].filter((top) => top !== 'prebuilds').sort();
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

  it('a tarball with its prebuild installs and loads the addon where no compiler exists (no g++, cc, make or python3 in PATH)', async () => {
    installDir = mkdtempSync(join(tmpdir(), 'slabcast-prebuild-'));
    // A copy of what the tarball is made from, so building the prebuild leaves the checkout alone.
    const source = join(installDir, 'source');
    mkdirSync(source);
    for (const entry of ['package.json', 'binding.gyp', 'native', 'dist', 'demo', 'LICENSE', 'README.md']) {
      cpSync(join(ROOT, entry), join(source, entry), { recursive: true });
    }
    symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'), 'dir');
    await run('npm', ['run', 'build:prebuilds', '--', '--quiet'], { cwd: source, maxBuffer: 16 * 1024 * 1024 });
    const prebuilds = readdirSync(join(source, 'prebuilds', `${process.platform}-${process.arch}`));
    expect(prebuilds).toEqual(['slabcast.glibc.node']);
    const { stdout: packed } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', installDir], { cwd: source, maxBuffer: 16 * 1024 * 1024 });
    const [pack] = JSON.parse(packed) as { filename: string; files: { path: string }[] }[];
    expect(pack.files.map((f) => f.path)).toContain(`prebuilds/${process.platform}-${process.arch}/slabcast.glibc.node`);

    // A PATH with node, npm and sh only: node-gyp would fail at once, so only the prebuild can load.
    const bin = join(installDir, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const npmPath = await run('sh', ['-c', 'command -v npm']);
    symlinkSync(realpathSync(npmPath.stdout.trim()), join(bin, 'npm'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const env = { ...process.env, PATH: bin, CC: '', CXX: '' };
    for (const tool of ['g++', 'cc', 'make', 'python3']) {
      await expect(run('sh', ['-c', `command -v ${tool}`], { env }), tool).rejects.toThrow();
    }

    const app = join(installDir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', join(installDir, pack.filename), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, env, maxBuffer: 16 * 1024 * 1024 });
    const installed = join(app, 'node_modules', 'slabcast');
    expect(existsSync(join(installed, 'build')), 'nothing was compiled').toBe(false);
    writeFileSync(
      join(app, 'probe.mjs'),
      `import { createRequire } from 'node:module';
import { Slabcast } from 'slabcast';
const require = createRequire(import.meta.url);
const addon = require('node-gyp-build').path(${JSON.stringify(installed)});
const server = new Slabcast({ host: '127.0.0.1', port: 0, transport: 'native', services: 'metrics' });
const { port } = await server.listen();
const health = await fetch('http://127.0.0.1:' + port + '/healthz');
await server.close();
console.log(JSON.stringify({ addon, health: health.status }));
`,
    );
    const { stdout } = await run(process.execPath, ['probe.mjs'], { cwd: app, env });
    const probe = JSON.parse(stdout) as { addon: string; health: number };
    expect(probe.addon).toBe(join(realpathSync(installed), 'prebuilds', `${process.platform}-${process.arch}`, 'slabcast.glibc.node'));
    expect(probe.health).toBe(200);
  }, 300_000);
});
