import { afterEach, describe, expect, it } from 'vitest';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';
import { startServer, type TestServer, waitFor } from '../helpers/listen.js';

let server: TestServer | null = null;
afterEach(async () => {
  closeAudioClients();
  await server?.close();
  server = null;
});

describe('--upload-expiry-seconds', () => {
  it('an upload whose client went away and never came back is deleted after the expiry; a resumed one and a complete one stay', async () => {
    server = await startServer({ uploadExpirySeconds: 1 });
    const gone = await AudioClient.open(server.port);
    expect(await gone.cmd('START:gone')).toBe('OK:START:gone:0');
    gone.ws.send(Buffer.alloc(1000, 1));
    expect(await gone.cmd('INFO:gone')).toMatch(/"size":1000/);
    gone.ws.close();
    await gone.closed;
    const kept = await AudioClient.open(server.port);
    expect(await kept.cmd('START:kept')).toBe('OK:START:kept:0');
    expect(await kept.cmd('START:done')).toMatch(/^ERROR:ALREADY_UPLOADING:cannot start stream done: this connection is uploading stream kept/); // one upload per connection
    const other = await AudioClient.open(server.port);
    expect(await other.cmd('START:done')).toBe('OK:START:done:0');
    expect(await other.cmd('STOP:done')).toBe('OK:STOP:done:0');
    const app = server.app;
    await waitFor(() => app.audio.stats.uploadsExpired === 1, 10_000, 'the abandoned upload to expire');
    const list = JSON.parse((await other.cmd('LIST')).slice('LIST:'.length)) as { id: string }[];
    expect(list.map((s) => s.id).sort()).toEqual(['done', 'kept']);
    expect(await other.cmd('INFO:gone')).toBe('ERROR:NOT_FOUND:stream gone not found');
  });
});
