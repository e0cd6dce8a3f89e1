/**
 * What the processor and connection need from a connected socket: the subset of `net.Socket` they
 * use, so a `net.Socket` is one (the `node` transport) and so is a {@link NativeSocket} (the `native`
 * transport: a descriptor in the addon's epoll set). Writing differs between the two and lives in
 * {@link MessageWriter}.
 */
export interface ChannelSocket {
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  /**
   * The peer's IP address as text (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`), or undefined once the
   * socket is closed or when the system cannot tell (`net.Socket` has the same property).
   */
  readonly remoteAddress?: string | undefined;
  pause(): unknown;
  resume(): unknown;
  end(): unknown;
  destroy(): unknown;
}
