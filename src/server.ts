#!/usr/bin/env node
/**
 * The command: `node dist/server.js [--port 8080] [--host 0.0.0.0] …` (see `--help`).
 * Parses flags and environment, starts slabcast, and shuts down gracefully on SIGINT/SIGTERM.
 */
import { Slabcast } from './app.js';
import { helpText, parseCli } from './cli/args.js';
import { ConfigError } from './errors.js';

async function main(): Promise<void> {
  let app: Slabcast;
  try {
    const cli = parseCli(process.argv.slice(2), process.env);
    if (cli.help) {
      process.stdout.write(`${helpText()}\n`);
      return;
    }
    app = new Slabcast(cli.config);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`slabcast: invalid configuration: ${err.message}\nRun with --help to see every option.\n`);
      process.exitCode = 2;
      return;
    }
    throw err;
  }
  const address = await app.listen();
  process.stdout.write(`${JSON.stringify({ msg: 'slabcast listening', host: address.address, port: address.port, pid: process.pid })}\n`);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      process.stderr.write(`slabcast: second ${signal}, exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(`slabcast: shutdown failed: ${String(err)}\n`);
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
