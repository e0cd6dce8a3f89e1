import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** How log lines look: `json` (one JSON object per line), `pretty` (for people), `auto` (pretty on a terminal). */
export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * The process logger at `level`. Components never log per message: one line per state change, per
 * connection error, per limit hit (see `LimitHook`). JSON lines for log shippers; on a terminal
 * (`auto` and stdout a TTY, or `pretty`) the same records as coloured, human-readable lines,
 * formatted in-process and written synchronously (no worker thread, nothing lost at exit).
 */
export function createLogger(level: string, format: LogFormat = 'auto', isTty = process.stdout.isTTY === true, out?: NodeJS.WritableStream): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === 'json' || (format === 'auto' && !isTty)) return out === undefined ? pino(options) : pino(options, out);
  return pino(options, pretty({ colorize: isTty, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', ...(out !== undefined ? { destination: out } : {}) }));
}

/** A logger that writes nothing (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
