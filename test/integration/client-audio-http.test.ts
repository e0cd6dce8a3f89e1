/**
 * slabcast/client's audio client against a real in-process server: refusals surface as typed errors
 * with the server's wire code (`ERROR:{CODE}:{message}` on the WebSocket, the status of an HTTP
 * read), and `read` goes over HTTP (`Range`, the token as `Authorization: Bearer`) unless told not to.
 */
import { randomBytes } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { ServerConfig } from '../../src/config.js';
import { AudioClient, AudioClientError, AudioClientErrorCode, type AudioClientOptions, AudioServerCode } from '../../src/client/index.js';
import { startServer, type TestServer } from '../helpers/listen.js';

const SECRET = 'client-http-secret';
let server: TestServer | null = null;
const clients: AudioClient[] = [];
const sockets: WebSocket[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of sockets.splice(0)) s.terminate();
  await server?.close();
  server = null;
});

async function start(config: Partial<ServerConfig> = {}): Promise<string> {
  server = await startServer({ services: 'audio', ...config });
  return `ws://127.0.0.1:${server.port}/audio`;
}

function client(url: string, options: AudioClientOptions = {}): AudioClient {
  const c = new AudioClient(url, { WebSocket, reconnect: { initialDelayMs: 10, maxDelayMs: 50, maxRetries: 2 }, ...options });
  clients.push(c);
  return c;
}

const failure = (p: Promise<unknown>): Promise<AudioClientError> =>
  p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(AudioClientError);
      return e as AudioClientError;
    },
  );

const token = (claims: Record<string, unknown>): Promise<string> => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));

describe('typed refusals', () => {
  for (const via of ['HTTP', 'WebSocket GET'] as const) {
    it(`a read of a missing stream is NOT_FOUND, one at the end BAD_RANGE (${via})`, async () => {
      const url = await start();
      const c = client(url, via === 'HTTP' ? {} : { httpUrl: false });
      expect(c.readsOverHttp).toBe(via === 'HTTP');
      const missing = await failure(c.read('nope', 0, 10));
      expect(missing).toMatchObject({ code: AudioServerCode.NotFound, serverMessage: 'stream nope not found', retryable: false });
      await c.upload('s', randomBytes(100));
      const end = await failure(c.read('s', 100, 10));
      expect(end.code).toBe(AudioServerCode.BadRange);
      expect(end.serverMessage).toMatch(/offset 100 is at or past the end of the stream \(100 bytes\)/);
    });
  }

  it('a START of a stream another connection uploads is BUSY (retryable, retried, then thrown); of a complete one COMPLETE', async () => {
    const url = await start();
    const holder = new WebSocket(url);
    sockets.push(holder);
    const started = new Promise<string>((resolve) => holder.once('message', (d: Buffer) => resolve(d.toString())));
    await new Promise((resolve) => holder.once('open', resolve));
    holder.send('START:held');
    expect(await started).toBe('OK:START:held:0');

    const busy = await failure(client(url).upload('held', randomBytes(10)));
    expect(busy).toMatchObject({ code: AudioServerCode.Busy, serverMessage: 'stream held is busy: another connection is uploading it', retryable: true });

    const c = client(url);
    await c.upload('done', randomBytes(10));
    const complete = await failure(c.upload('done', randomBytes(10)));
    expect(complete).toMatchObject({ code: AudioServerCode.Complete, serverMessage: 'stream done is complete; DELETE it before uploading it again', retryable: false });
    expect(complete.message).toBe('COMPLETE: stream done is complete; DELETE it before uploading it again');
  });
});

describe('reads over HTTP', () => {
  it('uses HTTP Range (no --max-get-bytes there), clamps at the end, and matches the WebSocket GET', async () => {
    const url = await start({ maxGetBytes: 1000 });
    const data = randomBytes(10_000);
    const http = client(url);
    const ws = client(url, { httpUrl: false });
    await http.upload('clip', data);
    // Over the WebSocket a read is one GET, at most --max-get-bytes; over HTTP the range is not capped.
    expect(Buffer.from(await http.read('clip', 0, 5000)).equals(data.subarray(0, 5000))).toBe(true);
    expect(await failure(ws.read('clip', 0, 5000))).toMatchObject({ code: AudioServerCode.GetTooLarge });
    expect(Buffer.from(await http.read('clip', 9990, 100)).equals(data.subarray(9990))).toBe(true);
    expect(Buffer.from(await http.read('clip', 123, 456))).toEqual(Buffer.from(await ws.read('clip', 123, 456)));
    // An explicit HTTP URL is used as given (a trailing slash is dropped).
    expect(client(url, { httpUrl: `http://127.0.0.1:${server!.port}/audio/` }).readsOverHttp).toBe(true);
    expect(Buffer.from(await client(url, { httpUrl: `http://127.0.0.1:${server!.port}/audio/` }).read('clip', 0, 10)).equals(data.subarray(0, 10))).toBe(true);
    await expect(http.read('clip', -1, 10)).rejects.toThrow(RangeError);
    await expect(http.read('clip', 0, 0)).rejects.toThrow(RangeError);
  });

  it('a token-protected server: the URL token goes as Authorization: Bearer; its prefix and rights hold; no token → HTTP 401', async () => {
    const url = await start({ tokenSecret: SECRET });
    const writer = client(`${url}?token=${await token({ audio: ['read', 'write'] })}`);
    const data = randomBytes(3000);
    await writer.upload('show-1', data);
    await writer.upload('other', data);
    const reader = client(`${url}?token=${await token({ audio: ['read'], audio_prefix: 'show-' })}`);
    expect(reader.readsOverHttp).toBe(true);
    expect(Buffer.from(await reader.read('show-1', 1000, 1000)).equals(data.subarray(1000, 2000))).toBe(true);
    const outside = await failure(reader.read('other', 0, 10));
    expect(outside.code).toBe(AudioServerCode.ForbiddenStream);
    expect(outside.serverMessage).toMatch(/stream other is outside the token's audio_prefix "show-"/);
    const writeOnly = await failure(client(`${url}?token=${await token({ audio: ['write'] })}`).read('show-1', 0, 10));
    expect(writeOnly).toMatchObject({ code: AudioServerCode.Forbidden });
    expect(writeOnly.serverMessage).toMatch(/does not grant "read"/);
    const anonymous = await failure(client(url).read('show-1', 0, 10));
    expect(anonymous.code).toBe(AudioClientErrorCode.Http);
    expect(anonymous.message).toMatch(/^HTTP 401 TOKEN_MISSING: /);
  });
});
