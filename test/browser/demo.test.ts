/**
 * The demo page in real headless Chromium (Debian's `chromium`, driven by playwright-core; nothing is
 * downloaded). The server is the built one (`node dist/server.js`), so this also proves the page is
 * found from dist/. Run with `npm run test:browser` (it builds dist first).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import WebSocket from 'ws';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { signToken } from '../../src/services/rooms/token.js';

const SERVER = fileURLToPath(new URL('../../dist/server.js', import.meta.url));
const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--use-fake-ui-for-media-stream', // getUserMedia is granted without a prompt…
  '--use-fake-device-for-media-stream', // …and the "microphone" is Chromium's synthetic beep
  '--autoplay-policy=no-user-gesture-required',
];
const SECRET = 'browser-test-secret';

interface RunningServer {
  port: number;
  cacheDir: string;
  child: ChildProcess;
}

let browser: Browser;
let open: RunningServer;
const servers: RunningServer[] = [];
const contexts: BrowserContext[] = [];
/** Uncaught exceptions and console errors of every page of the current test. */
let pageProblems: string[] = [];
/** Console errors a test provokes on purpose (Chromium logs every refused WebSocket handshake). */
let expectedConsole: RegExp | null = null;

/** Starts `node dist/server.js` on a free port with its own cache directory. */
async function spawnServer(args: string[] = []): Promise<RunningServer> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'slabcast-browser-'));
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const rec = JSON.parse(line) as { msg?: string; port?: number };
      if (rec.msg === 'slabcast listening') resolve(rec.port!);
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const server = { port, cacheDir, child };
  servers.push(server);
  return server;
}

async function stopServer(s: RunningServer): Promise<void> {
  if (s.child.exitCode === null) {
    const exited = once(s.child, 'exit');
    s.child.kill('SIGTERM');
    await exited;
  }
  rmSync(s.cacheDir, { recursive: true, force: true });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
  // launch() gives every run a fresh temporary profile (user-data dir), removed on close.
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  open = await spawnServer();
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers.splice(0)) await stopServer(s);
});

afterEach(async () => {
  for (const c of contexts.splice(0)) await c.close();
  const problems = pageProblems;
  pageProblems = [];
  expectedConsole = null;
  expect(problems, 'page errors').toEqual([]);
});

/** A page in its own browser context (its own cookies and storage: another person). */
async function openPage(server: RunningServer, query: string, path = '/demo/'): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
  contexts.push(context);
  const page = await context.newPage();
  page.on('pageerror', (err) => pageProblems.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !(expectedConsole?.test(msg.text()) ?? false)) pageProblems.push(`console: ${msg.text()}`);
  });
  await page.goto(`http://127.0.0.1:${server.port}${path}?${query}`);
  return page;
}

async function joinRoom(page: Page): Promise<void> {
  await page.click('#join');
  await page.waitForSelector('#status[data-state="live"]');
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
}

/** Resolves once `page`'s log shows a line of `kind` containing `text`. */
async function seeInLog(page: Page, kind: string, text: string): Promise<void> {
  await page.locator(`#log .msg.${kind}`, { hasText: text }).first().waitFor();
}

async function countIs(page: Page, n: number): Promise<void> {
  // A locator, not waitForFunction with a string: the page's CSP (no 'unsafe-eval') refuses eval.
  await page.locator('#count', { hasText: new RegExp(`^${n}$`) }).waitFor();
}

async function errorsOf(page: Page): Promise<string[]> {
  return page.locator('#errors .error').allTextContents();
}

/** The slice of the DOM the tests read inside the page (the project's tsconfig has no DOM lib). */
interface PageElement {
  readonly ownerDocument: { readonly defaultView: { getComputedStyle(e: PageElement): Record<string, string> } };
  readonly className: string;
  readonly textContent: string | null;
  readonly readOnly: boolean;
  readonly duration: number;
  readonly currentSrc: string;
  currentTime: number;
}

function roomName(tag: string): string {
  return `${tag}-${Math.random().toString(36).slice(2, 8)}`;
}

describe('demo page: rooms', () => {
  it('two pages in the same room see each other’s danmaku fly right to left, and the member count', async () => {
    const room = roomName('pair');
    const alice = await openPage(open, `room=${room}&user=alice`);
    const bob = await openPage(open, `room=${room}&user=bob`);
    await joinRoom(alice);
    await joinRoom(bob);
    await countIs(alice, 2);
    await countIs(bob, 2);

    await say(alice, 'hello from alice');
    await seeInLog(bob, 'danmaku', 'hello from alice');
    const bullet = bob.locator('#stage .bullet.fly', { hasText: 'hello from alice' });
    await bullet.waitFor();
    expect(await bullet.evaluate((e: PageElement) => e.ownerDocument.defaultView.getComputedStyle(e).animationName)).toBe('fly');
    const x0 = (await bullet.boundingBox())!.x;
    await bob.waitForTimeout(400);
    const x1 = (await bullet.boundingBox())!.x;
    expect(x1).toBeLessThan(x0 - 20); // moving left

    // The sender sees its own comment (the server's confirmation), marked as its own.
    await alice.locator('#stage .bullet.mine', { hasText: 'hello from alice' }).waitFor();
    await say(bob, 'hi alice');
    await seeInLog(alice, 'danmaku', 'hi alice');
    await alice.locator('#stage .bullet', { hasText: 'hi alice' }).waitFor();
    expect(await alice.locator('#members .member').allTextContents()).toEqual(['alice (you)', 'bob']);
    // Chromium offers permessage-deflate on every WebSocket: the danmaku travelled compressed, both ways.
    const metrics = await fetch(`http://127.0.0.1:${open.port}/metrics`).then((r) => r.text());
    const counter = (name: string): number => Number(new RegExp(`^${name.replace(/[{}]/g, '\\$&')} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
    expect(counter('slabcast_ws_compressed_connections_total')).toBeGreaterThanOrEqual(2);
    expect(counter('slabcast_ws_compressed_messages_total{direction="out"}')).toBeGreaterThan(0);
    expect(counter('slabcast_ws_compressed_messages_total{direction="in"}')).toBeGreaterThan(0);

    await bob.click('#leave');
    await countIs(alice, 1);
    await seeInLog(alice, 'note', 'bob left');
    expect(await errorsOf(alice)).toEqual([]);
    expect(await errorsOf(bob)).toEqual([]);
  });

  it('a whisper reaches only its addressee and the sender, and looks different', async () => {
    const room = roomName('whisper');
    const [alice, bob, carol] = await Promise.all(['alice', 'bob', 'carol'].map((u) => openPage(open, `room=${room}&user=${u}`)));
    for (const p of [alice, bob, carol]) await joinRoom(p);
    await countIs(alice, 3);

    await say(alice, '/w bob psst, only for bob');
    await seeInLog(bob, 'whisper', 'psst, only for bob');
    await seeInLog(alice, 'whisper', 'psst, only for bob'); // the sender's confirmation
    await bob.locator('#stage .bullet.whisper', { hasText: 'psst' }).waitFor();
    expect(await bob.locator('#log .msg.whisper .who').textContent()).toBe('alice → you');
    expect(await alice.locator('#text').inputValue()).toBe('/w bob '); // ready to whisper again

    // Ordered delivery: once carol sees a later danmaku, the whisper would have reached her before it.
    await say(alice, 'a public marker');
    await seeInLog(carol, 'danmaku', 'a public marker');
    expect(await carol.locator('#log').textContent()).not.toContain('psst');

    await seeInLog(bob, 'danmaku', 'a public marker');
    const style = (sel: string) => bob.locator(sel).first().evaluate((e: PageElement) => {
        const css = e.ownerDocument.defaultView.getComputedStyle(e);
        return { font: css.fontStyle, bg: css.backgroundColor };
      });
    const whisper = await style('#log .msg.whisper');
    const danmaku = await style('#log .msg.danmaku');
    expect(whisper.font).toBe('italic');
    expect(danmaku.font).toBe('normal');
    expect(whisper.bg).not.toBe(danmaku.bg);

    // Clicking a member prepares a whisper to them.
    await carol.click('#members .member[data-user="alice"]');
    expect(await carol.locator('#text').inputValue()).toBe('/w alice ');
  });

  it('a late joiner gets the history first (before ready), marked as earlier and not flown', async () => {
    const room = roomName('history');
    const alice = await openPage(open, `room=${room}&user=alice`);
    await joinRoom(alice);
    for (const t of ['first message', 'second message', 'third message']) await say(alice, t);
    await seeInLog(alice, 'danmaku', 'third message');

    const dave = await openPage(open, `room=${room}&user=dave`);
    await joinRoom(dave);
    const lines = await dave.locator('#log .msg').evaluateAll((els: PageElement[]) => els.map((e) => ({ cls: e.className, text: e.textContent ?? '' })));
    const history = lines.filter((l) => l.cls.includes('history'));
    expect(history.map((l) => l.text.replace(/^.*alice/, ''))).toEqual(['first message', 'second message', 'third message']);
    const joinedAt = lines.findIndex((l) => l.cls.includes('note') && l.text.includes('3 earlier messages'));
    expect(joinedAt).toBe(3); // the "joined" note (written on ready) comes right after the history
    expect(await dave.locator('#stage .bullet').count()).toBe(0);
    await countIs(dave, 2);
  });
});

describe('demo page: stage lanes', () => {
  it('top and bottom comments take lanes of their own: no scrolling comment shares a lane with one', async () => {
    const room = roomName('lanes');
    const page = await openPage(open, `room=${room}&user=lanes`);
    await joinRoom(page);
    const send = async (mode: string, text: string): Promise<void> => {
      await page.selectOption('#mode', mode);
      await say(page, text);
      await page.locator('#stage .bullet', { hasText: text }).waitFor();
    };
    // Fewer comments than lanes (the stage has 8): a stage with traffic in every lane is the one case
    // where a fixed comment sits over a scrolling one.
    for (let i = 0; i < 2; i++) await send('scroll', `scrolling ${i} ${'~'.repeat(30)}`);
    await send('top', 'pinned to the top');
    await send('bottom', 'pinned to the bottom');
    for (let i = 2; i < 5; i++) await send('scroll', `scrolling ${i} ${'~'.repeat(30)}`);
    await send('top', 'a second top one');
    const boxes = async (sel: string): Promise<{ y: number; h: number }[]> =>
      (await Promise.all((await page.locator(sel).all()).map((b) => b.boundingBox()))).filter((b) => b !== null).map((b) => ({ y: b.y, h: b.height }));
    const fixed = await boxes('#stage .bullet.fixed');
    const flying = await boxes('#stage .bullet.fly');
    expect(fixed).toHaveLength(3);
    expect(flying.length).toBeGreaterThanOrEqual(4);
    for (const f of fixed) {
      for (const s of flying) expect(s.y + s.h <= f.y + 1 || f.y + f.h <= s.y + 1, `a scrolling comment at y=${s.y} crosses a fixed one at y=${f.y}`).toBe(true);
    }
    // Top ones from the top, bottom ones at the bottom.
    const stage = (await page.locator('#stage').boundingBox())!;
    const top = (await page.locator('#stage .bullet.fixed', { hasText: 'pinned to the top' }).boundingBox())!;
    const bottom = (await page.locator('#stage .bullet.fixed', { hasText: 'pinned to the bottom' }).boundingBox())!;
    expect(top.y - stage.y).toBeLessThan(stage.height / 2);
    expect(bottom.y - stage.y).toBeGreaterThan(stage.height / 2);
  });
});

describe('demo page: audio cache', () => {
  /** Uploads the page's current clip as `id`; resolves with the SHA-256 the page computed. */
  async function upload(page: Page, id: string): Promise<string> {
    const sha = await page.locator('#clip').getAttribute('data-sha256');
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    await page.fill('#stream-id', id);
    await page.click('#upload');
    await page.locator(`#streams tr[data-id="${id}"]`).waitFor();
    return sha!;
  }

  /** Plays `id` back (HTTP range reads) and waits for the <audio> element to be able to play it. */
  async function playBack(page: Page, id: string): Promise<string> {
    await page.click(`#streams tr[data-id="${id}"] button.play`);
    await page.waitForSelector('#player[data-state="canplay"]');
    expect(await page.locator('#play-info').getAttribute('data-id')).toBe(id);
    return (await page.locator('#play-info').getAttribute('data-sha256'))!;
  }

  it('a test tone is uploaded (START/binary/STOP), listed (LIST) and plays back with the same bytes (HTTP range reads)', async () => {
    const page = await openPage(open, 'user=audio');
    await page.click('#tone');
    await page.waitForSelector('#clip[data-sha256]');
    const bytes = Number(await page.locator('#clip').getAttribute('data-bytes'));
    expect(bytes).toBe(44 + 2 * 2 * 22050); // 2 s of 16-bit mono WAV at 22.05 kHz
    const uploaded = await upload(page, 'tone-browser-test');

    // What the server stored is what the page hashed.
    const onDisk = readFileSync(join(open.cacheDir, 'tone-browser-test.audio'));
    expect(onDisk.length).toBe(bytes);
    expect(createHash('sha256').update(onDisk).digest('hex')).toBe(uploaded);

    const fetched = await playBack(page, 'tone-browser-test');
    expect(fetched).toBe(uploaded);
    expect(await page.locator('#play-info').textContent()).toContain('in 2 HTTP ranges');
    expect(await page.locator('#play-info').textContent()).toContain('same bytes as uploaded');
    const duration = await page.locator('#audio').evaluate((a: PageElement) => a.duration);
    expect(duration).toBeCloseTo(2, 1);
    // The player reads it over plain HTTP from the cache; a seek is a byte-range request, answered 206.
    expect(await page.locator('#audio').evaluate((a: PageElement) => a.currentSrc)).toBe(`http://127.0.0.1:${open.port}/audio/tone-browser-test`);
    await page.locator('#audio').evaluate((a: PageElement) => {
      a.currentTime = 1.5;
    });
    await expect
      .poll(async () => {
        const metrics = await fetch(`http://127.0.0.1:${open.port}/metrics`).then((r) => r.text());
        return Number(/^slabcast_audio_http_responses_total\{status="206"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
      })
      .toBeGreaterThan(0);

    // Another page (another connection) lists it and fetches the same bytes.
    const other = await openPage(open, 'user=listener');
    await other.locator('#streams tr[data-id="tone-browser-test"]').waitFor();
    expect(await playBack(other, 'tone-browser-test')).toBe(uploaded);
    expect(await errorsOf(page)).toEqual([]);
  });

  it('a microphone recording (MediaRecorder, fake device) round-trips too', async () => {
    const page = await openPage(open, 'user=mic');
    await page.click('#record');
    await page.locator('#record.live').waitFor();
    await page.waitForTimeout(1500);
    await page.click('#record');
    await page.waitForSelector('#clip[data-sha256]');
    expect(Number(await page.locator('#clip').getAttribute('data-bytes'))).toBeGreaterThan(1000);
    const uploaded = await upload(page, 'mic-browser-test');
    expect(await playBack(page, 'mic-browser-test')).toBe(uploaded);
    expect(await page.locator('#play-info').textContent()).toMatch(/audio\/(webm|ogg)/);
  });

  it('the stream list fits its card at every width, and says "uploading" only while an upload is open', async () => {
    const url = `ws://127.0.0.1:${open.port}/audio`;
    const connect = async (): Promise<WebSocket> => {
      const ws = new WebSocket(url);
      await once(ws, 'open');
      return ws;
    };
    const command = async (ws: WebSocket, text: string | Buffer): Promise<string> => {
      const answer = once(ws, 'message');
      ws.send(text);
      return String((await answer)[0]);
    };
    const longId = `a-rather-long-stream-name-for-a-narrow-card-${'x'.repeat(40)}`;
    const done = await connect();
    expect(await command(done, `START:${longId}`)).toMatch(/^OK:START/);
    done.send(Buffer.alloc(2048, 1));
    expect(await command(done, `STOP:${longId}`)).toMatch(/^OK:STOP/);
    const left = await connect();
    expect(await command(left, 'START:abandoned-upload-with-a-long-name')).toMatch(/^OK:START/);
    left.send(Buffer.alloc(1000, 2));
    expect(await command(left, 'INFO:abandoned-upload-with-a-long-name')).toContain('"size":1000');
    left.close();
    await once(left, 'close');
    const live = await connect();
    expect(await command(live, 'START:live-upload')).toMatch(/^OK:START/);
    live.send(Buffer.alloc(500, 3));
    await expect.poll(async () => command(live, 'INFO:abandoned-upload-with-a-long-name')).toContain('"uploading":false');

    try {
      const page = await openPage(open, 'user=widths');
      await page.locator('#streams tr[data-id="live-upload"]').waitFor();
      const badge = (id: string) => page.locator(`#streams tr[data-id="${id}"] .badge`).allTextContents();
      expect(await badge('live-upload')).toEqual(['uploading']);
      expect(await badge('abandoned-upload-with-a-long-name')).toEqual(['incomplete']);
      expect(await badge(longId)).toEqual([]);
      for (const width of [1280, 1000, 700, 480, 360]) {
        await page.setViewportSize({ width, height: 820 });
        const card = (await page.locator('#streams').locator('xpath=ancestor::section[contains(@class,"card")]').boundingBox())!;
        for (const id of [longId, 'abandoned-upload-with-a-long-name', 'live-upload']) {
          for (const name of ['play', 'delete']) {
            const button = page.locator(`#streams tr[data-id="${id}"] button.${name}`);
            const box = (await button.boundingBox())!;
            expect(box.x + box.width, `${name} of ${id} at ${width}px`).toBeLessThanOrEqual(card.x + card.width);
            expect(box.x, `${name} of ${id} at ${width}px`).toBeGreaterThanOrEqual(card.x);
            // Its whole label is shown (not cut to "Del").
            expect(await button.evaluate((b: PageElement & { scrollWidth: number; clientWidth: number }) => b.scrollWidth <= b.clientWidth), `${name} of ${id} at ${width}px`).toBe(true);
          }
          for (const b of await page.locator(`#streams tr[data-id="${id}"] .badge`).all()) {
            const box = (await b.boundingBox())!;
            expect(box.x + box.width, `badge of ${id} at ${width}px`).toBeLessThanOrEqual(card.x + card.width);
          }
        }
      }
    } finally {
      live.close();
      done.close();
    }
  });

  it('errors from the cache are shown on the page', async () => {
    const page = await openPage(open, 'user=errors');
    await page.click('#tone');
    await page.waitForSelector('#clip[data-sha256]');
    await upload(page, 'twice');
    await page.click('#upload'); // the stream is complete now: START is refused
    await page.locator('#errors .error', { hasText: 'is complete' }).waitFor();
    await page.fill('#stream-id', '../etc');
    await page.click('#upload');
    await page.locator('#errors .error', { hasText: 'stream ids are' }).waitFor();
  });
});

describe('demo page: tokens', () => {
  it('takes a token from the page URL (also through /demo?token=…), and says so when there is none', async () => {
    const server = await spawnServer(['--token-secret', SECRET]);
    const room = roomName('tok');
    const exp = Math.floor(Date.now() / 1000) + 600;
    // The same tokens open the audio panel's /audio socket: they carry audio rights.
    const aliceToken = await signToken({ sub: 'alice', room, exp, audio: ['read', 'write'] }, SECRET);
    const bobToken = await signToken({ sub: 'bob', exp, audio: ['read'] }, SECRET);

    const alice = await openPage(server, `token=${aliceToken}`, '/demo'); // redirected, query kept
    expect(new URL(alice.url()).pathname).toBe('/demo/');
    expect(await alice.locator('#user').inputValue()).toBe('alice');
    expect(await alice.locator('#room').inputValue()).toBe(room); // from the token's room claim
    expect(await alice.locator('#user').evaluate((e: PageElement) => e.readOnly)).toBe(true);
    expect(await alice.locator('#token-badge').isVisible()).toBe(true);
    const bob = await openPage(server, `token=${bobToken}&room=${room}`);
    await joinRoom(alice);
    await joinRoom(bob);
    await say(bob, 'signed in with a token');
    await seeInLog(alice, 'danmaku', 'signed in with a token');
    expect(await alice.locator('#log .msg.danmaku .who').first().textContent()).toBe('bob');

    expectedConsole = /WebSocket connection to .* failed/;
    const anonymous = await openPage(server, `room=${room}&user=mallory`);
    await anonymous.click('#join');
    await anonymous.locator('#errors .error', { hasText: 'refused the connection' }).waitFor();
    expect(await anonymous.locator('#status').getAttribute('data-state')).toBe('idle');

    const forged = await openPage(server, `token=${await signToken({ sub: 'eve', room }, 'not-the-secret')}`);
    await forged.click('#join');
    await forged.locator('#errors .error', { hasText: 'refused the token' }).waitFor();
  });

  it('works in open mode without a token (name from the form)', async () => {
    const page = await openPage(open, `room=${roomName('open')}`);
    expect(await page.locator('#user').inputValue()).toMatch(/^guest-/);
    await page.fill('#user', 'zoe');
    await joinRoom(page);
    await say(page, 'open mode works');
    await seeInLog(page, 'danmaku', 'open mode works');
    expect(await page.locator('#token-badge').isVisible()).toBe(false);
  });
});

describe('demo page: screenshot', () => {
  it('saves test/browser/artifacts/demo.png', async () => {
    const room = 'lobby';
    const alice = await openPage(open, `room=${room}&user=alice`);
    const bob = await openPage(open, `room=${room}&user=bob`);
    await joinRoom(alice);
    await joinRoom(bob);
    await alice.click('#tone');
    await alice.waitForSelector('#clip[data-sha256]');
    await alice.fill('#stream-id', 'show-42');
    await alice.click('#upload');
    await alice.locator('#streams tr[data-id="show-42"]').waitFor();
    const lines: [Page, string][] = [
      [bob, 'hello from bob!'],
      [alice, 'welcome to the slabcast demo'],
      [bob, 'one frame encoded, written to every member'],
      [alice, '/w bob psst: try the audio panel'],
      [bob, 'danmaku fly right to left'],
      [alice, 'history replays for late joiners'],
    ];
    for (const [page, text] of lines) {
      await say(page, text);
      await page.waitForTimeout(700); // spread the comments across the stage
    }
    await bob.fill('#color', '#ffd166');
    await say(bob, 'colours and top/bottom modes too');
    await bob.selectOption('#mode', 'bottom');
    await bob.fill('#color', '#9dffb0');
    await say(bob, 'this one sits at the bottom');
    await alice.selectOption('#mode', 'top');
    await alice.fill('#color', '#7be0ff');
    await say(alice, 'pinned at the top');
    await alice.click('#streams tr[data-id="show-42"] button.play');
    await alice.waitForSelector('#player[data-state="canplay"]');
    await alice.fill('#text', '');
    await alice.waitForTimeout(600);
    mkdirSync(ARTIFACTS, { recursive: true });
    const file = join(ARTIFACTS, 'demo.png');
    await alice.screenshot({ path: file });
    expect(statSync(file).size).toBeGreaterThan(20_000);
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
  });
});
