/**
 * Access control of the audio cache in token mode: HS256 (--token-secret), RS256/ES256 public keys
 * (--token-public-key) and a JWKS served by a local node:http server (--token-jwks-url), with kid
 * rotation, the cooldown, an unreachable JWKS, and a client that leaves before its verdict.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { Slabcast } from '../../src/slabcast.js';
import type { AudioClient } from '../helpers/audio-client.js';
import { OP, WsRawClient } from '../helpers/ws-raw.js';
import { RoomClient } from './rooms-helpers.js';
import { type AnyServer, http, openAudio, ownAddress, refusal, startAny } from './access-helpers.js';

const SECRET = 'audio-secret';
const now = (): number => Math.floor(Date.now() / 1000);
let server: AnyServer | null = null;
let jwksServer: Server | null = null;
const clients: AudioClient[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await server?.close();
  server = null;
  if (jwksServer !== null) await new Promise((resolve) => jwksServer!.close(resolve));
  jwksServer = null;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(config: Partial<ServerConfig>): Promise<AnyServer> {
  server = await startAny(config);
  return server;
}

function hs256(claims: JWTPayload, secret = SECRET, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT', ...header }).sign(new TextEncoder().encode(secret));
}

function signed(claims: JWTPayload, alg: 'RS256' | 'ES256', key: KeyObject, kid?: string): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, ...(kid !== undefined ? { kid } : {}) }).sign(key);
}

async function audio(token: string, how: 'query' | 'header' = 'query'): Promise<AudioClient> {
  const c = await openAudio('127.0.0.1', server!.port, how === 'query' ? { query: `?token=${token}` } : { headers: { authorization: `Bearer ${token}` } });
  clients.push(c);
  return c;
}

function audioUrl(query = ''): string {
  return `ws://127.0.0.1:${server!.port}/audio${query}`;
}

/** A PEM file of `key`'s public half in a temporary directory. */
function pemFile(key: KeyObject): string {
  const dir = mkdtempSync(join(tmpdir(), 'slabcast-pem-'));
  dirs.push(dir);
  const path = join(dir, 'key.pem');
  writeFileSync(path, key.export({ type: 'spki', format: 'pem' }));
  return path;
}

const rsa = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('audio cache with --token-secret (HS256)', () => {
  it('refuses the handshake before any WebSocket exists: 401 with the reason code, 403 for a token without audio rights', async () => {
    const s = await start({ tokenSecret: SECRET });
    expect(s.app.startupWarnings.some((w) => w.startsWith('audio cache'))).toBe(false);
    const cases: [string, number, string][] = [
      ['', 401, 'TOKEN_MISSING'],
      ['?token=garbage', 401, 'TOKEN_MALFORMED'],
      [`?token=${await hs256({ audio: ['read'] }, 'wrong-secret')}`, 401, 'TOKEN_BAD_SIGNATURE'],
      [`?token=${await hs256({ audio: ['read'], exp: now() - 1 })}`, 401, 'TOKEN_EXPIRED'],
      [`?token=${await hs256({ audio: ['read'], nbf: now() + 3600 })}`, 401, 'TOKEN_NOT_YET_VALID'],
      [`?token=${await hs256({ audio: 'read' })}`, 401, 'TOKEN_MALFORMED'],
      [`?token=${await hs256({ audio: ['read', 'admin'] })}`, 401, 'TOKEN_MALFORMED'],
      [`?token=${await hs256({ audio: ['read'], audio_prefix: 7 })}`, 401, 'TOKEN_MALFORMED'],
      // A room token: valid, but it grants nothing here.
      [`?token=${await hs256({ sub: 'alice', room: 'r1' })}`, 403, 'TOKEN_AUDIO_FORBIDDEN'],
      [`?token=${await hs256({ audio: [] })}`, 403, 'TOKEN_AUDIO_FORBIDDEN'],
      // alg none (RFC 8725 §3.1): never accepted.
      [`?token=${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"audio":["write"]}').toString('base64url')}.`, 401, 'TOKEN_BAD_ALG'],
    ];
    for (const [query, status, code] of cases) {
      const r = await refusal(audioUrl(query));
      expect(r.status, query).toBe(status);
      expect(r.body.error, query).toBe(code);
    }
    expect(s.app.ws.stats.opened).toBe(0);
    expect(s.app.tokens.stats.refused).toMatchObject({ TOKEN_MISSING: 1, TOKEN_EXPIRED: 1, TOKEN_BAD_SIGNATURE: 1 });
    const metrics = await (await fetch(`http://127.0.0.1:${s.port}/metrics`)).text();
    expect(metrics).toContain('slabcast_tokens_total{outcome="TOKEN_MISSING"} 1');
    // Verified by the verifier, refused by the audio cache's claim check: three malformed audio claims and two 403s.
    expect(metrics).toContain('slabcast_tokens_total{outcome="ok"} 5');
  });

  it('a read token reads (query or Bearer header) and gets ERROR:FORBIDDEN for every write; a write token the reverse', async () => {
    await start({ tokenSecret: SECRET });
    const writer = await audio(await hs256({ sub: 'studio', audio: ['write'], exp: now() + 600 }), 'header');
    expect(await writer.cmd('START:s1')).toBe('OK:START:s1:0');
    writer.send(Buffer.from('hello'));
    expect(await writer.cmd('STOP:s1')).toBe('OK:STOP:s1:5');
    for (const cmd of ['GET:s1:0:5', 'INFO:s1', 'LIST', 'FOLLOW:s1:0']) {
      expect(await writer.cmd(cmd), cmd).toMatch(/^ERROR:FORBIDDEN:.* refused: the token does not grant "read"$/);
    }

    const reader = await audio(await hs256({ audio: ['read'] }));
    reader.send('GET:s1:1:3');
    expect((await reader.bin()).toString()).toBe('ell');
    for (const cmd of ['START:s2', 'STOP:s1', 'DELETE:s1']) {
      expect(await reader.cmd(cmd), cmd).toMatch(/^ERROR:FORBIDDEN:.* refused: the token does not grant "write"$/);
    }
    reader.send(Buffer.from('x'));
    expect(await reader.text()).toBe('ERROR:FORBIDDEN:1-byte data frame refused: the token does not grant "write"');
    // The connection is still usable after the refusals.
    expect(await reader.cmd('INFO:s1')).toMatch(/^INFO:s1:/);
    expect(server!.app.audio.stats.refusals).toMatchObject({ ERR_AUDIO_FORBIDDEN: 8 });
  });

  it('audio_prefix limits every command and LIST to the stream ids under it; a token replaces the loopback rule', async () => {
    await start({ tokenSecret: SECRET });
    const all = await audio(await hs256({ audio: ['read', 'write'] }));
    for (const id of ['show-1', 'other']) {
      expect(await all.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
      all.send(Buffer.from('abc'));
      expect(await all.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:3`);
    }
    const shows = await audio(await hs256({ audio: ['read', 'write'], audio_prefix: 'show-' }));
    expect(JSON.parse((await shows.cmd('LIST')).slice(5)).map((m: { id: string }) => m.id)).toEqual(['show-1']);
    for (const cmd of ['GET:other:0:1', 'INFO:other', 'FOLLOW:other:0', 'START:other2', 'DELETE:other']) {
      expect(await shows.cmd(cmd), cmd).toMatch(/^ERROR:FORBIDDEN_STREAM:.* refused: stream other2? is outside the token's audio_prefix "show-"$/);
    }
    expect(await shows.cmd('DELETE:show-1')).toBe('OK:DELETE:show-1');
    expect(server!.app.audio.list().map((m) => m.id)).toEqual(['other']);

    // From a non-loopback address a write token writes: in token mode the token decides, not the address.
    const own = ownAddress();
    if (own !== null) {
      const far = await openAudio(own, server!.port, { query: `?token=${await hs256({ audio: ['write'] })}` });
      clients.push(far);
      expect(await far.cmd('START:far-1')).toBe('OK:START:far-1:0');
    }
  });

  it('a token expires on a live connection too: closed 4001 at exp, and the upload resumes on a new connection with a new token', async () => {
    await start({ tokenSecret: SECRET });
    const short = await audio(await hs256({ audio: ['read', 'write'], exp: now() + 2 }));
    expect(await short.cmd('START:live')).toBe('OK:START:live:0');
    short.send(Buffer.from('first part'));
    expect(await short.cmd('INFO:live')).toMatch(/^INFO:live:\{"id":"live","size":10,/);
    expect(await short.closed).toBe(4001);
    const renewed = await audio(await hs256({ audio: ['read', 'write'], exp: now() + 600 }));
    expect(await renewed.cmd('START:live')).toBe('OK:START:live:10');
    renewed.send(Buffer.from('!'));
    expect(await renewed.cmd('STOP:live')).toBe('OK:STOP:live:11');
  });

  it('GET /api/audio/streams needs a read token: 401 (with WWW-Authenticate) without one, 403 for write-only, the prefix filters', async () => {
    const s = await start({ tokenSecret: SECRET });
    const writer = await audio(await hs256({ audio: ['write'] }));
    for (const id of ['a-1', 'b-1']) {
      expect(await writer.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
      expect(await writer.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:0`);
    }
    const none = await http('127.0.0.1', s.port, 'GET', '/api/audio/streams');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="slabcast"');
    expect(none.json).toMatchObject({ error: 'TOKEN_MISSING' });
    const writeOnly = await http('127.0.0.1', s.port, 'GET', '/api/audio/streams', { authorization: `Bearer ${await hs256({ audio: ['write'] })}` });
    expect(writeOnly.status).toBe(403);
    expect(writeOnly.json).toMatchObject({ error: 'TOKEN_AUDIO_FORBIDDEN' });
    const onlyA = await http('127.0.0.1', s.port, 'GET', `/api/audio/streams?token=${await hs256({ audio: ['read'], audio_prefix: 'a-' })}`);
    expect(onlyA.status).toBe(200);
    expect((onlyA.json as { id: string }[]).map((m) => m.id)).toEqual(['a-1']);
  });

  it('frames sent right behind the handshake wait for the (asynchronous) token verdict and are answered after the 101', async () => {
    await start({ tokenSecret: SECRET });
    const token = await hs256({ audio: ['read'] });
    const { buildClientFrame } = await import('../helpers/ws-client-frames.js');
    const client = await WsRawClient.open(server!.port, '/audio', { headers: [`Authorization: Bearer ${token}`] }, buildClientFrame(OP.Text, 'LIST'));
    try {
      const [frame] = await client.waitFrames(1, (f) => f.opcode === OP.Text);
      expect(frame.payload.toString()).toBe('LIST:[]');
    } finally {
      client.destroy();
    }
  });
});

describe('--token-public-key: RS256 and ES256', () => {
  it('RS256: a token signed by the key pair is accepted (audio and rooms), another key is TOKEN_BAD_SIGNATURE, HS256 is TOKEN_BAD_ALG', async () => {
    const keys = rsa();
    const s = await start({ tokenPublicKey: pemFile(keys.publicKey) });
    const c = await audio(await signed({ audio: ['read', 'write'], exp: now() + 60 }, 'RS256', keys.privateKey));
    expect(await c.cmd('START:rs')).toBe('OK:START:rs:0');
    const room = await RoomClient.open(s.port, 'r1', { token: await signed({ sub: 'rita', room: 'r1' }, 'RS256', keys.privateKey) });
    expect(room.of('join')[0]).toMatchObject({ user: 'rita' });
    room.close();
    expect((await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'RS256', rsa().privateKey)}`))).body.error).toBe('TOKEN_BAD_SIGNATURE');
    expect((await refusal(audioUrl(`?token=${await hs256({ audio: ['read'] })}`))).body.error).toBe('TOKEN_BAD_ALG');
    expect((await refusal(audioUrl(`?token=${await signed({ audio: ['read'], exp: now() - 1 }, 'RS256', keys.privateKey)}`))).body.error).toBe('TOKEN_EXPIRED');
  });

  it('ES256 (P-256) verifies, and RS256 is then TOKEN_BAD_ALG; the secret and the key work side by side', async () => {
    const keys = ec();
    await start({ tokenPublicKey: pemFile(keys.publicKey), tokenSecret: SECRET });
    const c = await audio(await signed({ audio: ['read'] }, 'ES256', keys.privateKey));
    expect(await c.cmd('LIST')).toBe('LIST:[]');
    const h = await audio(await hs256({ audio: ['read'] }));
    expect(await h.cmd('LIST')).toBe('LIST:[]');
    expect((await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'RS256', rsa().privateKey)}`))).body.error).toBe('TOKEN_BAD_ALG');
    expect((await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'ES256', ec().privateKey)}`))).body.error).toBe('TOKEN_BAD_SIGNATURE');
  });

  it('a missing file, a private-key-less file, a 1024-bit RSA key or another curve is a configuration error naming --token-public-key', () => {
    const dir = mkdtempSync(join(tmpdir(), 'slabcast-pem-'));
    dirs.push(dir);
    const junk = join(dir, 'junk.pem');
    writeFileSync(junk, 'not a key');
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const ed = generateKeyPairSync('ed25519').publicKey;
    for (const [path, why] of [
      [join(dir, 'missing.pem'), /cannot read .*ENOENT/],
      [junk, /holds no PEM public key/],
      [pemFile(weak), /at least 2048 bits, this one has 1024/],
      [pemFile(p384), /not ec secp384r1/],
      [pemFile(ed), /not ed25519/],
    ] as const) {
      let err: unknown = null;
      try {
        new Slabcast({ tokenPublicKey: path, host: '127.0.0.1', port: 0 });
      } catch (e) {
        err = e;
      }
      expect(err, path).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toContain('--token-public-key');
      expect((err as Error).message).toMatch(why);
    }
  });
});

/** Polls `predicate` until it holds (a state change with no event to wait on); fails after 5 s. */
async function waitFor(predicate: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A JWKS served by a local node:http server: the keys it serves can change; it counts its requests. */
class JwksHost {
  keys: JWK[] = [];
  requests = 0;
  /** When set, requests wait for {@link release} (a slow key server). */
  hold = false;
  private held: ServerResponse[] = [];
  port = 0;

  async start(): Promise<void> {
    jwksServer = createServer((_req, res) => {
      this.requests++;
      if (this.hold) this.held.push(res);
      else this.answer(res);
    });
    await new Promise<void>((resolve) => jwksServer!.listen(0, '127.0.0.1', resolve));
    this.port = (jwksServer.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/.well-known/jwks.json`;
  }

  release(): void {
    this.hold = false;
    for (const res of this.held.splice(0)) this.answer(res);
  }

  private answer(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: this.keys }));
  }
}

async function jwk(publicKey: KeyObject, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
}

describe('--token-jwks-url', () => {
  it('fetches the JWKS once, caches it, and fetches it again for an unknown kid (key rotation from RS256 to ES256)', async () => {
    const host = new JwksHost();
    await host.start();
    const k1 = rsa();
    host.keys = [await jwk(k1.publicKey, 'k1', 'RS256')];
    await start({ tokenJwksUrl: host.url, tokenJwksCooldownMs: 0 });
    expect(host.requests).toBe(0); // nothing is fetched before a token needs it

    const a = await audio(await signed({ audio: ['read'] }, 'RS256', k1.privateKey, 'k1'));
    expect(await a.cmd('LIST')).toBe('LIST:[]');
    const b = await audio(await signed({ audio: ['read'] }, 'RS256', k1.privateKey, 'k1'));
    expect(await b.cmd('LIST')).toBe('LIST:[]');
    expect(host.requests).toBe(1);

    // Rotation: the key server now publishes k2 only. A token for k2 makes the server fetch again.
    const k2 = ec();
    host.keys = [await jwk(k2.publicKey, 'k2', 'ES256')];
    const c = await audio(await signed({ audio: ['read'] }, 'ES256', k2.privateKey, 'k2'));
    expect(await c.cmd('LIST')).toBe('LIST:[]');
    expect(host.requests).toBe(2);
    // k1 is gone from the set: its tokens are refused after one more look.
    expect((await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'RS256', k1.privateKey, 'k1')}`))).body.error).toBe('TOKEN_UNKNOWN_KEY');
    expect(host.requests).toBe(3);
    // A kid that verifies with another key's signature is still a bad signature.
    expect((await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'ES256', ec().privateKey, 'k2')}`))).body.error).toBe('TOKEN_BAD_SIGNATURE');
  });

  it('within the cooldown an unknown kid does not fetch again (TOKEN_UNKNOWN_KEY); rooms use the same keys', async () => {
    const host = new JwksHost();
    await host.start();
    const k1 = ec();
    host.keys = [await jwk(k1.publicKey, 'k1', 'ES256')];
    const s = await start({ tokenJwksUrl: host.url, tokenJwksCooldownMs: 3_600_000 });
    const room = await RoomClient.open(s.port, 'r', { token: await signed({ sub: 'jo' }, 'ES256', k1.privateKey, 'k1') });
    expect(room.of('join')[0]).toMatchObject({ user: 'jo' });
    room.close();
    expect(host.requests).toBe(1);
    const k2 = ec();
    host.keys = [await jwk(k2.publicKey, 'k2', 'ES256')];
    const r = await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'ES256', k2.privateKey, 'k2')}`));
    expect(r).toMatchObject({ status: 401, body: { error: 'TOKEN_UNKNOWN_KEY' } });
    expect(host.requests).toBe(1);
  });

  it('--token-jwks-cache-ms: a cached set is used until it is that old, then fetched again (whatever the cooldown)', async () => {
    const host = new JwksHost();
    await host.start();
    const k1 = ec();
    host.keys = [await jwk(k1.publicKey, 'k1', 'ES256')];
    await start({ tokenJwksUrl: host.url, tokenJwksCacheMs: 1000, tokenJwksCooldownMs: 3_600_000 });
    const token = await signed({ audio: ['read'] }, 'ES256', k1.privateKey, 'k1');
    for (let i = 0; i < 2; i++) expect(await (await audio(token)).cmd('LIST')).toBe('LIST:[]');
    expect(host.requests).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // past the cache's age (the knob's minimum)
    expect(await (await audio(token)).cmd('LIST')).toBe('LIST:[]');
    expect(host.requests).toBe(2);
  });

  it('an unreachable key server is 503 TOKEN_KEYS_UNAVAILABLE (the client is not at fault), and it is logged', async () => {
    const host = new JwksHost();
    await host.start();
    const url = host.url;
    await new Promise((resolve) => jwksServer!.close(resolve)); // nothing listens there any more
    jwksServer = null;
    await start({ tokenJwksUrl: url });
    const seen: unknown[] = [];
    const previous = server!.app.tokens.onKeysError;
    server!.app.tokens.onKeysError = (err) => {
      seen.push(err);
      previous?.(err);
    };
    const r = await refusal(audioUrl(`?token=${await signed({ audio: ['read'] }, 'ES256', ec().privateKey, 'k1')}`));
    expect(r).toMatchObject({ status: 503, body: { error: 'TOKEN_KEYS_UNAVAILABLE' } });
    expect(seen).toHaveLength(1);
  });

  it('a client that leaves while its token waits for the key server holds nothing once the verdict comes', async () => {
    const host = new JwksHost();
    await host.start();
    const k1 = rsa();
    host.keys = [await jwk(k1.publicKey, 'k1', 'RS256')];
    host.hold = true;
    await start({ tokenJwksUrl: host.url });
    const token = await signed({ audio: ['read'] }, 'RS256', k1.privateKey, 'k1');
    const { RawClient } = await import('../helpers/raw-client.js');
    const { handshakeRequest } = await import('../helpers/ws-raw.js');
    const raw = await RawClient.connect(server!.port);
    await raw.send(handshakeRequest(`/audio?token=${token}`));
    await waitFor(() => host.requests === 1);
    expect(server!.app.endpoints.pendingVerdicts).toBe(1);
    raw.destroy();
    await raw.waitClosed();
    host.release();
    // The verdict arrives for a connection that is gone. A paused socket is not read, so the server
    // may not have seen the FIN yet: it finds out at the 101 it writes (or the read after it) and
    // closes the connection; nothing stays open and nothing leaks (checked on close).
    await waitFor(() => server!.app.endpoints.pendingVerdicts === 0);
    await waitFor(() => server!.app.stats().core.processor.open === 0);
    expect(server!.app.ws.stats.closed).toBe(server!.app.ws.stats.opened);
    // And the next client is served from the now cached keys.
    const c = await audio(token);
    expect(await c.cmd('LIST')).toBe('LIST:[]');
  });
});
