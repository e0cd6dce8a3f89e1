/**
 * The browser bundle of slabcast/client: esbuild bundles dist/client/index.js for the browser
 * (which fails on any Node built-in or server import) and the minified result stays under a budget.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** Budget for the minified bundle (it is ~15 KB today; README "Client" quotes the figure). */
const MAX_MINIFIED_BYTES = 16 * 1024;

describe('slabcast/client browser bundle', () => {
  it('bundles for the browser with no Node built-in and stays under the size budget', async () => {
    const result = await build({
      entryPoints: [new URL('../../dist/client/index.js', import.meta.url).pathname],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.every((p) => p.startsWith('dist/client/')), inputs.join('\n')).toBe(true);
    const bytes = result.outputFiles[0].contents.byteLength;
    expect(bytes).toBeGreaterThan(0);
    expect(bytes, `minified bundle is ${bytes} bytes`).toBeLessThanOrEqual(MAX_MINIFIED_BYTES);
  });

  it('the demo page speaks no protocol of its own: no WebSocket, no audio commands, no room JSON; it imports /client/index.js', () => {
    const dir = new URL('../../demo/', import.meta.url);
    const scripts = readdirSync(dir).filter((f) => f.endsWith('.js'));
    const all = scripts.map((f) => readFileSync(new URL(f, dir), 'utf8')).join('\n');
    expect(all).toContain("from '/client/index.js'");
    for (const protocol of ['WebSocket', 'START:', 'STOP:', 'GET:', 'INFO:', 'LIST', 'OK:', 'ERROR:', "type: 'danmaku'"]) {
      expect(all.includes(protocol), protocol).toBe(false);
    }
  });
});
