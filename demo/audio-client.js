// A client of slabcast's audio stream cache (WebSocket /audio; README "Audio stream cache").
// Replies carry no request id: they come in the order of the commands that caused them, and a data
// frame gets a reply only when it is refused. So operations run one at a time, each reading the
// replies it caused; an upload ends with STOP then LIST, a command that always answers, as a barrier
// that collects any refusal of a data frame along with STOP's own reply.

const CHUNK_BYTES = 32 * 1024; // one binary frame per chunk
const RANGE_BYTES = 64 * 1024; // one GET per range (the server's --max-get-bytes is 1 MiB by default)
const GETS_IN_FLIGHT = 4;
const HIGH_WATER_BYTES = 512 * 1024; // pause sending while the socket holds this much
const REPLY_TIMEOUT_MS = 15_000;

/** An `ERROR:` reply (or a broken connection), with the server's text. */
export class AudioError extends Error {}

export class AudioClient {
  /** `url`: ws(s)://host/audio. `onStray(text)`: a reply no operation was waiting for. */
  constructor(url, onStray) {
    this.url = url;
    this.onStray = onStray;
    this.ws = null;
    this.inbox = [];
    this.waiter = null;
    this.queue = Promise.resolve();
  }

  /** Runs `fn` after every operation queued before it (one reply stream, one reader at a time). */
  exclusive(fn) {
    const run = this.queue.then(async () => {
      await this.connect();
      for (const stray of this.inbox.splice(0)) this.onStray(typeof stray === 'string' ? stray : `${stray.byteLength} unexpected bytes`);
      return fn(this.ws);
    });
    this.queue = run.catch(() => undefined); // the next operation runs whatever this one did
    return run;
  }

  connect() {
    if (this.ws !== null && this.ws.readyState === WebSocket.OPEN) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url);
      ws.binaryType = 'arraybuffer';
      ws.addEventListener('open', () => {
        this.ws = ws;
        resolve();
      });
      ws.addEventListener('message', (e) => {
        if (this.waiter !== null) {
          const w = this.waiter;
          this.waiter = null;
          w.resolve(e.data);
        } else this.inbox.push(e.data);
      });
      ws.addEventListener('close', (e) => {
        if (this.ws === ws) this.ws = null;
        reject(new AudioError(`cannot reach the audio cache at ${this.url}`));
        if (this.waiter !== null) this.waiter.reject(new AudioError(`audio connection closed (${e.code}${e.reason ? ` ${e.reason}` : ''})`));
        this.waiter = null;
      });
    });
  }

  /** The next reply: a string (text frame) or an ArrayBuffer (binary frame). */
  next() {
    if (this.inbox.length > 0) return Promise.resolve(this.inbox.shift());
    if (this.ws === null) return Promise.reject(new AudioError('audio connection closed'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        // Out of step with the server now: start over on a new connection.
        this.ws?.close(1000, 'reply timeout');
        reject(new AudioError('the audio cache did not answer in time'));
      }, REPLY_TIMEOUT_MS);
      this.waiter = {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      };
    });
  }

  async nextText() {
    const r = await this.next();
    if (typeof r !== 'string') throw new AudioError(`expected a text reply, got ${r.byteLength} bytes`);
    if (r.startsWith('ERROR:')) throw new AudioError(r.slice(6));
    return r;
  }

  /** LIST → `[{id, size, complete, createdAt, updatedAt}]`, least recently used first. */
  list() {
    return this.exclusive(async (ws) => {
      ws.send('LIST');
      return parseList(await this.nextText());
    });
  }

  /** INFO → `{id, size, complete, …}`. */
  info(id) {
    return this.exclusive(async (ws) => {
      ws.send(`INFO:${id}`);
      const r = await this.nextText();
      return JSON.parse(r.slice(`INFO:${id}:`.length));
    });
  }

  /** DELETE. */
  remove(id) {
    return this.exclusive(async (ws) => {
      ws.send(`DELETE:${id}`);
      await this.nextText();
    });
  }

  /**
   * START, the bytes as binary frames (from where the server says the stream stands), STOP.
   * Resolves with `{ size, chunks, resumedAt, list }` once the server reported the stream durable.
   */
  upload(id, bytes, onProgress = () => {}) {
    return this.exclusive(async (ws) => {
      ws.send(`START:${id}`);
      const started = /^OK:START:.+:(\d+)$/.exec(await this.nextText());
      const resumedAt = started === null ? 0 : Number(started[1]);
      if (resumedAt > bytes.length) throw new AudioError(`stream ${id} already holds ${resumedAt} bytes, more than this clip`);
      let chunks = 0;
      for (let at = resumedAt; at < bytes.length; at += CHUNK_BYTES) {
        while (ws.bufferedAmount > HIGH_WATER_BYTES) await new Promise((r) => setTimeout(r, 10));
        if (ws.readyState !== WebSocket.OPEN) throw new AudioError('audio connection closed during the upload');
        ws.send(bytes.subarray(at, Math.min(bytes.length, at + CHUNK_BYTES)));
        chunks++;
        onProgress(Math.min(bytes.length, at + CHUNK_BYTES) / bytes.length);
      }
      ws.send(`STOP:${id}`);
      ws.send('LIST');
      const errors = [];
      let size = -1;
      for (;;) {
        const r = await this.next();
        if (typeof r !== 'string') continue;
        if (r.startsWith('LIST:')) {
          if (errors.length > 0) throw new AudioError(errors.join('; '));
          if (size < 0) throw new AudioError(`no STOP reply for stream ${id}`);
          return { size, chunks, resumedAt, list: parseList(r) };
        }
        if (r.startsWith('ERROR:')) errors.push(r.slice(6));
        else if (r.startsWith(`OK:STOP:${id}:`)) size = Number(r.slice(r.lastIndexOf(':') + 1));
      }
    });
  }

  /**
   * The whole stream with GET in ranges (a few in flight), assembled in order.
   * Resolves with `{ bytes, ranges, info }`.
   */
  download(id, onProgress = () => {}) {
    return this.exclusive(async (ws) => {
      ws.send(`INFO:${id}`);
      const info = JSON.parse((await this.nextText()).slice(`INFO:${id}:`.length));
      const bytes = new Uint8Array(info.size);
      const inFlight = [];
      let asked = 0;
      let received = 0;
      let ranges = 0;
      while (received < info.size) {
        while (inFlight.length < GETS_IN_FLIGHT && asked < info.size) {
          const length = Math.min(RANGE_BYTES, info.size - asked);
          ws.send(`GET:${id}:${asked}:${length}`);
          inFlight.push({ offset: asked, length });
          asked += length;
          ranges++;
        }
        const r = await this.next();
        const range = inFlight.shift();
        const problem =
          typeof r === 'string'
            ? r.startsWith('ERROR:') ? r.slice(6) : `unexpected reply ${r.slice(0, 80)}`
            : r.byteLength !== range.length ? `GET at ${range.offset}: ${r.byteLength} bytes instead of ${range.length}` : null;
        if (problem !== null) {
          for (let i = 0; i < inFlight.length; i++) await this.next(); // stay in step: read the rest
          throw new AudioError(problem);
        }
        bytes.set(new Uint8Array(r), range.offset);
        received += r.byteLength;
        onProgress(received / info.size);
      }
      return { bytes, ranges, info };
    });
  }
}

function parseList(reply) {
  if (!reply.startsWith('LIST:')) throw new AudioError(`unexpected reply ${reply.slice(0, 80)}`);
  return JSON.parse(reply.slice(5));
}
