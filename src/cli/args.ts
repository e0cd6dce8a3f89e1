import { parseArgs } from 'node:util';
import { DEFAULTS, KNOBS, type KnobSpec, type ServerConfig } from '../config.js';
import { ConfigError, ErrorCode } from '../errors.js';

/** What the command line asked for. */
export interface CliResult {
  help: boolean;
  config: Partial<ServerConfig>;
}

function parseValue(knob: KnobSpec, raw: string, source: string): string | number {
  if (knob.kind === 'string') return raw;
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(source, `must be an integer, got ${JSON.stringify(raw)}`);
  return Number(raw.trim());
}

/**
 * Reads flags (`--port 8080` or `--port=8080`) and environment variables into a partial config.
 * Flags win over the environment. An unknown flag or a value that is not a number throws
 * {@link ConfigError} naming it; ranges are checked later by `validateConfig`.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliResult {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const knob of KNOBS) options[knob.flag] = { type: 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = /'(--?[^' ]+)'/.exec(message);
    throw new ConfigError(m?.[1] ?? 'command line', message.replace(/\. To specify.*$/s, ''), ErrorCode.ConfigUnknownFlag);
  }
  const config: Record<string, string | number> = {};
  for (const knob of KNOBS) {
    const flagValue = values[knob.flag];
    if (typeof flagValue === 'string') {
      config[knob.key] = parseValue(knob, flagValue, `--${knob.flag}`);
      continue;
    }
    for (const name of knob.env) {
      const v = env[name];
      if (v !== undefined && v !== '') {
        config[knob.key] = parseValue(knob, v, name);
        break;
      }
    }
  }
  return { help: values.help === true, config: config as Partial<ServerConfig> };
}

/** The `--help` text: every knob with its flag, environment variables, default and bounds. */
export function helpText(): string {
  const lines = ['Usage: node dist/server.js [options]', '', 'slabcast: HTTP/1.1 and WebSocket over shared slab buffers.', '', 'Options (flag / environment / default):'];
  for (const knob of KNOBS) {
    const def = DEFAULTS[knob.key];
    const bounds = knob.kind === 'int' ? ` [${knob.min}..${knob.max}]` : '';
    lines.push(`  --${knob.flag} <${knob.kind === 'int' ? 'n' : 'value'}>`);
    lines.push(`      ${knob.help}. Default ${def}${bounds}. Env: ${knob.env.join(', ')}`);
  }
  lines.push('  -h, --help', '      print this help');
  return lines.join('\n');
}
