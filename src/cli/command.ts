/**
 * The command behind `node dist/server.js [--port 8080] [--host 0.0.0.0] …` (see `--help`).
 * Parses flags, environment and an optional config file, starts slabcast, logs JSON lines, and
 * shuts down gracefully on SIGINT/SIGTERM (a second signal exits at once).
 */
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Slabcast } from '../slabcast.js';
import { helpText, parseCli } from './args.js';
import { validateConfig } from '../config.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../ops/logger.js';
import { runPrimary } from './primary.js';
import { tokenCommand } from './token-command.js';
import { settingsFrom } from '../settings.js';
import { setYoungHeap } from './young-heap.js';

async function main(): Promise<void> {
  if (process.argv[2] === 'token') {
    const result = await tokenCommand(process.argv.slice(3), process.env);
    process.stdout.write(result.stdout);
    process.stderr.write(result.stderr);
    process.exitCode = result.code;
    return;
  }
  let app: Slabcast;
  try {
    const cli = parseCli(process.argv.slice(2), process.env);
    if (cli.help) {
      process.stdout.write(`${helpText()}\n`);
      return;
    }
    if (cli.version) {
      process.stdout.write(`slabcast ${packageVersion()}\n`);
      return;
    }
    // Validated before the logger is made: a bad --log-level is a one-line config error too.
    const config = validateConfig(cli.config);
    const logger = createLogger(config.logLevel, config.logFormat);
    setYoungHeap(config.youngHeap);
    // Parse the services' slices too (rate limits…): a bad value stops the primary before any fork.
    settingsFrom(config);
    if (cluster.isPrimary && config.workers > 1) {
      // The primary only supervises (its config is validated above); each worker builds its own
      // Slabcast from the same flags.
      runPrimary(config.workers, logger);
      return;
    }
    app = new Slabcast(config, { logger });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`slabcast: invalid configuration: ${err.message}\nRun with --help to see every option.\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const log = app.logger;
  let address: AddressInfo;
  try {
    address = await app.listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      // One line an operator can act on, not a stack: the port is taken or not ours to bind.
      const reason = code === 'EADDRINUSE' ? 'address already in use' : code === 'EACCES' ? 'permission denied' : 'address not available';
      process.stderr.write(`slabcast: cannot listen on ${app.config.host}:${app.config.port}: ${reason} (${code})\n`);
      process.exit(1);
    }
    throw err;
  }
  log.info({ host: address.address, port: address.port, ...app.startupSummary() }, 'slabcast listening');
  for (const warning of app.startupWarnings) log.warn({ warning }, `WARNING: ${warning}`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, deadlineMs: app.config.shutdownTimeoutMs }, 'shutting down');
    app.close(app.config.shutdownTimeoutMs).then(
      () => {
        log.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

/** The version in package.json (two directories above `dist/cli/` and `src/cli/`). */
function packageVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

main().catch((err: unknown) => {
  process.stderr.write(`slabcast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
