/**
 * The acceptor's view of the descriptor table: a connection is refused before the kernel refuses
 * anything (EMFILE/ENFILE), so the descriptors the rest of the server needs — upload files,
 * sidecar writes, static files, libuv's own — stay available under a connection flood.
 *
 * POSIX gives every new descriptor the lowest free number, so an accepted socket whose number is
 * at or past `threshold` means the table below it is (nearly) full. No counting, no syscall: the
 * check is one comparison per accepted connection. An actual EMFILE/ENFILE (from accept or from
 * the native transport's dup) is handled the same way. Each refusal starts or extends a short
 * back-off during which new connections are closed without trying; an episode is reported once
 * when it starts and once when a connection is admitted again.
 */
import { mmap } from '../native.js';

/** After a refusal, new connections are closed without trying for this long. */
export const DESCRIPTOR_BACKOFF_MS = 200;

/** Reports the start (`exhausted` true) and the end of an episode. */
export type DescriptorEpisodeHook = (exhausted: boolean, detail: Readonly<Record<string, string | number>>) => void;

/** See the module comment. */
export class DescriptorBudget {
  /** Descriptor numbers at or past this are refused; Infinity when RLIMIT_NOFILE is unlimited. */
  readonly threshold: number;
  /** The soft RLIMIT_NOFILE at start-up (-1: unlimited). */
  readonly limit: number;
  /** Connections refused (closed at once) for want of descriptors. */
  refused = 0;
  /** Refusals in the current episode. */
  private episodeRefused = 0;
  private backoffUntil = 0;
  onEpisode: DescriptorEpisodeHook | null = null;

  constructor(reserve: number, limit = mmap.descriptorLimit()) {
    this.limit = limit;
    // The reserve takes at most half of a small table, so a low limit still admits connections.
    this.threshold = limit < 0 ? Infinity : Math.max(limit - reserve, Math.floor(limit / 2));
  }

  /** Whether the connection that was given descriptor `fd` (-1 when unknown) may be kept; counts a refusal. */
  admit(fd: number): boolean {
    if (this.episodeRefused > 0) {
      if (Date.now() < this.backoffUntil) {
        // Backing off: closed without trying, and the back-off is not extended by it.
        this.refused++;
        this.episodeRefused++;
        return false;
      }
      if (fd >= this.threshold) return this.refuse('reserve');
      this.onEpisode?.(false, { refused: this.episodeRefused });
      this.episodeRefused = 0;
      return true;
    }
    return fd < this.threshold || this.refuse('reserve');
  }

  /** The kernel said EMFILE/ENFILE (`code`) while taking a connection: count, back off, report once. */
  exhausted(code: string): void {
    this.refuse(code);
  }

  private refuse(why: string): false {
    this.refused++;
    this.backoffUntil = Date.now() + DESCRIPTOR_BACKOFF_MS;
    if (this.episodeRefused++ === 0) this.onEpisode?.(true, { why, limit: this.limit, threshold: this.threshold });
    return false;
  }
}

/** True for the errno codes of a full descriptor table (per process or system-wide). */
export function isDescriptorExhaustion(code: unknown): boolean {
  return code === 'EMFILE' || code === 'ENFILE';
}
