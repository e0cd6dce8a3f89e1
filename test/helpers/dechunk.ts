/** Decodes an HTTP/1.1 chunked body as received so far; `complete` says whether the last-chunk arrived. */
export function dechunk(data: Buffer): { body: Buffer; complete: boolean } {
  const parts: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) return { body: Buffer.concat(parts), complete: false };
    const size = parseInt(data.toString('latin1', pos, eol), 16);
    if (size === 0) return { body: Buffer.concat(parts), complete: data.length >= eol + 4 };
    if (data.length < eol + 2 + size + 2) return { body: Buffer.concat(parts), complete: false };
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}
