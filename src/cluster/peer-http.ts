/**
 * HTTP between instances (stream copies): small JSON requests and streamed GETs to another
 * instance's `/internal/streams/…`, each carrying the cluster secret as a Bearer token, each with a
 * deadline. node:http is the client: this is control traffic, not the serving path.
 */
import { type IncomingMessage, request } from 'node:http';

/** A JSON answer from another instance. */
export interface PeerAnswer {
  status: number;
  body: Record<string, unknown>;
}

/** Longest JSON answer read from a peer. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** Sends `method url` with `body` as JSON (or none); resolves with the status and the JSON answer ({} when there is none). */
export function peerJson(method: string, url: string, secret: string, body: unknown, timeoutMs: number): Promise<PeerAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? null : Buffer.from(JSON.stringify(body));
    const headers: Record<string, string | number> = { Authorization: `Bearer ${secret}` };
    if (payload !== null) {
      headers['Content-Type'] = 'application/json';
      headers['Content-Length'] = payload.length;
    }
    const req = request(url, { method, headers, timeout: timeoutMs, agent: false }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_ANSWER_BYTES) res.destroy(new Error(`${method} ${url}: answer longer than ${MAX_ANSWER_BYTES} bytes`));
        else parts.push(d);
      });
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let parsed: Record<string, unknown> = {};
        try {
          if (text !== '') parsed = JSON.parse(text) as Record<string, unknown>;
        } catch {
          parsed = { error: 'BAD_ANSWER', message: text.slice(0, 200) }; // kept in the answer the caller reports
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(payload ?? undefined);
  });
}

/**
 * `GET url` with the secret and `Range: bytes={from}-{last}`; resolves with the response
 * once its head is in (the caller reads the body, pausing it to pace the transfer), rejects on a
 * connection failure or when no head arrives within `timeoutMs`. `abort()` ends it at any time.
 */
export function peerGet(url: string, secret: string, from: number, last: number, timeoutMs: number): { response: Promise<IncomingMessage>; abort(reason: Error): void } {
  const headers: Record<string, string> = { Authorization: `Bearer ${secret}`, Range: `bytes=${from}-${last}` };
  const req = request(url, { method: 'GET', headers, timeout: timeoutMs, agent: false });
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', resolve);
    req.on('error', reject);
  });
  req.on('timeout', () => req.destroy(new Error(`GET ${url}: stalled for ${timeoutMs} ms`)));
  req.end();
  return { response, abort: (reason) => req.destroy(reason) };
}
