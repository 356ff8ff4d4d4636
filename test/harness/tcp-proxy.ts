/**
 * A TCP proxy on loopback that a test can pause: while paused no byte moves in either direction,
 * yet every connection stays open, as over a half-dead link (a route that silently drops packets,
 * a frozen peer). Only a heart-beat can tell. It can also hold only what the target sends (its
 * RECEIPTs, MESSAGEs) while what clients send still goes through, so a test can tell an answer
 * given before the target's from one that waited for it. It also keeps what each client sent first
 * (its CONNECT), so a test can read the heart-beat a client asked for. And it can refuse new
 * connections for a while (a door shut in front of a server that keeps its address), e.g. so that
 * nginx picks another upstream.
 */
import * as net from 'node:net';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

export class TcpProxy {
  /** The first bytes each client connection sent, in connection order. */
  readonly firstChunks: Buffer[] = [];
  private readonly pairs = new Set<Pair>();
  private paused = false;
  private refusing = false;
  private repliesHeld = false;

  private constructor(private readonly server: net.Server, private readonly target: { host: string; port: number }) {
    server.on('connection', (client) => this.accept(client));
  }

  /** Listens on an ephemeral loopback port and forwards to `target`. */
  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, target);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Open client connections. */
  get connections(): number {
    return this.pairs.size;
  }

  /** Stops moving bytes, both ways, on every connection (new ones too); nothing is closed. */
  pause(): void {
    this.paused = true;
    for (const { client, upstream } of this.pairs) {
      client.pause();
      upstream.pause();
    }
  }

  /** Moves bytes again; what was held in the sockets' buffers meanwhile goes through now. */
  resume(): void {
    this.paused = false;
    for (const { client, upstream } of this.pairs) {
      client.resume();
      if (!this.repliesHeld) upstream.resume();
    }
  }

  /**
   * While on, every new connection is reset as soon as it arrives (what nginx takes for a failed
   * upstream, moving on to the next one); open connections are left as they are.
   */
  refuse(on: boolean): void {
    this.refusing = on;
  }

  /**
   * Holds every byte the target sends (on every connection, new ones too) while bytes to it still
   * go through: the target takes requests, its answers wait here. Nothing is closed.
   */
  holdReplies(): void {
    this.repliesHeld = true;
    for (const { upstream } of this.pairs) upstream.pause();
  }

  /** Lets the target's bytes through again, those held first. */
  releaseReplies(): void {
    this.repliesHeld = false;
    for (const { upstream } of this.pairs) if (!this.paused) upstream.resume();
  }

  /** Closes every connection and the listener. */
  async close(): Promise<void> {
    for (const { client, upstream } of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private accept(client: net.Socket): void {
    if (this.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.target);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    let first = true;
    // Plain 'data' forwarding, not pipe(): pipe() would resume a socket paused here on 'drain'.
    client.on('data', (chunk) => {
      if (first) {
        this.firstChunks.push(chunk);
        first = false;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
    const end = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    if (this.paused) {
      client.pause();
      upstream.pause();
    }
    if (this.repliesHeld) upstream.pause();
  }
}
