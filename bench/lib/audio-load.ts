/**
 * Harness side of the audio benchmark's child (bench/lib/audio-load-child.ts), a {@link LoadChild}:
 * one request at a time over IPC, each with a time limit.
 */
import { fileURLToPath } from 'node:url';
import type { AudioChildReply, AudioChildRequest } from './audio-load-child.js';
import { LoadChild } from './load-child.js';

const CHILD_ENTRY = fileURLToPath(new URL('./audio-load-child.ts', import.meta.url));

/** Tool name in the tables (the same child drives the slabcast and the fs windows). */
export const AUDIO_TOOL = 'audio-load';

/** One forked audio load child. */
export type AudioLoadChild = LoadChild<AudioChildRequest, AudioChildReply>;

/** Forks the audio load child and waits until it is ready. */
export function startAudioLoadChild(log: (line: string) => void): Promise<AudioLoadChild> {
  return LoadChild.start<AudioChildRequest, AudioChildReply>(CHILD_ENTRY, 'audio load child', log);
}
