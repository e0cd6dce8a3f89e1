import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseCli } from '../../src/cli/args.js';
import { tokenCommand } from '../../src/cli/token-command.js';
import { DEFAULTS, validateConfig } from '../../src/config.js';
import { TokenVerifier } from '../../src/auth/token-verifier.js';

describe('access knobs', () => {
  it('defaults: no token key, no admin key, not insecure; the JWKS cache 10 min, cooldown 30 s, timeout 5 s', () => {
    expect(DEFAULTS).toMatchObject({ tokenSecret: '', tokenPublicKey: '', tokenJwksUrl: '', adminKey: '', insecure: false, tokenJwksCacheMs: 600_000, tokenJwksCooldownMs: 30_000, tokenJwksTimeoutMs: 5_000 });
  });

  it('--insecure is a switch: alone on the command line, 1/true/0/false in SLABCAST_INSECURE, a boolean in a config file', () => {
    expect(parseCli(['--insecure'], {}).config.insecure).toBe(true);
    expect(parseCli([], {}).config.insecure).toBeUndefined();
    expect(parseCli([], { SLABCAST_INSECURE: '1' }).config.insecure).toBe(true);
    expect(parseCli([], { SLABCAST_INSECURE: 'TRUE' }).config.insecure).toBe(true);
    expect(parseCli([], { SLABCAST_INSECURE: '0' }).config.insecure).toBe(false);
    expect(parseCli([], { SLABCAST_INSECURE: 'false' }).config.insecure).toBe(false);
    expect(() => parseCli([], { SLABCAST_INSECURE: 'yes' })).toThrow(/SLABCAST_INSECURE: must be 1, true, 0 or false/);
    expect(() => parseCli(['--insecure=yes'], {})).toThrow(/--insecure/);
    const dir = mkdtempSync(join(tmpdir(), 'slabcast-cfg-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, JSON.stringify({ insecure: true }));
      expect(parseCli(['--config', file], {}).config.insecure).toBe(true);
      writeFileSync(file, JSON.stringify({ insecure: 'true' }));
      expect(() => parseCli(['--config', file], {})).toThrow(/insecure: must be true or false/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => validateConfig({ insecure: 1 as unknown as boolean })).toThrow(/--insecure: must be true or false/);
  });

  it('--token-jwks-url must be http(s); the JWKS durations are checked at their edges', () => {
    expect(validateConfig({ tokenJwksUrl: 'https://keys.example/.well-known/jwks.json' }).tokenJwksUrl).toMatch(/^https:/);
    expect(validateConfig({ tokenJwksUrl: 'http://127.0.0.1:9/jwks' }).tokenJwksUrl).toMatch(/^http:/);
    for (const bad of ['ftp://x/jwks', 'keys.example/jwks', 'http://']) expect(() => validateConfig({ tokenJwksUrl: bad }), bad).toThrow(/--token-jwks-url/);
    expect(validateConfig({ tokenJwksCacheMs: 1000, tokenJwksCooldownMs: 0, tokenJwksTimeoutMs: 100 })).toMatchObject({ tokenJwksCacheMs: 1000, tokenJwksCooldownMs: 0, tokenJwksTimeoutMs: 100 });
    expect(validateConfig({ tokenJwksCacheMs: 86_400_000, tokenJwksCooldownMs: 3_600_000, tokenJwksTimeoutMs: 60_000 }).tokenJwksCacheMs).toBe(86_400_000);
    expect(() => validateConfig({ tokenJwksCacheMs: 999 })).toThrow(/--token-jwks-cache-ms/);
    expect(() => validateConfig({ tokenJwksCooldownMs: -1 })).toThrow(/--token-jwks-cooldown-ms/);
    expect(() => validateConfig({ tokenJwksTimeoutMs: 99 })).toThrow(/--token-jwks-timeout-ms/);
    expect(() => validateConfig({ tokenJwksTimeoutMs: 60_001 })).toThrow(/--token-jwks-timeout-ms/);
  });
});

describe('slabcast token --audio', () => {
  it('mints audio rights and a prefix the verifier reads back; bad rights are a usage error', async () => {
    const r = await tokenCommand(['--secret', 's', '--sub', 'studio', '--audio', 'read,write', '--audio-prefix', 'show-', '--ttl', '0'], {});
    expect(r.code).toBe(0);
    const v = await new TokenVerifier({ secret: 's' }).verify(r.stdout.trim());
    expect(v).toEqual({ ok: true, claims: { sub: 'studio', iat: expect.any(Number) as number, audio: ['read', 'write'], audio_prefix: 'show-' } });
    expect((await tokenCommand(['--secret', 's', '--sub', 'a', '--audio', 'delete'], {})).stderr).toMatch(/--audio must be read, write or read,write/);
    expect((await tokenCommand(['--secret', 's', '--sub', 'a', '--audio-prefix', 'x'], {})).stderr).toMatch(/--audio-prefix needs --audio/);
  });
});
