/**
 * `<audio src>` in real headless Chromium reading the audio cache over HTTP (the built server,
 * `node dist/server.js`): a cached stream plays by URL, a seek makes a Range request answered 206
 * (read from the server's /metrics), and a stream plays while it is still being uploaded.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AudioClient, closeAudioClients } from '../helpers/audio-client.js';

const SERVER = fileURLToPath(new URL('../../dist/server.js', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'];

/** What the tests use of an HTMLAudioElement (the test tsconfig has no DOM library). */
interface AudioElement {
  muted: boolean;
  currentTime: number;
  readonly duration: number;
  play(): Promise<void>;
  addEventListener(type: string, listener: () => void, options?: { once: boolean }): void;
}
type Page$ = { Audio: new (src: string) => AudioElement; player: AudioElement };

let browser: Browser;
let child: ChildProcess;
let port: number;
let dir: string;

/** A WAV of `seconds` of a 440 Hz tone (48 kHz stereo: 192,000 bytes a second), made by ffmpeg. */
function tone(seconds: number): Buffer {
  const path = join(dir, `tone-${seconds}.wav`);
  execFileSync('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`, '-ac', '2', '-ar', '48000', path]);
  return readFileSync(path);
}

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name}(?:\\{\\})? (\\d+)`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]);
}

async function page(): Promise<Page> {
  const context = await browser.newContext();
  const p = await context.newPage();
  await p.goto(`http://127.0.0.1:${port}/`);
  return p;
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package`);
  dir = mkdtempSync(join(tmpdir(), 'slabcast-audio-browser-'));
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS });
  child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', '--cache-dir', join(dir, 'cache'), '--log-format', 'json'], { stdio: ['ignore', 'pipe', 'inherit'] });
  port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'slabcast listening') resolve(rec.port!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
});

afterAll(async () => {
  closeAudioClients();
  await browser?.close();
  if (child?.exitCode === null) {
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

describe('<audio src> over the audio cache', () => {
  it('plays a cached stream by URL, and a seek is a Range request answered 206', async () => {
    const data = tone(120); // 23 MB: more than Chromium buffers ahead, so a seek near the end must fetch
    const c = await AudioClient.open(port);
    expect(await c.cmd('START:tone')).toBe('OK:START:tone:0');
    for (let at = 0; at < data.length; at += 1 << 18) c.send(data.subarray(at, at + (1 << 18)));
    expect(await c.cmd('STOP:tone')).toBe(`OK:STOP:tone:${data.length}`);
    const p = await page();
    const played = await p.evaluate(async (src) => {
      const a = new (globalThis as unknown as Page$).Audio(src);
      a.muted = true;
      await a.play();
      await new Promise<void>((resolve) => {
        const check = (): void => (a.currentTime > 0.3 ? resolve() : void setTimeout(check, 20));
        check();
      });
      (globalThis as unknown as Page$).player = a;
      return { duration: a.duration, time: a.currentTime };
    }, `/audio/tone`);
    expect(played.duration).toBeCloseTo(120, 0);
    const seeksBefore = await metric('slabcast_audio_http_seeks_total');
    const after = await p.evaluate(async () => {
      const a = (globalThis as unknown as Page$).player;
      a.currentTime = 110;
      await new Promise<void>((resolve) => a.addEventListener('seeked', () => resolve(), { once: true }));
      await new Promise<void>((resolve) => {
        const check = (): void => (a.currentTime > 110.3 ? resolve() : void setTimeout(check, 20));
        check();
      });
      return a.currentTime;
    });
    expect(after).toBeGreaterThan(110);
    expect(await metric('slabcast_audio_http_seeks_total')).toBeGreaterThan(seeksBefore);
    await p.context().close();
  });

  it('plays a stream while it is still being uploaded (live, chunked) past what existed when it started', async () => {
    const data = tone(8);
    const second = 192_000;
    const c = await AudioClient.open(port);
    expect(await c.cmd('START:live')).toBe('OK:START:live:0');
    c.send(data.subarray(0, 2 * second));
    expect(await c.cmd('INFO:live')).toContain(`"size":${2 * second}`);
    const p = await page();
    const liveBefore = await metric('slabcast_audio_http_live_total\\{event="started"\\}');
    const playing = p.evaluate(async (src) => {
      const a = new (globalThis as unknown as Page$).Audio(src);
      a.muted = true;
      await a.play();
      await new Promise<void>((resolve) => {
        const check = (): void => (a.currentTime > 4 ? resolve() : void setTimeout(check, 20));
        check();
      });
      return a.currentTime;
    }, '/audio/live');
    // The rest arrives in real time-ish pieces while the page plays.
    for (let at = 2 * second; at < data.length; at += second / 4) {
      c.send(data.subarray(at, Math.min(data.length, at + second / 4)));
      await c.cmd('INFO:live');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(await c.cmd('STOP:live')).toBe(`OK:STOP:live:${data.length}`);
    expect(await playing).toBeGreaterThan(4);
    expect(await metric('slabcast_audio_http_live_total\\{event="started"\\}')).toBeGreaterThan(liveBefore);
    await p.context().close();
  });
});
