#!/usr/bin/env node
/**
 * Entry of `node dist/server.js` (the command itself is cli/command.ts). It sets the V8 young
 * generation's growth first (cli/young-heap.ts), then loads the rest: a static import would have
 * every module parsed and compiled before any of them runs, growing the young generation first.
 */
import './cli/young-heap.js';

await import('./cli/command.js');
