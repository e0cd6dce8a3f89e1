/**
 * The server command's V8 young generation (`--young-heap`). Imported first by the command's entry,
 * so it runs before the other modules load: V8 grows the young generation (up to 16 MiB per
 * semi-space) whenever much of it survives a scavenge, which module loading does, the slabs' start-up
 * does (their external memory forces scavenges that find everything alive), and so does a burst of
 * new connections. Once grown, those pages stay in RSS until V8's memory reducer finds the process
 * idle, seconds later. slabcast's hot paths allocate little, so the command keeps the young
 * generation at its initial size (`fixed`) unless the operator asks for V8's default (`grow`).
 *
 * V8 reads the growth factor whenever it would grow the young generation, so it can be set after
 * start-up; its size limits it reads only once, at start (`node --max-semi-space-size` still works).
 */
import { setFlagsFromString } from 'node:v8';

/** V8's own default (`node --v8-options`: --semi-space-growth-factor). */
const V8_DEFAULT_GROWTH = 2;

setYoungHeap('fixed');

/** Applies the `--young-heap` setting; `grow` restores V8's default from here on. */
export function setYoungHeap(mode: 'fixed' | 'grow'): void {
  setFlagsFromString(`--semi-space-growth-factor=${mode === 'fixed' ? 1 : V8_DEFAULT_GROWTH}`);
}
