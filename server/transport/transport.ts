/**
 * What the session layer needs from a connection, whatever carries it (plain WebSocket or SockJS).
 * The session never imports `ws` or `sockjs`; each transport adapter implements this.
 */
import type { IncomingHttpHeaders } from 'node:http';

export type TransportKind = 'ws' | 'sockjs';

/** What the handshake told us, for authentication and logs. */
export interface HandshakeInfo {
  remoteAddress: string;
  /** Request URL path + query, e.g. `/ws?access_token=...`. */
  url: string;
  headers: IncomingHttpHeaders;
  /** WebSocket subprotocol chosen (`v12.stomp`...), if any. */
  protocol?: string;
}

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

export interface Transport {
  readonly kind: TransportKind;
  readonly handshake: HandshakeInfo;
  /** True while the transport can only carry text (SockJS); bodies that are not UTF-8 cannot go out. */
  readonly textOnly: boolean;
  /**
   * Sends one chunk. `binary` asks for a binary WebSocket frame (used when the bytes are not valid
   * UTF-8, which stock stomp.js rejects in text frames). Ignored by text-only transports.
   */
  send(data: Buffer, binary: boolean): void;
  /** Bytes queued in user space and the socket, not yet written to the network. */
  readonly bufferedAmount: number;
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
