import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ensurePeerBinary } from '../../bench/lib/c-client.js';
import { HELLO_BODY, HELLO_CONTENT_TYPE } from '../../bench/lib/hello.js';
import { freePort } from '../../bench/lib/processes.js';

// The C floor of the http-hello rows (bench/peers/c-hello.c): it must put the same page on the wire
// as slabcast and answer every request it was sent, or the rows compare unequal work.

let child: ChildProcess | null = null;

afterEach(async () => {
  if (child !== null && child.exitCode === null) {
    child.kill();
    await once(child, 'exit');
  }
  child = null;
});

async function startFloor(): Promise<number> {
  const binary = ensurePeerBinary('c-hello', () => undefined, '');
  const port = await freePort();
  child = spawn(binary, ['--port', String(port), '--host', '127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  for (let i = 0; i < 100 && !err.includes('listening'); i++) await new Promise((r) => setTimeout(r, 20));
  expect(err).toContain('listening');
  return port;
}

/** Writes `request` `count` times back to back and reads until `count` whole answers came; returns them. */
async function pipelined(port: number, request: string, count: number, readDelayMs = 0): Promise<string[]> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  if (readDelayMs > 0) socket.pause();
  socket.write(request.repeat(count));
  if (readDelayMs > 0) setTimeout(() => socket.resume(), readDelayMs);
  let data = '';
  const answers: string[] = [];
  for await (const chunk of socket) {
    data += (chunk as Buffer).toString('latin1');
    for (;;) {
      const headEnd = data.indexOf('\r\n\r\n');
      if (headEnd < 0) break;
      const length = Number(/content-length: (\d+)/i.exec(data.slice(0, headEnd))?.[1]);
      if (data.length < headEnd + 4 + length) break;
      answers.push(data.slice(0, headEnd + 4 + length));
      data = data.slice(headEnd + 4 + length);
    }
    if (answers.length === count) break;
  }
  socket.destroy();
  return answers;
}

describe('the C floor peer (bench/peers/c-hello.c)', () => {
  it('answers GET / with the reference hello page', async () => {
    const port = await startFloor();
    const res = await fetch(`http://127.0.0.1:${port}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(HELLO_CONTENT_TYPE);
    expect(await res.text()).toBe(HELLO_BODY);
  });

  it('answers each of 16 pipelined requests, a head split across writes included', async () => {
    const port = await startFloor();
    const answers = await pipelined(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 16);
    expect(answers).toHaveLength(16);
    for (const a of answers) expect(a.endsWith(HELLO_BODY)).toBe(true);

    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write('GET / HTTP/1.1\r\nHost: a\r\n\r');
    await new Promise((r) => setTimeout(r, 50));
    socket.write('\n');
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    expect(chunk.toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    socket.destroy();
  });

  it('keeps what a slow reader cannot take yet and delivers every answer', async () => {
    const port = await startFloor();
    // ~20,000 answers (about 5 MB) outgrow the socket buffers while the client does not read.
    const answers = await pipelined(port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n', 20_000, 300);
    expect(answers).toHaveLength(20_000);
    expect(answers.every((a) => a.endsWith(HELLO_BODY))).toBe(true);
  });
});
