import { describe, expect, it } from 'vitest';
import type { Connection } from '../../../../src/core/connection.js';
import { type Releasable, WriteStatus } from '../../../../src/core/message-writer.js';
import { type BodyStreamSink, HttpBodyStream } from '../../../../src/protocols/http/body-stream.js';
import { coreRig } from '../../../helpers/core-rig.js';

class Owner implements Releasable {
  releases = 0;
  release(): void {
    this.releases++;
  }
}

class Sink implements BodyStreamSink {
  ended: boolean[] = [];
  streamEnded(_stream: HttpBodyStream, _conn: Connection, complete: boolean): void {
    this.ended.push(complete);
  }
}

const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');

describe('HttpBodyStream (RFC 9112 §7.1 chunked coding)', () => {
  it('frames each piece as one chunk (hex size, data by reference, CRLF) and ends with the last chunk', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const sink = new Sink();
    const body = new HttpBodyStream(conn, sink, true);
    const a = new Owner();
    const b = new Owner();
    expect(body.write(bytes('hello'), a)).toBe(WriteStatus.Ok);
    expect(body.write(Buffer.alloc(4096, 0x78), b)).toBe(WriteStatus.Ok);
    rig.turn();
    expect(socket.output).toBe(`5\r\nhello\r\n1000\r\n${'x'.repeat(4096)}\r\n`);
    expect([a.releases, b.releases]).toEqual([1, 1]);
    body.end();
    rig.turn();
    expect(socket.output.endsWith('\r\n0\r\n\r\n')).toBe(true);
    expect(sink.ended).toEqual([true]);
    expect(rig.write.inUse).toBe(0);
  });

  it('an empty piece is skipped (a zero-size chunk would end the body); after end nothing is sent and owners are released', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const body = new HttpBodyStream(conn, new Sink(), true);
    const empty = new Owner();
    expect(body.write(Buffer.alloc(0), empty)).toBe(WriteStatus.Ok);
    body.end();
    const late = new Owner();
    expect(body.write(bytes('late'), late)).toBe(WriteStatus.Closed);
    rig.turn();
    expect(socket.output).toBe('0\r\n\r\n');
    expect([empty.releases, late.releases]).toEqual([1, 1]);
  });

  it('abort ends without the last chunk and closes the connection; the sink hears complete = false', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const sink = new Sink();
    const body = new HttpBodyStream(conn, sink, true);
    body.write(bytes('abc'), null);
    body.abort();
    rig.turn();
    expect(socket.output).toBe('3\r\nabc\r\n');
    expect(conn.closing || conn.closed).toBe(true);
    expect(sink.ended).toEqual([false]);
    expect(body.isOpen).toBe(false);
  });

  it('without chunked coding (HTTP/1.0) pieces go as they are and end() closes the connection', () => {
    const rig = coreRig();
    const { socket, conn } = rig.connectNative();
    const body = new HttpBodyStream(conn, new Sink(), false);
    body.write(bytes('raw'), null);
    body.end();
    rig.turn();
    expect(socket.output).toBe('raw');
    expect(conn.closing || conn.closed).toBe(true);
  });

  it('shutdown: the owner ends the body (onshutdown); without an owner that does, it is aborted; once ended, nothing', () => {
    const rig = coreRig();
    const owned = rig.connectNative();
    const sink = new Sink();
    const body = new HttpBodyStream(owned.conn, sink, true);
    let asked = 0;
    body.onshutdown = () => {
      asked++;
      body.end();
    };
    body.write(bytes('abc'), null);
    body.shutdown();
    body.shutdown();
    rig.turn();
    expect(asked).toBe(1);
    expect(owned.socket.output).toBe('3\r\nabc\r\n0\r\n\r\n');
    expect(sink.ended).toEqual([true]);

    const bare = rig.connectNative();
    const bareSink = new Sink();
    const unowned = new HttpBodyStream(bare.conn, bareSink, true);
    unowned.onshutdown = () => undefined; // asked, but leaves it open: aborted all the same
    unowned.write(bytes('xy'), null);
    unowned.shutdown();
    rig.turn();
    expect(bare.socket.output).toBe('2\r\nxy\r\n');
    expect(bare.conn.closing || bare.conn.closed).toBe(true);
    expect(bareSink.ended).toEqual([false]);
  });
});
