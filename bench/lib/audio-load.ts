/**
 * Harness side of the audio benchmark's child (bench/lib/audio-load-child.ts): forks it, sends
 * one request at a time over IPC and waits for its reply, with a time limit after which the
 * child is killed. The child is tracked (processes.ts), so it dies with the harness.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { AudioChildReply, AudioChildRequest } from './audio-load-child.js';
import { stopChild, trackChild } from './processes.js';

const CHILD_ENTRY = fileURLToPath(new URL('./audio-load-child.ts', import.meta.url));

/** Tool name in the tables (the same child drives the slabcast and the fs windows). */
export const AUDIO_TOOL = 'audio-load';

/** A reply of one type. */
type Reply<T extends AudioChildReply['type']> = Extract<AudioChildReply, { type: T }>;

/** One forked audio load child. */
export class AudioLoadChild {
  private constructor(private readonly child: ChildProcess) {}

  /** Forks the child and waits until it is ready. */
  static async start(log: (line: string) => void): Promise<AudioLoadChild> {
    const child = fork(CHILD_ENTRY, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    // 'error' (e.g. a failed kill) must not crash the harness; a pending request still ends on 'exit' or its timeout.
    child.on('error', (error) => log(`  audio load child: ${error.message}`));
    const client = new AudioLoadChild(child);
    await client.reply('ready', 30_000);
    return client;
  }

  /** Sends `message` and waits for its reply of type `expect`, at most `timeoutMs`. */
  request<T extends AudioChildReply['type']>(message: AudioChildRequest, expect: T, timeoutMs: number): Promise<Reply<T>> {
    if (!this.child.connected) return Promise.reject(new Error(`audio load child is gone; cannot send ${message.type}`));
    const reply = this.reply(expect, timeoutMs);
    this.child.send(message, (error) => {
      if (error !== null) this.child.kill('SIGKILL'); // the channel closed meanwhile: `reply` rejects on the exit
    });
    return reply;
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child);
  }

  private reply<T extends AudioChildReply['type']>(expect: T, timeoutMs: number): Promise<Reply<T>> {
    const child = this.child;
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (message: AudioChildReply): void => {
        cleanup();
        if (message.type === 'error') reject(new Error(`audio load child: ${message.message}`));
        else if (message.type !== expect) reject(new Error(`audio load child sent ${message.type}, expected ${expect}`));
        else resolve(message as Reply<T>);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        cleanup();
        reject(new Error(`audio load child exited (${code ?? signal}) while waiting for ${expect}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        reject(new Error(`audio load child: no ${expect} after ${timeoutMs} ms; killed`));
      }, timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }
}
