import { Socket } from 'node:net';

/** Marks a socket whose reads arrive through the shared buffer (it has no 'data' events). */
export const kAdopted = Symbol('slabcast.adopted');

/** Called for every read into the shared buffer; `this` is the socket. Data is valid only during the call. */
export type SharedReadCallback = (this: Socket, nread: number, buf: Buffer) => void;

interface AcceptedSocketInternals {
  _handle?: { useUserBuffer?: unknown } | null;
  _server?: unknown;
  server?: unknown;
}

/**
 * Re-wraps a socket `net.Server` accepted (paused, never read) so that every read lands in ONE shared
 * `buffer` through Node's `onread` option instead of a freshly allocated Buffer per read (the
 * java-nio-server shape: one read buffer for all sockets; the reader copies only an incomplete tail
 * into the slab). `net.Server` has no `onread` option, so this moves the accepted TCP handle into a
 * new `net.Socket({ handle, onread })` — the same constructor net.Server itself uses — and hands the
 * server's connection accounting to it. Returns null, leaving `raw` untouched, when the internals it
 * relies on are not there (the caller then reads through 'data' events).
 */
export function adoptWithSharedBuffer(raw: Socket, buffer: Buffer, callback: SharedReadCallback): Socket | null {
  const internals = raw as unknown as AcceptedSocketInternals;
  const handle = internals._handle;
  if (handle === null || handle === undefined || typeof handle.useUserBuffer !== 'function') return null;
  const server = internals._server;
  internals._handle = null;
  internals._server = null;
  const options = { handle, onread: { buffer, callback }, allowHalfOpen: true, readable: true, writable: true, pauseOnCreate: true };
  const socket = new Socket(options);
  // net.Server counts connections through the socket's _server (decremented when it is destroyed).
  (socket as unknown as AcceptedSocketInternals)._server = server;
  (socket as unknown as AcceptedSocketInternals).server = server;
  (socket as unknown as Record<symbol, boolean>)[kAdopted] = true;
  return socket;
}
