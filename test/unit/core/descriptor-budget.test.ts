// DescriptorBudget: the threshold from RLIMIT_NOFILE and --fd-reserve (at and past it), the
// back-off after a refusal, and one report per episode (start and end), never one per connection.
import { expect, it } from 'vitest';
import { DESCRIPTOR_BACKOFF_MS, DescriptorBudget } from '../../../src/core/descriptor-budget.js';

it('admits descriptors below RLIMIT_NOFILE minus the reserve and refuses at it; the reserve takes at most half', () => {
  expect(new DescriptorBudget(64, 1024).threshold).toBe(960);
  expect(new DescriptorBudget(64, 100).threshold).toBe(50);
  expect(new DescriptorBudget(64, -1).threshold).toBe(Infinity);
  const budget = new DescriptorBudget(64, 1024);
  expect(budget.admit(959)).toBe(true);
  expect(budget.admit(960)).toBe(false);
  expect(budget.refused).toBe(1);
});

it('backs off after a refusal, reports the episode once when it starts and once when it ends', async () => {
  const budget = new DescriptorBudget(10, 100);
  const reports: [boolean, Record<string, unknown>][] = [];
  budget.onEpisode = (exhausted, detail) => reports.push([exhausted, { ...detail }]);
  budget.exhausted('EMFILE');
  for (let i = 0; i < 50; i++) expect(budget.admit(3)).toBe(false); // backing off: closed without trying
  expect(budget.refused).toBe(51);
  expect(reports).toEqual([[true, { why: 'EMFILE', limit: 100, threshold: 90 }]]);
  await new Promise((r) => setTimeout(r, DESCRIPTOR_BACKOFF_MS + 50));
  expect(budget.admit(3)).toBe(true);
  expect(reports).toEqual([
    [true, { why: 'EMFILE', limit: 100, threshold: 90 }],
    [false, { refused: 51 }],
  ]);
  expect(budget.admit(4)).toBe(true);
  expect(reports.length).toBe(2);
});
