import { spawnSync, type SpawnSyncReturns } from 'node:child_process';

/**
 * Runs `workerSource` (an ES module body; it imports what it needs) in a worker thread of a fresh
 * Node process and terminates the worker as soon as it posts its first message: the process prints
 * that message, then `terminated <exit code>`. What a teardown test checks is that the process then
 * exits cleanly (status 0, no signal, nothing on stderr). Modules from `dist/` (built by `npm
 * test`'s pretest): a worker gets no TS loader.
 */
export function runWorkerUntilFirstMessage(workerSource: string): SpawnSyncReturns<string> {
  const main = `
    import { Worker } from 'node:worker_threads';
    const w = new Worker(${JSON.stringify(workerSource)}, { eval: true, type: 'module' });
    w.once('message', async (m) => { console.log(m); console.log('terminated', await w.terminate()); });
    w.once('error', (e) => { console.error(e); process.exitCode = 5; });
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', main], { encoding: 'utf8', timeout: 20_000 });
}

/** The URL of `dist/<file>` for a worker's import. */
export function distUrl(file: string): string {
  return new URL(`../../dist/${file}`, import.meta.url).href;
}
