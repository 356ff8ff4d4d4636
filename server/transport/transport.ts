/**
 * What the session layer needs from a connection, whatever carries it (plain WebSocket or SockJS).
 * The session never imports `ws` or `sockjs`; each transport adapter implements this.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** What carries a session: a plain WebSocket (`/ws`) or SockJS (`/sockjs`). */
export type TransportKind = 'ws' | 'sockjs';

/** What the handshake told us, for authentication and logs. */
export interface HandshakeInfo {
  /** The peer's IP address (as the socket saw it: a proxy's, behind one). */
  remoteAddress: string;
  /** Request URL path + query, e.g. `/ws?access_token=...`. */
  url: string;
  /**
   * Every header of the request that opened the transport (for SockJS, of the request that opened the session), Cookie and Authorization
   * included.
   */
  headers: IncomingHttpHeaders;
  /** WebSocket subprotocol chosen (`v12.stomp`...), if any. */
  protocol?: string;
}

/** What a {@link Transport} reports to the session bound to it. */
export interface TransportEvents {
  /** A chunk of STOMP bytes; may hold part of a frame, or several frames. */
  data(chunk: Buffer): void;
  /**
   * The peer sent one message above the transport's bound (`limitBytes`). The transport closes
   * (1009) right after this returns; what is sent from inside this call still goes out first.
   */
  messageTooLarge(limitBytes: number): void;
  /** The connection ended, for whatever reason. Called once. */
  close(): void;
}

/** One client connection as the session layer sees it, whatever carries it (the ws and SockJS adapters implement it). */
export interface Transport {
  /** What carries this connection. */
  readonly kind: TransportKind;
  /** The HTTP handshake that opened it. */
  readonly handshake: HandshakeInfo;
  /** True while the transport can only carry text (SockJS); bodies that are not UTF-8 cannot go out. */
  readonly textOnly: boolean;
  /**
   * Sends one chunk. `binary` asks for a binary WebSocket frame (used when the bytes are not valid
   * UTF-8, which stock stomp.js rejects in text frames). Ignored by text-only transports.
   */
  send(data: Buffer, binary: boolean): void;
  /**
   * Sends one heart-beat EOL, as `send(EOL, false)` would. Optional: an adapter that can do it with
   * less work per call (every session sends one per interval: at 20,000 sessions, 2,000 a second at
   * 10 s) implements it; without it the session layer uses {@link send}.
   */
  sendHeartbeat?(): void;
  /** Bytes queued in user space and the socket, not yet written to the network. */
  readonly bufferedAmount: number;
  /**
   * Optional: `bufferedAmount > limitBytes`, answered without asking the socket when the adapter
   * knows an upper bound that is not above the limit (the session asks before every write; the ws
   * adapter's query reads the cold stream state of every receiver of a fan-out). Must give the same
   * answer as the comparison would; without it the session compares {@link bufferedAmount}.
   */
  bufferedAmountAbove?(limitBytes: number): boolean;
  /** Closes after queued data is flushed. Idempotent. */
  close(code?: number, reason?: string): void;
  /**
   * Drops the connection at once, without flushing or a closing handshake: for when {@link close}
   * or {@link send} failed and the connection is beyond use. Idempotent.
   */
  destroy(): void;
  /** Registers the single consumer of this transport's events (the session). */
  bind(events: TransportEvents): void;
}
