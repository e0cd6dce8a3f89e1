import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_ROOT, DEMO_ROOT } from '../../src/services/static/mount-demo.js';
import { StaticErrorCode, StaticFiles } from '../../src/services/static/static-files.js';
import { startServer, type TestServer } from '../helpers/listen.js';
import { exchange, type ParsedResponse, parseResponses, RawClient } from '../helpers/raw-client.js';

const run = promisify(execFile);
const SECRET = 'TOP SECRET: outside the root';
const MAX_FILE = 4096;
const MAX_CACHE = 6000;

let dir = '';
let root = '';
let hasFifo = false;
let server: TestServer | null = null;
let files: StaticFiles;
const clients: RawClient[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'slabcast-static-'));
  root = join(dir, 'www');
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'index.html'), '<!doctype html><title>root</title>');
  writeFileSync(join(root, 'app.js'), 'console.log("app");\n');
  writeFileSync(join(root, 'style.css'), 'body{}\n');
  writeFileSync(join(root, 'tone.wav'), Buffer.from('RIFF\0\0\0\0WAVE'));
  writeFileSync(join(root, 'sub', 'index.html'), '<title>sub</title>');
  writeFileSync(join(root, '.hidden'), 'hidden');
  writeFileSync(join(root, 'big.bin'), Buffer.alloc(MAX_FILE + 1, 0x62));
  writeFileSync(join(root, 'mutable.txt'), 'version 1');
  for (const n of [1, 2, 3]) writeFileSync(join(root, `k${n}.txt`), Buffer.alloc(2000, 0x30 + n));
  symlinkSync(join(dir, 'secret.txt'), join(root, 'link-out')); // a symlink leading outside
  symlinkSync('..', join(root, 'up')); // a directory symlink to the parent
  symlinkSync('app.js', join(root, 'link-in.js')); // a symlink staying inside: served
  try {
    execFileSync('mkfifo', [join(root, 'pipe')]);
    hasFifo = true;
  } catch (err) {
    hasFifo = false; // no mkfifo on this machine: that case is skipped below, the rest still runs
    expect(err).toBeInstanceOf(Error);
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  if (server !== null) await server.close();
  server = null;
});

async function serve(): Promise<number> {
  server = await startServer({}, (app) => {
    files = new StaticFiles({ root, maxFileBytes: MAX_FILE, maxCacheBytes: MAX_CACHE, pageHeaders: { 'X-Page': 'yes' } });
    app.router.add('GET', '/t/*', files.handle);
  });
  return server.port;
}

/** One request on its own connection; `extra` are header lines. */
async function get(port: number, target: string, extra = '', method = 'GET'): Promise<ParsedResponse> {
  const { responses, client } = await exchange(port, `${method} ${target} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
  clients.push(client);
  return responses[0];
}

describe('static files: serving', () => {
  it('serves files with Content-Type, Cache-Control, a strong ETag and nosniff; the index for a directory', async () => {
    const port = await serve();
    const page = await get(port, '/t/');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toBe('<!doctype html><title>root</title>');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers.etag).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['x-page']).toBe('yes');

    const js = await get(port, '/t/app.js?v=2');
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=3600');
    expect(js.headers['x-page']).toBeUndefined(); // page headers are for HTML only
    expect((await get(port, '/t/style.css')).headers['content-type']).toBe('text/css; charset=utf-8');
    expect((await get(port, '/t/tone.wav')).headers['content-type']).toBe('audio/wav');
    expect((await get(port, '/t/sub/')).body.toString()).toBe('<title>sub</title>');
    expect((await get(port, '/t/sub/index.html')).body.toString()).toBe('<title>sub</title>');
    expect((await get(port, '/t/link-in.js')).body.toString()).toBe('console.log("app");\n');
  });

  it('HEAD answers the same headers and no body', async () => {
    const port = await serve();
    const c = await RawClient.connect(port);
    clients.push(c);
    await c.send('HEAD /t/app.js HTTP/1.1\r\nHost: x\r\n\r\nGET /t/app.js HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.until(() => c.received.toString('latin1').includes('console.log("app");\n'));
    const head = parseResponses(c.received, true)[0];
    expect(head.status).toBe(200);
    expect(head.headers['content-length']).toBe('20');
    const text = c.received.toString('latin1');
    // The body appears once: after the GET's head, never after the HEAD's.
    expect(text.split('console.log').length).toBe(2);
    expect(text.indexOf('\r\n\r\nHTTP/1.1 200')).toBeGreaterThan(0);
  });

  it('If-None-Match with the ETag (also weak, in a list, or *) → 304 with ETag and Cache-Control, no body; keep-alive intact', async () => {
    const port = await serve();
    const first = await get(port, '/t/style.css');
    const etag = first.headers.etag;
    const c = await RawClient.connect(port);
    clients.push(c);
    const req = (inm: string): string => `GET /t/style.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${inm}\r\n\r\n`;
    await c.send(req(etag) + req(`W/${etag}`) + req(`"nope", ${etag}`) + req('*') + req('"other"'));
    const rs = await c.responses(5);
    for (const r of rs.slice(0, 4)) {
      expect(r.status).toBe(304);
      expect(r.headers.etag).toBe(etag);
      expect(r.headers['cache-control']).toBe('public, max-age=3600');
      expect(r.headers['content-type']).toBeUndefined();
      expect(r.headers['content-length']).toBeUndefined(); // RFC 9110 §15.4.5
      expect(r.body.length).toBe(0);
    }
    expect(rs[4].status).toBe(200);
    expect(rs[4].body.toString()).toBe('body{}\n');
    expect(files.stats.notModified).toBe(4);
  });

  it('missing → 404, directory without slash → 302 keeping the query, too large → 403, FIFO → 404', async () => {
    const port = await serve();
    const missing = await get(port, '/t/nope.html');
    expect(missing.status).toBe(404);
    expect(JSON.parse(missing.body.toString())).toEqual({ error: StaticErrorCode.NotFound, message: 'not found' });
    const redirect = await get(port, '/t/sub?x=1');
    expect(redirect.status).toBe(302);
    expect(redirect.headers.location).toBe('/t/sub/?x=1');
    expect((await get(port, '/t/empty/')).status).toBe(404); // a directory without an index
    const big = await get(port, '/t/big.bin');
    expect(big.status).toBe(403);
    expect(JSON.parse(big.body.toString()).error).toBe(StaticErrorCode.TooLarge);
    if (hasFifo) expect((await get(port, '/t/pipe')).status).toBe(404);
  });

  it('other methods → 405 with Allow', async () => {
    const port = await serve();
    const r = await get(port, '/t/app.js', 'Content-Length: 0\r\n', 'POST');
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe('GET');
  });

  it('reads a file once and answers from memory up to the cache cap; concurrent first requests share one read', async () => {
    const port = await serve();
    const answers = await Promise.all([1, 2, 3, 4, 5].map(() => get(port, '/t/mutable.txt')));
    for (const a of answers) expect(a.body.toString()).toBe('version 1');
    expect(files.stats.reads).toBe(1); // the first few wait on the one read in flight, later ones hit memory
    const hits = files.stats.hits;
    writeFileSync(join(root, 'mutable.txt'), 'version 2');
    expect((await get(port, '/t/mutable.txt')).body.toString()).toBe('version 1'); // read once, kept
    expect(files.stats.hits).toBe(hits + 1);
    // 9 + 2000 + 2000 bytes fit in 6000; the third 2000-byte file does not and is read per request.
    for (const n of [1, 2, 3, 3]) expect((await get(port, `/t/k${n}.txt`)).body.length).toBe(2000);
    expect(files.stats.cachedFiles).toBe(3);
    expect(files.stats.cachedBytes).toBe(4009);
    expect(files.stats.reads).toBe(5);
    expect(files.stats.cachedBytes).toBeLessThanOrEqual(MAX_CACHE);
  });
});

/** Request targets that try to leave the root, as raw bytes on the wire (no client normalises them). */
const ATTACKS = [
  '/t/../secret.txt',
  '/t/../../../../../../etc/passwd',
  '/t/%2e%2e/secret.txt',
  '/t/%2E%2E/secret.txt',
  '/t/.%2e/secret.txt',
  '/t/..%2fsecret.txt',
  '/t/%2e%2e%2fsecret.txt',
  '/t/sub/../../secret.txt',
  '/t/sub/%2e%2e/%2e%2e/secret.txt',
  '/t/..\\secret.txt',
  '/t/%5c..%5csecret.txt',
  '/t/..%5csecret.txt',
  '/t//etc/passwd',
  '/t/%2fetc%2fpasswd',
  '/t/%2Fetc/passwd',
  '/t/secret.txt%00.html',
  '/t/%00',
  '/t/%252e%252e/secret.txt',
  '/t/%c0%ae%c0%ae/secret.txt',
  '/t/link-out',
  '/t/up/secret.txt',
  '/t/.hidden',
  '/t/./slabcast.js',
  '/t/C:/secret.txt',
  '/t/%',
];

describe('static files: no path traversal', () => {
  it.each(ATTACKS)('%s → 400 or 404, never a byte of a file outside the root', async (target) => {
    const port = await serve();
    const r = await get(port, target);
    expect([400, 404]).toContain(r.status);
    expect(r.body.toString('latin1')).not.toContain('TOP SECRET');
    expect(r.body.toString('latin1')).not.toContain('root:');
    expect(JSON.parse(r.body.toString()).error).toMatch(/^ERR_STATIC_/);
  });

  it('a symlink leading outside the root is counted', async () => {
    const port = await serve();
    expect((await get(port, '/t/link-out')).status).toBe(404);
    expect((await get(port, '/t/up/secret.txt')).status).toBe(404);
    expect(files.stats.outsideRoot).toBe(2);
  });

  it('a raw NUL or absolute-form target never reaches a file', async () => {
    const port = await serve();
    const nul = await get(port, '/t/secret\0.txt');
    expect(nul.status).toBe(400);
    const absolute = await get(port, 'http://x/t/../secret.txt');
    expect(absolute.body.toString('latin1')).not.toContain('TOP SECRET');
  });

  it('curl --path-as-is: traversal refused, a normal fetch and a conditional fetch work', async () => {
    const port = await serve();
    const base = `http://127.0.0.1:${port}`;
    for (const target of ['/t/../secret.txt', '/t/%2e%2e/secret.txt', '/t/..%2f..%2fetc%2fpasswd', '/t/link-out']) {
      const { stdout } = await run('curl', ['-s', '--path-as-is', '-o', '/dev/null', '-w', '%{http_code}', `${base}${target}`]);
      expect(['400', '404'], target).toContain(stdout);
    }
    const { stdout: page } = await run('curl', ['-s', '-i', `${base}/t/app.js`]);
    expect(page).toMatch(/^HTTP\/1\.1 200 OK/);
    const etag = /^ETag: (.+)\r$/m.exec(page)?.[1] ?? '';
    const { stdout: code } = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', `If-None-Match: ${etag}`, `${base}/t/app.js`]);
    expect(code).toBe('304');
  });
});

describe('the demo mount (mountDemo, wired in Slabcast)', () => {
  it('GET /demo → 302 /demo/ keeping the query; /demo/ is index.html with its policy headers; assets have their types', async () => {
    server = await startServer();
    const port = server.port;
    const bare = await get(port, '/demo');
    expect(bare.status).toBe(302);
    expect(bare.headers.location).toBe('/demo/');
    expect((await get(port, '/demo?token=abc.def.ghi&room=r1')).headers.location).toBe('/demo/?token=abc.def.ghi&room=r1');
    const page = await get(port, '/demo/');
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body.equals(readFileSync(new URL('index.html', DEMO_ROOT)))).toBe(true);
    for (const src of page.body.toString().matchAll(/(?:src|href)="([a-z-]+\.(?:js|css))"/g)) {
      const asset = await get(port, `/demo/${src[1]}`);
      expect(asset.status, src[1]).toBe(200);
      expect(asset.headers['cache-control']).toBe('public, max-age=3600');
    }
    expect((await get(port, '/demo/app.js')).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get(port, '/demo/../package.json')).status).toBe(400);
    expect((await get(port, '/demo/%2e%2e/package.json')).status).toBe(400);
    expect((await get(port, '/demox')).status).toBe(404); // not the demo, and not a known path
  });

  it('GET /client/index.js is the compiled slabcast/client, with every module it imports, as browser ES modules', async () => {
    server = await startServer();
    const port = server.port;
    const entry = await get(port, '/client/index.js');
    expect(entry.status).toBe(200);
    expect(entry.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(entry.body.equals(readFileSync(new URL('index.js', CLIENT_ROOT)))).toBe(true);
    const modules = [...entry.body.toString().matchAll(/from '\.\/([a-z-]+\.js)'/g)].map((m) => m[1]);
    expect(modules).toContain('room-client.js');
    for (const m of modules) expect((await get(port, `/client/${m}`)).status, m).toBe(200);
    expect((await get(port, '/client/../server.js')).status).toBe(400);
  });
});
