/** Called once a write has left (or with an error); writes complete in the order they were made. */
export type WriteCallback = (err?: Error | null) => void;

/**
 * What the processor, reader and writer need from a connected socket: the subset of `net.Socket`
 * they use, so a `net.Socket` is one (the `node` transport) and so is a {@link NativeSocket} (the
 * `native` transport: a libuv handle owned by the addon).
 */
export interface ChannelSocket {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  pause(): unknown;
  resume(): unknown;
  cork(): void;
  uncork(): void;
  write(data: Uint8Array, cb: WriteCallback): unknown;
  end(): unknown;
  destroy(): unknown;
}
