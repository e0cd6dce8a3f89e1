import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DEFAULTS, KNOB_GROUPS, KNOBS, type KnobSpec, type ServerConfig } from '../config.js';
import { ConfigError, ErrorCode } from '../errors.js';

/** What the command line asked for. */
export interface CliResult {
  help: boolean;
  /** `--version`: print the package version and exit. */
  version: boolean;
  config: Partial<ServerConfig>;
}

/** Environment spellings of a switch (a `bool` knob). */
const SWITCH_VALUES: Readonly<Record<string, boolean>> = { '1': true, true: true, '0': false, false: false };

function parseValue(knob: KnobSpec, raw: string, source: string): string | number | boolean {
  if (knob.kind === 'string') return raw;
  if (knob.kind === 'bool') {
    const on = SWITCH_VALUES[raw.trim().toLowerCase()];
    if (on === undefined) throw new ConfigError(source, `must be 1, true, 0 or false, got ${JSON.stringify(raw)}`);
    return on;
  }
  if (!/^-?\d+$/.test(raw.trim())) throw new ConfigError(source, `must be an integer, got ${JSON.stringify(raw)}`);
  return Number(raw.trim());
}

/**
 * Reads a JSON config file: an object whose keys are config keys (`maxBodyBytes`) or flag names
 * (`max-body-bytes`). Unknown keys and wrong types throw {@link ConfigError} naming them.
 */
export function readConfigFile(path: string): Record<string, string | number | boolean> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('--config', `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError('--config', `${path} must hold a JSON object`);
  const out: Record<string, string | number | boolean> = {};
  for (const [name, value] of Object.entries(parsed)) {
    const knob = KNOBS.find((k) => k.key === name || k.flag === name);
    if (knob === undefined) throw new ConfigError(`--config ${path}`, `unknown key ${JSON.stringify(name)}`, ErrorCode.ConfigUnknownFlag);
    const expected = knob.kind === 'int' ? 'number' : knob.kind === 'bool' ? 'boolean' : 'string';
    if (typeof value !== expected) {
      throw new ConfigError(`--config ${path}: ${name}`, `must be ${expected === 'boolean' ? 'true or false' : `a ${expected}`}, got ${JSON.stringify(value)}`);
    }
    out[knob.key] = value as string | number | boolean;
  }
  return out;
}

/**
 * Reads flags (`--port 8080` or `--port=8080`), environment variables and an optional JSON file
 * (`--config file.json` or `SLABCAST_CONFIG`) into a partial config. Precedence: flags, then the
 * environment, then the file. An unknown flag or key, or a value that is not a number, throws
 * {@link ConfigError} naming it; ranges are checked later by `validateConfig`.
 */
export function parseCli(argv: readonly string[], env: NodeJS.ProcessEnv): CliResult {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' }, version: { type: 'boolean', short: 'v' }, config: { type: 'string' } };
  for (const knob of KNOBS) options[knob.flag] = { type: knob.kind === 'bool' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...argv], options, strict: true, allowPositionals: false }));
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const m = /'(--?[^' ]+)'/.exec(message);
    throw new ConfigError(m?.[1] ?? 'command line', message.replace(/\. To specify.*$/s, ''), ErrorCode.ConfigUnknownFlag);
  }
  const file = typeof values.config === 'string' ? values.config : env.SLABCAST_CONFIG;
  const config: Record<string, string | number | boolean> = file !== undefined && file !== '' ? readConfigFile(file) : {};
  for (const knob of KNOBS) {
    const flagValue = values[knob.flag];
    if (flagValue === true) {
      config[knob.key] = true; // a switch given on the command line
      continue;
    }
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
  return { help: values.help === true, version: values.version === true, config };
}

/** The `--help` text: every knob with its flag, environment variables, default and bounds. */
export function helpText(): string {
  const lines = ['Usage: node dist/server.js [options]', '', 'slabcast: HTTP/1.1 and WebSocket over shared slab buffers.', '', 'Options (flag / environment / default), by area:'];
  for (const knob of KNOBS) {
    const group = KNOB_GROUPS.find((g) => g.from === knob.key);
    if (group !== undefined) lines.push('', `${group.title}:`);
    const def = DEFAULTS[knob.key];
    const bounds = knob.kind === 'int' ? ` [${knob.min}..${knob.max}]` : '';
    lines.push(knob.kind === 'bool' ? `  --${knob.flag}` : `  --${knob.flag} <${knob.kind === 'int' ? 'n' : 'value'}>`);
    lines.push(`      ${knob.help}. Default ${def === '' ? '(empty)' : def}${bounds}. Env: ${knob.env.join(', ')}`);
  }
  lines.push('  --config <file.json>', '      JSON object of options (keys as flags or config keys); flags and env win over it. Env: SLABCAST_CONFIG');
  lines.push('  -h, --help', '      print this help');
  lines.push('  -v, --version', '      print the version');
  lines.push(
    '',
    'Commands:',
    '  token --secret <s> --sub <user> [--room <id>] [--audio read,write] [--audio-prefix <p>] [--ttl <s>]   mint a token (see --token-secret)',
    '',
    'Endpoints (--services turns the services on and off):',
    '  GET /                      hello page',
    '  GET /demo/                 demo page (demo)',
    '  WS  /echo                  echo (echo)',
    '  WS  --audio-path (/audio)  audio stream cache; GET /api/audio/streams lists it (audio)',
    '  WS  /ws/room/{roomId}      rooms: danmaku, whisper, voice, presence (rooms)',
    '  /api/push/*                rooms admin API, behind --admin-key; loopback clients only without it (admin)',
    '  GET /metrics               Prometheus metrics (metrics)',
    '  GET /healthz, GET /readyz  liveness and readiness (always)',
  );
  return lines.join('\n');
}
