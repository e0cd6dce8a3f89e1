import { describe, expect, it } from 'vitest';
import { CachePolicy, cachePolicyOf, contentTypeOf, DEFAULT_CONTENT_TYPE, extensionOf } from '../../../../src/services/static/content-types.js';
import { etagMatches, etagOf, resolveRequestPath, STATIC_ERROR_STATUS, StaticErrorCode, StaticFiles } from '../../../../src/services/static/static-files.js';

describe('resolveRequestPath', () => {
  it('accepts plain relative paths, the root and directory paths, %-decoding once', () => {
    const ok: [string, string][] = [
      ['', ''],
      ['index.html', 'index.html'],
      ['css/style.css', 'css/style.css'],
      ['sub/', 'sub/'],
      ['a%20b.txt', 'a b.txt'],
      ['x.y.z', 'x.y.z'],
      ['a..b', 'a..b'], // dots inside a name are not a dot-segment
      ['%252e%252e', '%2e%2e'], // decoded once: a literal file name, never a parent step
      ['caf%C3%A9.html', 'café.html'],
    ];
    for (const [raw, path] of ok) expect(resolveRequestPath(raw), raw).toEqual({ ok: true, path });
  });

  it('refuses dot-segments in every spelling (400)', () => {
    const bad = ['..', '../etc/passwd', 'a/../../etc/passwd', 'a/..', '.', './a', 'a/./b', '%2e%2e', '%2E%2E/x', '.%2e/x', '..%2fetc%2fpasswd', 'a%2f..%2f..%2fb', '%2e'];
    for (const raw of bad) expect(resolveRequestPath(raw), raw).toEqual({ ok: false, error: StaticErrorCode.BadPath });
  });

  it('refuses backslashes, NUL and control bytes, absolute paths, empty segments and bad escapes (400)', () => {
    const bad = [
      '..\\etc\\passwd',
      'a\\b',
      '%5c..%5cx',
      'a%00.html',
      'a\u0000b',
      'a%0a',
      'a%7f',
      '/etc/passwd',
      '%2fetc%2fpasswd',
      'a//b',
      'C:/Windows/win.ini',
      'c%3a%5cboot.ini',
      '%',
      '%zz',
      '%e0%a4%a',
      '%c0%ae%c0%ae/x', // overlong UTF-8 for '.': not valid UTF-8, so decodeURIComponent refuses it
    ];
    for (const raw of bad) expect(resolveRequestPath(raw), JSON.stringify(raw)).toEqual({ ok: false, error: StaticErrorCode.BadPath });
  });

  it('hides dotfiles (404)', () => {
    for (const raw of ['.git/config', '.env', 'sub/.htpasswd', '%2egit/HEAD']) {
      expect(resolveRequestPath(raw), raw).toEqual({ ok: false, error: StaticErrorCode.NotFound });
    }
  });

  it('maps every code to its status', () => {
    expect(STATIC_ERROR_STATUS).toEqual({ ERR_STATIC_BAD_PATH: 400, ERR_STATIC_NOT_FOUND: 404, ERR_STATIC_TOO_LARGE: 403 });
  });
});

describe('etags', () => {
  it('are strong, quoted and follow the content', () => {
    const a = etagOf(Buffer.from('hello'));
    expect(a).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
    expect(etagOf(Buffer.from('hello'))).toBe(a);
    expect(etagOf(Buffer.from('hellO'))).not.toBe(a);
  });

  it('If-None-Match uses weak comparison over a list, and * (RFC 9110 §13.1.2)', () => {
    const tag = '"abc"';
    expect(etagMatches(undefined, tag)).toBe(false);
    expect(etagMatches('"abc"', tag)).toBe(true);
    expect(etagMatches('W/"abc"', tag)).toBe(true);
    expect(etagMatches('"x", "y" ,W/"abc"', tag)).toBe(true);
    expect(etagMatches('*', tag)).toBe(true);
    expect(etagMatches('"abcd"', tag)).toBe(false);
    expect(etagMatches('abc', tag)).toBe(false); // unquoted is not the same tag
    expect(etagMatches('', tag)).toBe(false);
  });
});

describe('content types and cache policy', () => {
  it('by extension, case-insensitive, with charset for text', () => {
    expect(contentTypeOf('index.html')).toBe('text/html; charset=utf-8');
    expect(contentTypeOf('a/b/APP.JS')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeOf('style.css')).toBe('text/css; charset=utf-8');
    expect(contentTypeOf('tone.wav')).toBe('audio/wav');
    expect(contentTypeOf('logo.svg')).toBe('image/svg+xml');
  });

  it('unknown, missing or inherited-property extensions are octet-stream', () => {
    for (const p of ['LICENSE', 'a.exe', 'dir.d/file', 'x.constructor', 'x.__proto__', 'x.toString', '.html']) {
      expect(contentTypeOf(p), p).toBe(DEFAULT_CONTENT_TYPE);
    }
    expect(extensionOf('dir.d/file')).toBe('');
  });

  it('HTML revalidates, assets are cached for an hour', () => {
    expect(cachePolicyOf('index.html')).toBe(CachePolicy.Page);
    expect(CachePolicy.Page).toBe('no-cache');
    expect(cachePolicyOf('app.js')).toBe(CachePolicy.Asset);
    expect(CachePolicy.Asset).toBe('public, max-age=3600');
  });
});

describe('StaticFiles options', () => {
  it('refuses a bad index name and negative limits at construction', () => {
    expect(() => new StaticFiles({ root: '/tmp', index: '../x.html' })).toThrow(TypeError);
    expect(() => new StaticFiles({ root: '/tmp', index: 'a/' })).toThrow(TypeError);
    expect(() => new StaticFiles({ root: '/tmp', maxFileBytes: -1 })).toThrow(RangeError);
    expect(() => new StaticFiles({ root: '/tmp', maxCacheBytes: 1.5 })).toThrow(RangeError);
  });

  it('accepts a file: URL as the root', () => {
    expect(new StaticFiles({ root: new URL('file:///srv/demo/') }).root).toBe('/srv/demo');
  });
});
