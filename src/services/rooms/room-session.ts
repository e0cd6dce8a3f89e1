/**
 * Per-connection state of a room member (the WebSocket's `data` slot): who it is, where, and the
 * counters of its misbehaviour and slowness. Small on purpose: one per connection.
 */
export class RoomSession {
  /** In the registry (false before onOpen finished and after leave or room close). */
  joined = false;
  /** Errors sent in the current misbehaviour window, and when that window started. */
  errors = 0;
  errorWindowStartMs = 0;
  /** When this member first went past the backpressure bound (0 = not slow). */
  slowSinceMs = 0;
  /** Fires `--slow-close-seconds` after {@link slowSinceMs}: still past the bound → close 1013. */
  slowTimer: NodeJS.Timeout | null = null;
  /** The token's `exp` (seconds since the epoch); 0 = no expiry (open mode, or a token without `exp`). */
  expSec = 0;
  /** The token's refresh request, then its expiry (see token-lifetime.ts). */
  tokenTimer: NodeJS.Timeout | null = null;
  /**
   * Text frames (copies) waiting behind one whose rate decision is on its way (cluster mode: a lease
   * from the user's shared bucket); null when none waits. Bounded: see RoomService.onText.
   */
  rateQueue: Uint8Array[] | null = null;

  constructor(
    readonly room: string,
    readonly user: string,
    /** `?since=` of the handshake: replay only history after this id (null = all kept). */
    readonly since: number | null,
  ) {}
}
