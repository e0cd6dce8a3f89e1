/**
 * What the processor and connection need from a connected socket: the subset of `net.Socket` they
 * use, so a `net.Socket` is one (the `node` transport) and so is a {@link NativeSocket} (the `native`
 * transport: a libuv handle owned by the addon). Writing differs between the two and lives in
 * {@link MessageWriter}.
 */
export interface ChannelSocket {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
  destroy(): unknown;
}
