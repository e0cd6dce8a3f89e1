import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerTarget } from './processes.js';
import type { ScenarioContext } from './scenario.js';

const PEER = fileURLToPath(new URL('../peers/uws.mjs', import.meta.url));
/** The npm package that ships uWebSockets.js binaries (the project itself publishes on GitHub only). */
const PACKAGE = '@trufflesuite/uws-js-unofficial';

/** uWebSockets.js serving every scenario's paths (bench/peers/uws.mjs). */
export const uwsPeer: ServerTarget = {
  label: 'uWS.js',
  role: 'baseline',
  command: process.execPath,
  args: (port) => [PEER, '--port', String(port), '--host', '127.0.0.1'],
  readyPath: '/',
};

/** The package's version and binary for this Node, or why there is none (the peer is then skipped). */
export function uwsBinary(): { version: string; path: string } | { missing: string } {
  const require = createRequire(import.meta.url);
  let dir: string;
  let version: string;
  try {
    const manifest = require.resolve(`${PACKAGE}/package.json`);
    dir = dirname(manifest);
    version = (require(manifest) as { version: string }).version;
  } catch {
    return { missing: `${PACKAGE} is not installed (npm ci installs it as a devDependency)` };
  }
  const path = join(dir, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`);
  if (!existsSync(path)) return { missing: `${PACKAGE} ${version} has no binary for Node ${process.version} (ABI ${process.versions.modules}) on ${process.platform}-${process.arch}` };
  return { version, path };
}

/**
 * The uWebSockets.js peer when it can run here, with a note saying which build; otherwise no peer and
 * a note saying why. Its pure-JS fallback (which is `ws` underneath) is never used.
 */
export function uwsPeers(ctx: ScenarioContext): ServerTarget[] {
  const found = uwsBinary();
  if ('missing' in found) {
    ctx.note(`uWebSockets.js peer skipped: ${found.missing}`);
    return [];
  }
  ctx.note(`peer: uWebSockets.js v${found.version.replace(/-unofficial.*$/, '')} (npm ${PACKAGE}, native binary loaded by path), compression off, maxBackpressure 1 MiB`);
  return [uwsPeer];
}
