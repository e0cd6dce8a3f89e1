/**
 * Helpers of the access-control tests: a server listening on every address (so one test can reach it
 * from loopback and from the machine's own non-loopback address), audio WebSocket clients that
 * connect to a given host, handshake refusals, and plain HTTP requests. Real sockets only.
 */
import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import WebSocket from 'ws';
import type { ServerConfig } from '../../src/config.js';
import type { Slabcast } from '../../src/slabcast.js';
import { AudioClient } from '../helpers/audio-client.js';
import { startServer } from '../helpers/listen.js';

/**
 * This machine's own non-loopback address (IPv4 first): connecting to it from here makes the
 * server see a peer that is not on loopback, while the traffic never leaves the machine. Null when
 * the machine has no such interface.
 */
export function ownAddress(): string | null {
  const all = Object.values(networkInterfaces()).flatMap((list) => list ?? []);
  const v4 = all.find((i) => !i.internal && i.family === 'IPv4');
  if (v4 !== undefined) return v4.address;
  const v6 = all.find((i) => !i.internal && i.family === 'IPv6' && !i.address.startsWith('fe80'));
  return v6?.address ?? null;
}

/** `host` as it goes into a URL (IPv6 in brackets). */
export function urlHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

export interface AnyServer {
  app: Slabcast;
  port: number;
  close(): Promise<void>;
}

/** A server on `listenHost` (default every IPv4 address), port 0, with a temporary cache directory. */
export function startAny(config: Partial<ServerConfig> = {}, listenHost = '0.0.0.0'): Promise<AnyServer> {
  return startServer({ ...config, host: listenHost });
}

/** Opens `/audio` on host:port (with `query`, e.g. `?token=…`, and extra headers); throws on a refused handshake. */
export async function openAudio(host: string, port: number, options: { query?: string; headers?: Record<string, string> } = {}): Promise<AudioClient> {
  const ws = new WebSocket(`ws://${urlHost(host)}:${port}/audio${options.query ?? ''}`, { headers: options.headers ?? {} });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  return new AudioClient(ws);
}

/** A handshake the server refuses: its status and JSON body. Fails the test if it was accepted. */
export function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: { error?: string; message?: string } }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.on('open', () => {
      ws.terminate();
      reject(new Error(`handshake accepted: ${url}`));
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as { error?: string; message?: string } }));
    });
    ws.on('error', () => undefined);
  });
}

/** One HTTP request (a fresh connection): status, headers and the body parsed as JSON. */
export function http(host: string, port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; json: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method, path, headers: { connection: 'close', ...headers } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, json: text === '' ? null : (JSON.parse(text) as unknown) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
