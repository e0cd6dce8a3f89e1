import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who this instance is, computed once and used by everything that names it (rooms' status, the
 * cluster's registry and ring): the instance id and the URL other instances and clients reach it at.
 */
export class Identity {
  /** `--instance-id`, suffixed `-w{index}` in a `--workers` worker, or `{hostname}-{pid}-{random}`. */
  readonly instanceId: string;
  /** `--advertise-url` without a trailing slash; '' when not set (see {@link urlFor}). */
  readonly advertiseUrl: string;

  constructor(configuredId: string, configuredUrl: string, env: NodeJS.ProcessEnv = process.env) {
    this.instanceId = instanceIdFor(configuredId, env);
    this.advertiseUrl = configuredUrl.replace(/\/+$/, '');
  }

  /** The advertised URL, or `ws://{host}:{port}` of the bound socket (the hostname for a wildcard bind). */
  urlFor(host: string, port: number): string {
    return advertiseUrlFor(this.advertiseUrl, host, port);
  }
}

/**
 * An instance id: `configured`, suffixed `-w{index}` in a `--workers` worker (workers share the
 * flags, and two instances must never share an id), or `{hostname}-{pid}-{random}` when not set.
 */
export function instanceIdFor(configured: string, env: NodeJS.ProcessEnv = process.env): string {
  if (configured === '') return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const worker = env.SLABCAST_WORKER_INDEX;
  return worker === undefined ? configured : `${configured}-w${worker}`;
}

/** `configured` without a trailing slash, or `ws://{host}:{port}` (the hostname for a wildcard bind). */
export function advertiseUrlFor(configured: string, host: string, port: number): string {
  if (configured !== '') return configured.replace(/\/+$/, '');
  const h = host === '' || host === '0.0.0.0' || host === '::' ? hostname() : host;
  return `ws://${h.includes(':') ? `[${h}]` : h}:${port}`;
}
