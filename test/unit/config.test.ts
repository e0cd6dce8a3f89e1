import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { helpText, parseCli } from '../../src/cli/args.js';
import { DEFAULTS, KNOB_GROUPS, KNOBS, validateConfig } from '../../src/config.js';

describe('configuration', () => {
  it('defaults: port 8080, host 0.0.0.0, slabs 4 KiB × 1024, 128 KiB × 128, 1 MiB × 16', () => {
    const c = validateConfig();
    expect(c).toMatchObject({ port: 8080, host: '0.0.0.0', slabSmallBytes: 4096, slabSmallCount: 1024, slabMediumBytes: 131072, slabMediumCount: 128, slabLargeBytes: 1048576, slabLargeCount: 16 });
  });

  it('flags win over environment; PORT works', () => {
    expect(parseCli([], { PORT: '9000' }).config.port).toBe(9000);
    expect(parseCli(['--port', '9001'], { PORT: '9000' }).config.port).toBe(9001);
    expect(parseCli(['--host=127.0.0.1'], {}).config.host).toBe('127.0.0.1');
  });

  it('an unknown flag or a bad value names the flag', () => {
    expect(() => parseCli(['--nope'], {})).toThrow(/--nope/);
    expect(() => parseCli(['--port', 'abc'], {})).toThrow(/--port/);
    expect(() => validateConfig({ port: 70000 })).toThrow(/--port: must be between 0 and 65535/);
    expect(() => validateConfig({ maxBodyBytes: 2 * 1024 * 1024 })).toThrow(/--max-body-bytes/);
    expect(() => validateConfig({ slabMediumBytes: 1024 })).toThrow(/small < medium < large/);
  });

  it('--redis: one URL, or comma-separated seed URLs of a Redis Cluster; anything else names the flag', () => {
    expect(validateConfig({ redisUrl: 'redis://h:6379' }).redisUrl).toBe('redis://h:6379');
    expect(validateConfig({ redisUrl: 'redis://h1:7000,redis://h2:7001, rediss://h3:7002' }).redisUrl).toContain('h3');
    expect(() => validateConfig({ redisUrl: 'redis://h1:7000,h2:7001' })).toThrow(/--redis: must be a redis:\/\/ or rediss:\/\/ URL, or comma-separated seed URLs/);
    expect(() => validateConfig({ redisUrl: 'redis://h1:7000,' })).toThrow(/--redis/);
  });

  it('--cluster-secret: 16 characters at least; --stream-replicas 1 to 16', () => {
    expect(validateConfig({ clusterSecret: 'x'.repeat(16) }).clusterSecret).toHaveLength(16);
    expect(() => validateConfig({ clusterSecret: 'x'.repeat(15) })).toThrow(/--cluster-secret: must be at least 16 characters, got 15/);
    expect(validateConfig({ streamReplicas: 16 }).streamReplicas).toBe(16);
    expect(() => validateConfig({ streamReplicas: 17 })).toThrow(/--stream-replicas: must be between 1 and 16/);
    expect(() => validateConfig({ streamReplicas: 0 })).toThrow(/--stream-replicas/);
  });

  it('--help lists every knob with its default', () => {
    const text = helpText();
    for (const k of KNOBS) {
      expect(text).toContain(`--${k.flag}`);
      expect(text).toContain(`Default ${DEFAULTS[k.key]}`);
    }
  });

  it('the configuration table (docs/operations.md) lists every knob with its default', () => {
    const readme = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
    for (const k of KNOBS) expect(readme).toMatch(new RegExp(`\\| \`--${k.flag}\` \\|[^\\n]*\\| ${DEFAULTS[k.key]} \\|`));
  });
});

describe('knob groups (--help and the docs table)', () => {
  it('start at knobs that exist, in table order, the first at the first knob', () => {
    const at = KNOB_GROUPS.map((g) => KNOBS.findIndex((k) => k.key === g.from));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect(at[0]).toBe(0);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });
});
