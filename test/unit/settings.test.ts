import { describe, expect, it } from 'vitest';
import { DEFAULTS, validateConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { settingsFrom } from '../../src/settings.js';

describe('settingsFrom: the services\' slices, parsed once', () => {
  it('the defaults parse to numbers, booleans and a rate limit', () => {
    const s = settingsFrom(validateConfig({}));
    expect(s.rooms.rateLimit).toEqual({ ratePerSec: 10, burst: 20 });
    expect(s.rooms.historyTtlMs).toBe(DEFAULTS.historyTtlSeconds * 1000);
    expect(s.rooms.slowCloseMs).toBe(DEFAULTS.slowCloseSeconds * 1000);
    expect(s.audio.evict).toBe(true);
    expect(s.audio.memoryThreshold).toBe(0.8);
    expect(s.audio.sharedDir).toBe(false);
    expect(s.audio.path).toBe(DEFAULTS.audioPath);
  });

  it('--evict off, --memory-threshold 1, --workers 2, --rate-limit 5/7', () => {
    const s = settingsFrom(validateConfig({ evict: 'off', memoryThreshold: '1', workers: 2, rateLimit: '5/7' }));
    expect(s.audio.evict).toBe(false);
    expect(s.audio.memoryThreshold).toBe(1);
    expect(s.audio.sharedDir).toBe(true);
    expect(s.rooms.workers).toBe(2);
    expect(s.rooms.rateLimit).toEqual({ ratePerSec: 5, burst: 7 });
  });

  it('a bad --rate-limit is a ConfigError naming the flag', () => {
    expect(() => settingsFrom(validateConfig({ rateLimit: '10 per second' }))).toThrow(ConfigError);
    expect(() => settingsFrom(validateConfig({ rateLimit: '0/5' }))).toThrow(/--rate-limit/);
  });
});
