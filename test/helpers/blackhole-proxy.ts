import { once } from 'node:events';
import * as net from 'node:net';

/** One proxied connection: what the client sent so far, and whether it is black-holed. */
export interface ProxiedConnection {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Everything the client sent (latin1), to tell connections apart (e.g. the one that SUBSCRIBEd). */
  sent: string;
  frozen: boolean;
}

/**
 * A real TCP proxy on 127.0.0.1 (port 0) in front of a real server, for a black-holed network:
 * {@link freeze} keeps a connection's sockets open but stops forwarding bytes either way, as a
 * network that drops packets without resetting anything. New connections pass normally.
 */
export class BlackholeProxy {
  readonly connections: ProxiedConnection[] = [];
  private readonly server: net.Server;

  private constructor(private readonly targetPort: number) {
    this.server = net.createServer((client) => this.accept(client));
  }

  static async start(targetPort: number): Promise<BlackholeProxy> {
    const p = new BlackholeProxy(targetPort);
    p.server.listen(0, '127.0.0.1');
    await once(p.server, 'listening');
    return p;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Black-holes every open connection matching `pred`; returns how many. */
  freeze(pred: (c: ProxiedConnection) => boolean): number {
    let n = 0;
    for (const c of this.connections) {
      if (!c.client.destroyed && pred(c)) {
        c.frozen = true;
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    for (const c of this.connections) {
      c.client.destroy();
      c.upstream.destroy();
    }
    this.server.close();
    await once(this.server, 'close');
  }

  private accept(client: net.Socket): void {
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    const c: ProxiedConnection = { client, upstream, sent: '', frozen: false };
    this.connections.push(c);
    client.on('data', (d: Buffer) => {
      if (c.frozen) return;
      c.sent += d.toString('latin1');
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (!c.frozen) client.write(d);
    });
    // Either side closing ends the pair; errors end it too (the tests look at the client side).
    const end = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  }
}
