import type { WebSocket } from '../../protocols/websocket/websocket.js';
import type { RoomSession } from './room-session.js';
import { TOKEN_EXPIRED_CLOSE_CODE } from '../../auth/token-error.js';
import { TokenError, type TokenResult } from './token.js';

/** Close code of a member whose token expired without a refresh (4000–4999: private use, RFC 6455 §7.4.2). */
export const TOKEN_EXPIRED_CODE = TOKEN_EXPIRED_CLOSE_CODE;

/** How long before `exp` the server asks for a new token: this much, or half the time left when that is shorter. */
export const REFRESH_LEAD_MS = 30_000;

/**
 * A token's `exp` holds for the whole connection, not only at the handshake. Ahead of expiry the
 * member gets `{"type":"refresh","exp":…}`; it answers `{"type":"refresh","token":"…"}` with a new
 * token for the same user (verified like at connect), and gets `{"type":"refreshed","exp":…}`. A
 * member whose token expires is closed with {@link TOKEN_EXPIRED_CODE}; nothing it sends after `exp`
 * is delivered. One timer per member with an expiring token; none otherwise.
 */
export class TokenLifetime {
  constructor(
    /** Verifies a token for a room (the server's verifier and the room checks). */
    private readonly verify: (token: string, room: string) => Promise<TokenResult>,
    private readonly leadMs = REFRESH_LEAD_MS,
  ) {}

  /** Starts `ws`'s clock (its session's `expSec`; 0 = a token without expiry, nothing to do). */
  arm(ws: WebSocket<RoomSession>): void {
    const s = ws.data;
    this.clear(s);
    if (s.expSec === 0) return;
    const left = s.expSec * 1000 - Date.now();
    if (left <= 0) return this.expire(ws);
    const lead = Math.min(this.leadMs, Math.floor(left / 2));
    s.tokenTimer = setTimeout(askRefresh, left - lead, this, ws);
    s.tokenTimer.unref();
  }

  /** True (and `ws` is closed) when its token expired: the caller drops what it was about to act on. */
  expired(ws: WebSocket<RoomSession>, now: number): boolean {
    const exp = ws.data.expSec;
    if (exp === 0 || now < exp * 1000) return false;
    this.expire(ws);
    return true;
  }

  /**
   * A `refresh` answer: the new token's `exp`, or why it was refused (the old deadline stands).
   * Verification is asynchronous (jose, maybe a JWKS fetch): the caller pauses the member meanwhile.
   */
  async refresh(ws: WebSocket<RoomSession>, token: string): Promise<{ ok: true; exp: number } | { ok: false; code: TokenError; message: string }> {
    const s = ws.data;
    const result = await this.verify(token, s.room);
    if (!result.ok) return { ok: false, code: result.error, message: 'the new token is not valid for this room' };
    if (result.claims.sub !== s.user) return { ok: false, code: TokenError.WrongUser, message: `the new token is for another user than ${s.user}` };
    s.expSec = result.claims.exp ?? 0;
    this.arm(ws);
    return { ok: true, exp: s.expSec };
  }

  /** Stops `s`'s clock (the member left). */
  clear(s: RoomSession): void {
    if (s.tokenTimer !== null) clearTimeout(s.tokenTimer);
    s.tokenTimer = null;
  }

  /** @internal the refresh request is due: ask, then close at `exp` unless a refresh re-armed the clock. */
  askRefresh(ws: WebSocket<RoomSession>): void {
    const s = ws.data;
    s.tokenTimer = null;
    if (!ws.isOpen) return;
    ws.send(JSON.stringify({ type: 'refresh', exp: s.expSec }));
    s.tokenTimer = setTimeout(expireTimer, Math.max(0, s.expSec * 1000 - Date.now()), this, ws);
    s.tokenTimer.unref();
  }

  /** @internal */
  expire(ws: WebSocket<RoomSession>): void {
    this.clear(ws.data);
    if (ws.isOpen) ws.close(TOKEN_EXPIRED_CODE, 'token expired');
  }
}

function askRefresh(lifetime: TokenLifetime, ws: WebSocket<RoomSession>): void {
  lifetime.askRefresh(ws);
}

function expireTimer(lifetime: TokenLifetime, ws: WebSocket<RoomSession>): void {
  lifetime.expire(ws);
}
