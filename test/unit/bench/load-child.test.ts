// The harness side of the bench's forked load children (bench/lib/load-child.ts), over a real
// forked process: replies, progress lines, the child's own errors, a hung child, a dead one.
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadChild } from '../../../bench/lib/load-child.js';

type Request = { type: 'work' } | { type: 'fail' } | { type: 'hang' } | { type: 'exit' };
type Reply = { type: 'ready' } | { type: 'result'; value: number } | { type: 'error'; message: string } | { type: 'progress'; line: string };

const FIXTURE = fileURLToPath(new URL('./load-child-fixture.ts', import.meta.url));

describe('LoadChild', () => {
  let child: LoadChild<Request, Reply> | null = null;
  afterEach(async () => {
    await child?.close();
    child = null;
  });

  it('answers a request with its reply and passes progress lines to the log', async () => {
    const lines: string[] = [];
    child = await LoadChild.start<Request, Reply>(FIXTURE, 'fixture child', (line) => lines.push(line));
    const reply = await child.request({ type: 'work' }, 'result', 10_000);
    expect(reply).toEqual({ type: 'result', value: 42 });
    expect(lines).toEqual(['  working']);
  });

  it("rejects with the child's own error, named", async () => {
    child = await LoadChild.start<Request, Reply>(FIXTURE, 'fixture child', () => {});
    await expect(child.request({ type: 'fail' }, 'result', 10_000)).rejects.toThrow('fixture child: asked to fail');
    // The child is still there for the next request.
    await expect(child.request({ type: 'work' }, 'result', 10_000)).resolves.toMatchObject({ value: 42 });
  });

  it('kills a child that does not answer in time, and refuses requests after', async () => {
    child = await LoadChild.start<Request, Reply>(FIXTURE, 'fixture child', () => {});
    await expect(child.request({ type: 'hang' }, 'result', 300)).rejects.toThrow('fixture child: no result after 300 ms; killed');
    await expect.poll(() => child!.request({ type: 'work' }, 'result', 1_000).then(() => 'answered', (error: Error) => error.message)).toMatch(/fixture child is gone|exited/);
  });

  it('rejects when the child exits during a request', async () => {
    child = await LoadChild.start<Request, Reply>(FIXTURE, 'fixture child', () => {});
    await expect(child.request({ type: 'exit' }, 'result', 10_000)).rejects.toThrow('fixture child exited (7) while waiting for result');
  });
});
