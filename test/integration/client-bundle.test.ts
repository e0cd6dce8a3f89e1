/**
 * The browser bundle of slabcast/client: esbuild bundles dist/client/index.js for the browser
 * (which fails on any Node built-in or server import) and the minified result stays under a budget.
 */
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** Budget for the minified bundle (it is ~11 KB today; README "Client" quotes the figure). */
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
});
