#!/usr/bin/env node
/**
 * The command: `node dist/server.js [--port 8080] [--host 0.0.0.0] …` (see `--help`).
 * Parses flags, environment and an optional config file, starts slabcast, logs JSON lines, and
 * shuts down gracefully on SIGINT/SIGTERM (a second signal exits at once).
 */
import cluster from 'node:cluster';
import { Slabcast } from './slabcast.js';
import { helpText, parseCli } from './cli/args.js';
import { validateConfig } from './config.js';
import { ConfigError } from './errors.js';
import { createLogger } from './ops/logger.js';
import { runPrimary } from './cli/primary.js';
import { settingsFrom } from './settings.js';

async function main(): Promise<void> {
  let app: Slabcast;
  try {
    const cli = parseCli(process.argv.slice(2), process.env);
    if (cli.help) {
      process.stdout.write(`${helpText()}\n`);
      return;
    }
    const level = cli.config.logLevel ?? 'info';
    const logger = createLogger(typeof level === 'string' ? level : 'info');
    const config = validateConfig(cli.config);
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
  const address = await app.listen();
  log.info({ host: address.address, port: address.port }, 'slabcast listening');
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

main().catch((err: unknown) => {
  process.stderr.write(`slabcast: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
