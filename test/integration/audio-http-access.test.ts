/**
 * HTTP reads of the audio cache follow its access policy: in token mode a token with `read`
 * (`Authorization: Bearer` or `?token=`, as `<audio src>` carries it) covering the stream's id with
 * its `audio_prefix`; otherwise 401 (with `WWW-Authenticate`) or 403 before anything about the
 * stream is said. Real sockets, real files.
 */
import { describe, expect, it } from 'vitest';
import { signToken } from '../../src/index.js';
import { AudioClient } from '../helpers/audio-client.js';
import { audioServers } from '../helpers/audio-servers.js';

const servers = audioServers('slabcast-audio-http-access-');
const SECRET = 'http-read-secret-0123456789abcdef';

async function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; length: number }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  return { status: r.status, headers: r.headers, length: (await r.arrayBuffer()).byteLength };
}

describe('HTTP reads under the access policy', () => {
  it('token mode: 401 without a token, 200 with a read token (?token= or Bearer), 403 without read or outside the prefix', async () => {
    const { port } = await servers.start({ tokenSecret: SECRET });
    const writer = await signToken({ sub: 'w', audio: ['read', 'write'] }, SECRET);
    const c = await AudioClient.open(port, `/audio?token=${writer}`);
    for (const id of ['show-1', 'other-1']) {
      expect(await c.cmd(`START:${id}`)).toBe(`OK:START:${id}:0`);
      c.send(Buffer.alloc(1000, 7));
      expect(await c.cmd(`STOP:${id}`)).toBe(`OK:STOP:${id}:1000`);
    }
    const anon = await get(port, '/audio/show-1');
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toContain('Bearer');
    const reader = await signToken({ sub: 'r', audio: ['read'] }, SECRET);
    expect(await get(port, `/audio/show-1?token=${reader}`)).toMatchObject({ status: 200, length: 1000 });
    expect(await get(port, '/audio/show-1', { Authorization: `Bearer ${reader}`, Range: 'bytes=0-9' })).toMatchObject({ status: 206, length: 10 });
    const noRead = await signToken({ sub: 'n', audio: ['write'] }, SECRET);
    expect((await get(port, '/audio/show-1', { Authorization: `Bearer ${noRead}` })).status).toBe(403);
    const prefixed = await signToken({ sub: 'p', audio: ['read'], audio_prefix: 'show-' }, SECRET);
    expect((await get(port, '/audio/show-1', { Authorization: `Bearer ${prefixed}` })).status).toBe(200);
    expect((await get(port, '/audio/other-1', { Authorization: `Bearer ${prefixed}` })).status).toBe(403);
    // A refusal says nothing about the stream: an unknown id is refused the same way.
    expect((await get(port, '/audio/no-such-stream')).status).toBe(401);
  });

  it('open mode: reads are open', async () => {
    const { port } = await servers.start();
    const c = await AudioClient.open(port);
    expect(await c.cmd('START:open')).toBe('OK:START:open:0');
    c.send(Buffer.alloc(500, 1));
    expect(await c.cmd('STOP:open')).toBe('OK:STOP:open:500');
    expect(await get(port, '/audio/open')).toMatchObject({ status: 200, length: 500 });
  });
});
