import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * The process logger: pino JSON lines on stdout at `level`. Components never log per message:
 * one line per state change, per connection error, per limit hit (see `LimitHook`).
 */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}

/** A logger that writes nothing (library use and tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
