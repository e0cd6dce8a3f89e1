import { describe, expect, it } from 'vitest';
import { Readiness } from '../../../src/ops/readiness.js';

describe('Readiness', () => {
  it('ready with no checks; every detail is in the body under its name', async () => {
    const r = new Readiness();
    r.addDetail('cache', () => ({ mode: 'read-write' }));
    expect(await r.report()).toEqual({ ready: true, body: { status: 'ready', cache: { mode: 'read-write' } } });
  });

  it('not ready when a check answers a reason, throws or rejects: every reason is listed, in order', async () => {
    const r = new Readiness();
    r.addCheck(() => null);
    r.addCheck(() => 'redis unreachable');
    r.addCheck(() => {
      throw new Error('boom');
    });
    r.addCheck(() => Promise.reject(new Error('later')));
    r.addCheck(() => Promise.resolve(null));
    const { ready, body } = await r.report();
    expect(ready).toBe(false);
    expect(body).toEqual({ status: 'not ready', problems: ['redis unreachable', 'boom', 'later'] });
  });

  it('a detail that throws is reported as its error, and does not decide readiness', async () => {
    const r = new Readiness();
    r.addDetail('disk', () => {
      throw new Error('statvfs failed');
    });
    expect(await r.report()).toEqual({ ready: true, body: { status: 'ready', disk: { error: 'statvfs failed' } } });
  });

  it('a detail name is registered once', () => {
    const r = new Readiness();
    r.addDetail('a', () => 1);
    expect(() => r.addDetail('a', () => 2)).toThrow(TypeError);
  });
});
