import { describe, expect, it } from 'vitest';
import { OriginPolicy } from '../../../../src/protocols/websocket/origin-policy.js';

describe('OriginPolicy', () => {
  it('default (same origin): the Origin host:port must be the Host, any scheme, default ports equal, case-insensitive', () => {
    const p = OriginPolicy.parse('');
    expect(p.allows('http://127.0.0.1:8080', '127.0.0.1:8080')).toBe(true);
    expect(p.allows('https://Live.Example.com', 'live.example.com')).toBe(true); // behind a TLS proxy
    expect(p.allows('https://live.example.com:443', 'live.example.com')).toBe(true);
    expect(p.allows('http://live.example.com', 'live.example.com:80')).toBe(true);
    expect(p.allows('http://evil.example', '127.0.0.1:8080')).toBe(false);
    expect(p.allows('http://127.0.0.1:8081', '127.0.0.1:8080')).toBe(false);
    expect(p.allows('http://[::1]:8080', '[::1]:8080')).toBe(true);
  });

  it('no Origin (not a browser page) is allowed; "null", garbage, or two Origin values are not', () => {
    const p = OriginPolicy.parse('');
    expect(p.allows(undefined, 'x')).toBe(true);
    expect(p.allows('null', 'x')).toBe(false);
    expect(p.allows('http://a, http://a', 'a')).toBe(false);
    expect(p.allows('http://x', undefined)).toBe(false);
  });

  it("'*' allows any origin; a list allows exactly its origins (and no longer the same origin)", () => {
    expect(OriginPolicy.parse('*').allows('http://evil.example', 'x')).toBe(true);
    const p = OriginPolicy.parse('https://app.example.com, http://localhost:5173');
    expect(p.allows('https://app.example.com', 'api.example.com')).toBe(true);
    expect(p.allows('https://app.example.com:443', 'api.example.com')).toBe(true);
    expect(p.allows('http://localhost:5173', 'api.example.com')).toBe(true);
    expect(p.allows('http://app.example.com', 'api.example.com')).toBe(false);
    expect(p.allows('http://api.example.com', 'api.example.com')).toBe(false);
  });

  it('a malformed entry is refused by name', () => {
    expect(() => OriginPolicy.parse('app.example.com')).toThrow(/"app.example.com"/);
    expect(() => OriginPolicy.parse('https://a.example/path')).toThrow(RangeError);
  });
});
