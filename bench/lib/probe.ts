import { connect } from 'node:net';

/** One raw HTTP/1.1 response as seen on the wire. */
export interface ProbeResponse {
  readonly status: number;
  /** Header names lowercased; the last value wins. */
  readonly headers: ReadonlyMap<string, string>;
  readonly body: Buffer;
  /** Bytes of status line + headers + body of a keep-alive response: what each load-test response costs. */
  readonly wireBytes: number;
}

const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Sends one hand-written keep-alive `GET <path>` over a fresh TCP connection and parses the
 * answer, so the headers are the ones the load generators will see (`Connection: close`
 * would change them). Rejects on connect errors (ECONNREFUSED while the server boots), on a
 * malformed response, and after `timeoutMs`. Content-Length ends the read, else EOF does.
 */
export function probeGet(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResponse> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const finish = (error: Error | null, response?: ProbeResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (error !== null) reject(error);
      else resolve(response as ProbeResponse);
    };
    const timer = setTimeout(() => finish(new Error(`probe timed out after ${timeoutMs} ms`)), timeoutMs);
    const tryParse = (atEof: boolean): void => {
      const all = Buffer.concat(chunks, received); // probe path, not a hot path
      const end = all.indexOf(HEADER_END);
      if (end < 0) {
        if (atEof) finish(new Error('connection closed before the response headers ended'));
        return;
      }
      const lines = all.subarray(0, end).toString('latin1').split('\r\n');
      const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (statusMatch === null) {
        finish(new Error(`bad status line: ${JSON.stringify(lines[0])}`));
        return;
      }
      const headers = new Map<string, string>();
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const bodyStart = end + HEADER_END.length;
      const lengthHeader = headers.get('content-length');
      const length = lengthHeader === undefined ? -1 : Number.parseInt(lengthHeader, 10);
      if (length >= 0 && all.length >= bodyStart + length) {
        const wireBytes = bodyStart + length;
        finish(null, { status: Number(statusMatch[1]), headers, body: all.subarray(bodyStart, wireBytes), wireBytes });
      } else if (atEof) {
        finish(null, { status: Number(statusMatch[1]), headers, body: all.subarray(bodyStart), wireBytes: all.length });
      }
    };
    socket.on('connect', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('close', () => finish(new Error('connection closed before a complete response')));
    socket.on('error', (error) => finish(error));
  });
}
