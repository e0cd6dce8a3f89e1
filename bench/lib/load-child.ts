/**
 * Harness side of a forked load child (the lean WebSocket and rooms clients, the audio load
 * client, autocannon): forks the entry under tsx, sends one request at a time over IPC and waits
 * for its reply, with a time limit after which the child is killed. The child is tracked (processes.ts), so it dies with the
 * harness. `progress` messages are log lines, never replies; `error` rejects the request.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { stopChild, trackChild } from './processes.js';

/** What every child may send: its replies, `error` with a `message`, or `progress` with a `line`. */
type ChildMessage = { type: string; message?: string; line?: string };

/** A reply of one type. */
type ReplyOf<R extends { type: string }, T extends R['type']> = Extract<R, { type: T }>;

/** One forked child; `Req` is what it takes, `Rep` what it answers. */
export class LoadChild<Req extends { type: string }, Rep extends { type: string }> {
  private constructor(
    private readonly child: ChildProcess,
    /** How errors name the child ("ws load client"). */
    private readonly name: string,
  ) {}

  /** Forks `entry` and waits until it sends `ready`; its progress lines go to `log`. */
  static async start<Req extends { type: string }, Rep extends { type: string }>(
    entry: string,
    name: string,
    log: (line: string) => void,
  ): Promise<LoadChild<Req, Rep>> {
    const child = fork(entry, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'progress') log(`  ${message.line}`);
    });
    // 'error' (e.g. a failed kill) must not crash the harness; a pending request still ends on 'exit' or its timeout.
    child.on('error', (error) => log(`  ${name}: ${error.message}`));
    const client = new LoadChild<Req, Rep>(child, name);
    await client.reply('ready', 30_000);
    return client;
  }

  /** Sends `message` and waits for its reply of type `expect`, at most `timeoutMs`. */
  request<T extends Rep['type']>(message: Req, expect: T, timeoutMs: number): Promise<ReplyOf<Rep, T>> {
    if (!this.child.connected) return Promise.reject(new Error(`${this.name} is gone; cannot send ${message.type}`));
    const reply = this.reply(expect, timeoutMs);
    // With a callback, a send on a channel that closed meanwhile (Ctrl-C) is reported here,
    // not as an 'error' event; the child is then killed and `reply` rejects on its exit.
    this.child.send(message, (error) => {
      if (error !== null) this.child.kill('SIGKILL');
    });
    return reply;
  }

  async close(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child);
  }

  /** The next non-progress message, which must be of type `expect`; rejects on error, exit or timeout. */
  private reply<T extends string>(expect: T, timeoutMs: number): Promise<ReplyOf<Rep, T>> {
    const { child, name } = this;
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      const onMessage = (message: ChildMessage): void => {
        if (message.type === 'progress') return;
        cleanup();
        if (message.type === 'error') reject(new Error(`${name}: ${message.message}`));
        else if (message.type !== expect) reject(new Error(`${name} sent ${message.type}, expected ${expect}`));
        else resolve(message as ReplyOf<Rep, T>);
      };
      const onExit = (code: number | null, signal: string | null): void => {
        cleanup();
        reject(new Error(`${name} exited (${code ?? signal}) while waiting for ${expect}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        reject(new Error(`${name}: no ${expect} after ${timeoutMs} ms; killed`));
      }, timeoutMs);
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  }
}
