/**
 * Secure by default: without a token key the audio cache's writes, and without --admin-key the
 * rooms admin API, answer loopback clients only; --insecure opens them. A non-loopback client is
 * this machine's own interface address (the traffic stays on the machine).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AudioClient } from '../helpers/audio-client.js';
import { type AnyServer, http, openAudio, ownAddress, startAny } from './access-helpers.js';

const OWN = ownAddress();
let server: AnyServer | null = null;
const clients: AudioClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.ws.terminate();
  await server?.close();
  server = null;
});

async function audio(host: string): Promise<AudioClient> {
  const c = await openAudio(host, server!.port);
  clients.push(c);
  return c;
}

if (OWN === null) {
  // Nothing to reach the server from but loopback: the refusals below cannot be shown here.
  describe('secure by default (needs a non-loopback interface address)', () => {
    // Locally a machine without one skips, saying why; under CI it fails: a skip there would prove nothing.
    (process.env.CI === 'true' ? it : it.skip)('needs os.networkInterfaces() to list a non-internal address', () => {
      throw new Error('no non-loopback interface address on this machine: the loopback-only rule cannot be tested');
    });
  });
} else {
  const own = OWN;

  describe('audio cache without a token key: reads for everyone, writes from loopback only', () => {
    it('a non-loopback client gets ERROR:LOOPBACK_ONLY for START, data, STOP and DELETE, and keeps reading on the same connection', async () => {
      server = await startAny();
      const app = server.app;
      expect(app.startupWarnings.some((w) => w.startsWith('audio cache: open mode') && w.includes('loopback clients only'))).toBe(true);

      // A loopback client uploads one stream.
      const local = await audio('127.0.0.1');
      expect(await local.cmd('START:show-1')).toBe('OK:START:show-1:0');
      local.send(Buffer.from('abcdefgh'));
      expect(await local.cmd('STOP:show-1')).toBe('OK:STOP:show-1:8');

      const far = await audio(own);
      for (const [command, what] of [
        ['START:show-2', 'START on stream show-2'],
        ['STOP:show-1', 'STOP on stream show-1'],
        ['DELETE:show-1', 'DELETE on stream show-1'],
      ] as const) {
        const reply = await far.cmd(command);
        expect(reply.startsWith(`ERROR:LOOPBACK_ONLY:${what} refused`), reply).toBe(true);
      }
      far.send(Buffer.from('xyz'));
      expect(await far.text()).toMatch(/^ERROR:LOOPBACK_ONLY:3-byte data frame refused/);
      expect(app.audio.stats.refusals).toMatchObject({ ERR_AUDIO_LOOPBACK_ONLY: 4 });

      // Reads stay open, on the very connection that was refused.
      far.send('GET:show-1:2:3');
      expect((await far.bin()).toString()).toBe('cde');
      expect(await far.cmd('INFO:show-1')).toMatch(/^INFO:show-1:\{"id":"show-1","size":8,"complete":true/);
      expect(JSON.parse((await far.cmd('LIST')).slice(5)).map((m: { id: string }) => m.id)).toEqual(['show-1']);
      far.send('FOLLOW:show-1:6');
      expect(await far.text()).toBe('OK:FOLLOW:show-1:6');
      expect(await far.collect()).toEqual({ bytes: Buffer.from('gh'), end: 'END:show-1:8' });
      expect((await http(own, server.port, 'GET', '/api/audio/streams')).status).toBe(200);
      // Nothing was deleted or started.
      expect(app.audio.list().map((m) => m.id)).toEqual(['show-1']);
    });

    it('on a dual-stack socket an IPv4 loopback peer (::ffff:127.0.0.1) and ::1 may write; the own address mapped into IPv6 may not', async () => {
      server = await startAny({}, '::');
      const mapped = await audio('127.0.0.1');
      expect(await mapped.cmd('START:v4')).toBe('OK:START:v4:0');
      const v6 = await audio('::1');
      expect(await v6.cmd('START:v6')).toBe('OK:START:v6:0');
      const far = await audio(own);
      expect(await far.cmd('START:far')).toMatch(/^ERROR:LOOPBACK_ONLY:START on stream far refused/);
    });

    it('--insecure opens writes to every client, and start-up says so', async () => {
      server = await startAny({ insecure: true });
      expect(server.app.startupWarnings.some((w) => w.includes('OPEN MODE with --insecure'))).toBe(true);
      const far = await audio(own);
      expect(await far.cmd('START:open-1')).toBe('OK:START:open-1:0');
      far.send(Buffer.from('12345'));
      expect(await far.cmd('STOP:open-1')).toBe('OK:STOP:open-1:5');
      expect(await far.cmd('DELETE:open-1')).toBe('OK:DELETE:open-1');
    });
  });

  describe('rooms admin API without --admin-key: loopback clients only', () => {
    it('a non-loopback client gets 403 ADMIN_LOOPBACK_ONLY on every guarded route; check stays public; loopback answers', async () => {
      server = await startAny();
      const port = server.port;
      for (const [method, path, body] of [
        ['GET', '/api/push/status', undefined],
        ['GET', '/api/push/room/r1', undefined],
        ['POST', '/api/push/broadcast/r1', '{"text":"hi"}'],
        ['DELETE', '/api/push/room/r1', undefined],
      ] as const) {
        const r = await http(own, port, method, path, body === undefined ? {} : { 'content-type': 'application/json' }, body);
        expect(r.status, `${method} ${path}`).toBe(403);
        expect(r.json).toMatchObject({ error: 'ADMIN_LOOPBACK_ONLY' });
      }
      expect((await http(own, port, 'GET', '/api/push/check/r1')).status).toBe(200);
      expect((await http('127.0.0.1', port, 'GET', '/api/push/status')).status).toBe(200);
      expect((await http('127.0.0.1', port, 'GET', '/api/push/room/r1')).json).toMatchObject({ error: 'NO_SUCH_ROOM' });
    });

    it('with --admin-key the key decides, wherever the client is; --insecure without a key opens it', async () => {
      server = await startAny({ adminKey: 'k' });
      expect((await http(own, server.port, 'GET', '/api/push/status', { authorization: 'Bearer k' })).status).toBe(200);
      expect((await http(own, server.port, 'GET', '/api/push/status')).json).toMatchObject({ error: 'UNAUTHORIZED' });
      await server.close();
      server = await startAny({ insecure: true });
      expect((await http(own, server.port, 'GET', '/api/push/status')).status).toBe(200);
    });
  });
}
