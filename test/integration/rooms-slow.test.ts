import { afterEach, describe, expect, it } from 'vitest';
import { startServer, type TestServer, waitFor } from '../helpers/listen.js';
import { RoomClient } from './rooms-helpers.js';

let server: TestServer | null = null;
const clients: RoomClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await server?.close();
  server = null;
});

describe('rooms: slow consumers', () => {
  it('past the bound danmaku and voice are dropped and counted; still past it after --slow-close-seconds → 1013', async () => {
    server = await startServer({ rateLimit: '100000/100000', maxBackpressureBytes: 256 * 1024, slowCloseSeconds: 1, voiceMaxPendingBytes: 1024, slabSmallCount: 1024 });
    const service = server.app.rooms.service;
    const sender = await RoomClient.open(server.port, 'slow', { user: 'fast' });
    const slow = await RoomClient.open(server.port, 'slow', { user: 'slow' });
    const listener = await RoomClient.open(server.port, 'slow', { user: 'listener' });
    clients.push(sender, slow, listener);
    slow.socket.pause(); // stops reading: kernel buffers fill, then the server's queue grows
    const text = 'x'.repeat(1000);
    let sent = 0;
    for (let batch = 0; batch < 300 && service.stats.slowDrops === 0; batch++) {
      for (let i = 0; i < 100; i++) sender.send({ type: 'danmaku', text });
      sent += 100;
      await waitFor(() => sender.of('danmaku').length === sent, 10_000, 'own danmaku back');
    }
    expect(service.stats.slowDrops).toBeGreaterThan(0);
    expect(slow.closeCode).toBeNull();
    // Members that read keep getting everything.
    await waitFor(() => listener.of('danmaku').length === sent, 10_000, 'listener caught up');

    // Voice is latency-first: past --voice-max-pending-bytes the slow member skips frames.
    const voiceDropsBefore = service.stats.voiceDrops;
    sender.ws.send(Buffer.alloc(200, 1));
    await waitFor(() => listener.binaries.length === 1);
    expect(service.stats.voiceDrops).toBe(voiceDropsBefore + 1);

    await waitFor(() => service.stats.slowCloses === 1, 5000, 'slow close');
    slow.socket.resume();
    expect(await slow.closed()).toBe(1013);
    expect(slow.closeReason).toBe('slow consumer');
    expect(slow.of('danmaku').length).toBeLessThan(sent);
    expect(sender.closeCode).toBeNull();
    expect(listener.closeCode).toBeNull();
  });

  it('a member that drains in time is not closed', async () => {
    server = await startServer({ rateLimit: '100000/100000', maxBackpressureBytes: 256 * 1024, slowCloseSeconds: 1, slabSmallCount: 1024 });
    const service = server.app.rooms.service;
    const sender = await RoomClient.open(server.port, 'd', { user: 'fast' });
    const slow = await RoomClient.open(server.port, 'd', { user: 'slow' });
    clients.push(sender, slow);
    slow.socket.pause();
    const text = 'y'.repeat(1000);
    let sent = 0;
    for (let batch = 0; batch < 300 && service.stats.slowDrops === 0; batch++) {
      for (let i = 0; i < 100; i++) sender.send({ type: 'danmaku', text });
      sent += 100;
      await waitFor(() => sender.of('danmaku').length === sent, 10_000, 'own danmaku back');
    }
    expect(service.stats.slowDrops).toBeGreaterThan(0);
    slow.socket.resume();
    await waitFor(() => server!.app.ws.stats.slowConsumerDrops > 0 && slow.of('danmaku').length === sent - service.stats.slowDrops, 10_000, 'drained');
    await new Promise((r) => setTimeout(r, 1300)); // past --slow-close-seconds
    expect(service.stats.slowCloses).toBe(0);
    expect(slow.closeCode).toBeNull();
  });
});
