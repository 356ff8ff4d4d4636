/**
 * Reads of the TCP sockets under an endpoint's WebSockets, into one buffer per endpoint.
 *
 * Why: by default Node reads every socket into a fresh 64 KB allocation that it shrinks to the
 * bytes read, and wraps it in an ArrayBuffer, a Buffer and a stream push. An idle session's only
 * traffic is a heart-beat every few seconds, a 7-byte WebSocket frame, so at 20,000 sessions that is
 * thousands of small native allocations a second that live until the next scavenge. They left
 * glibc's main arena ~60 % free but resident (≈ 1.2 KB per idle session at 19,900: `malloc_trim`
 * gave back 23 of its 41 MB, see docs/benchmarks.md), and ~0.5 KB of garbage per heart-beat.
 *
 * Node has a mode for this, `net.Socket`'s `onread` option (a caller-owned buffer, a callback per
 * read, no allocation), which its server cannot be given for the sockets it accepts; the socket is
 * switched into it here after ws adopted it, through net's own `onread` fields. A read is then:
 * - one whole masked frame carrying only a heart-beat EOL, while ws's receiver is between frames:
 *   handed to the transport as the heart-beat it is, without entering ws (what ws would have
 *   done with it is to emit it as a message: nothing else in its state depends on it);
 * - anything else: copied out of the shared buffer (pooled for small reads) and given to ws as the
 *   socket's 'data', exactly as Node would have.
 * Where any of that is not there (another Node, a TLS socket, data already buffered), the socket
 * is left as it is: the same bytes reach ws either way.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** What the shared buffer holds of one read at most (Node reads 64 KB at a time too). */
const READ_BUFFER_BYTES = 64 * 1024;

/** ws's receiver state between frames (its `GET_INFO`). */
const RECEIVER_BETWEEN_FRAMES = 0;
/** WebSocket close opcode: after it ws ignores what follows. */
const OPCODE_CLOSE = 0x08;

/** The heart-beat EOLs as the transport hands them on: shared, never written to. */
export const HEARTBEAT_LF: Buffer = Buffer.from('\n');
export const HEARTBEAT_CRLF: Buffer = Buffer.from('\r\n');

/** A heart-beat as a WebSocket message carries it (`payload`), and the message the transport is given. */
export interface HeartbeatPayload {
  readonly payload: Buffer;
  readonly message: Buffer;
}

/** STOMP's heart-beats as they travel on `/ws`: an EOL is the whole message. */
export const STOMP_HEARTBEATS: readonly HeartbeatPayload[] = [
  { payload: HEARTBEAT_LF, message: HEARTBEAT_LF },
  { payload: HEARTBEAT_CRLF, message: HEARTBEAT_CRLF },
];

/**
 * Where a heart-beat read outside ws goes: the transport of the socket, given the heart-beat's
 * `message`; false when the socket has none (the read then goes to ws).
 */
export type HeartbeatReceiver = (ws: WebSocket, message: Buffer) => boolean;

/** net's `onread` fields of a socket, found by their names once per endpoint. */
interface OnreadKeys {
  buffer: symbol;
  callback: symbol;
  /** ws's own key for the WebSocket on its TCP socket. */
  webSocket: symbol;
}

/** The native handle of a net socket (`TCP` for a plain one). */
interface NetHandle {
  useUserBuffer?: (buffer: Buffer) => void;
  constructor?: { name?: string };
}

/** The parts of ws's receiver that say whether it is between frames with nothing held. */
interface ReceiverInternals {
  _state?: number;
  _bufferedBytes?: number;
  _fragmented?: number;
  _opcode?: number;
  _errored?: boolean;
  writableLength?: number;
}

/** The shared read buffer of one endpoint and its read callback. */
export class SharedSocketReads {
  private readonly buffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** Found on the first socket (undefined until then); null when this Node has no `onread` fields. */
  private readonly found: { keys?: OnreadKeys | null } = {};
  /** Called by net with the socket as `this`: one function for every socket, not a closure each. */
  private readonly onRead: (this: Socket, bytes: number, buffer: Buffer) => void;

  /**
   * @param heartbeat takes a heart-beat read outside ws.
   * @param heartbeats what a heart-beat message is on this endpoint's sockets (at most 125 bytes).
   */
  constructor(heartbeat: HeartbeatReceiver, heartbeats: readonly HeartbeatPayload[] = STOMP_HEARTBEATS) {
    const found = this.found;
    this.onRead = function (this: Socket, bytes: number, buffer: Buffer): void {
      const ws = (this as unknown as Record<symbol, WebSocket | undefined>)[found.keys!.webSocket];
      const beat = ws === undefined ? undefined : loneHeartbeatFrame(buffer, bytes, heartbeats);
      if (beat !== undefined && receiverIsBetweenFrames(ws!) && heartbeat(ws!, beat.message)) return;
      const chunk = Buffer.allocUnsafe(bytes);
      buffer.copy(chunk, 0, 0, bytes);
      this.emit('data', chunk);
    };
  }

  /**
   * Switches `ws`'s TCP socket to this buffer; false (socket unchanged) where it cannot be done
   * exactly: not a plain TCP socket, bytes already waiting in its stream, or net without the fields.
   */
  adopt(ws: WebSocket): boolean {
    const tcp = (ws as unknown as { _socket?: Socket })._socket;
    const handle = (tcp as unknown as { _handle?: NetHandle } | undefined)?._handle;
    if (tcp === undefined || handle === undefined || typeof handle.useUserBuffer !== 'function') return false;
    // A TLS socket's handle decrypts: its reads are not the socket's bytes.
    if (handle.constructor?.name !== 'TCP' || (tcp as { encrypted?: boolean }).encrypted === true) return false;
    // Bytes ws has not read yet (the upgrade's head, unshifted) would come after later reads.
    if (tcp.readableLength !== 0 || tcp.destroyed) return false;
    const keys = this.keysOf(tcp, ws);
    if (keys === null) return false;
    const fields = tcp as unknown as Record<symbol, unknown>;
    if (fields[keys.buffer] !== null || fields[keys.callback] !== null || fields[keys.webSocket] !== ws) return false;
    fields[keys.buffer] = this.buffer;
    fields[keys.callback] = this.onRead;
    handle.useUserBuffer(this.buffer);
    return true;
  }

  private keysOf(tcp: Socket, ws: WebSocket): OnreadKeys | null {
    if (this.found.keys !== undefined) return this.found.keys;
    const symbols = Object.getOwnPropertySymbols(tcp);
    const named = (name: string) => symbols.find((s) => s.description === name);
    const buffer = named('kBuffer');
    const callback = named('kBufferCb');
    const webSocket = symbols.find((s) => (tcp as unknown as Record<symbol, unknown>)[s] === ws);
    this.found.keys = buffer && callback && webSocket ? { buffer, callback, webSocket } : null;
    return this.found.keys;
  }
}

/**
 * The heart-beat that `bytes` of `buffer` are, when they are exactly one client frame (FIN, no RSV
 * bits, text or binary, masked, 7-bit length) whose payload unmasks to one of `heartbeats`.
 */
export function loneHeartbeatFrame(buffer: Buffer, bytes: number, heartbeats: readonly HeartbeatPayload[]): HeartbeatPayload | undefined {
  const length = bytes - 6;
  if (length < 1 || length > 125 || buffer[1] !== (0x80 | length)) return undefined;
  const first = buffer[0];
  if (first !== 0x81 && first !== 0x82) return undefined;
  for (const beat of heartbeats) {
    if (beat.payload.length === length && unmasksTo(buffer, beat.payload)) return beat;
  }
  return undefined;
}

/** The masked payload of a 7-bit-length client frame in `frame` is `payload`. */
function unmasksTo(frame: Buffer, payload: Buffer): boolean {
  for (let i = 0; i < payload.length; i++) {
    if ((frame[6 + i]! ^ frame[2 + (i & 3)]!) !== payload[i]) return false;
  }
  return true;
}

/**
 * ws's receiver holds no partial frame, no fragmented message and nothing unwritten, and has not
 * seen a close frame or failed: a whole data frame now would be emitted as one message.
 */
function receiverIsBetweenFrames(ws: WebSocket): boolean {
  if (ws.readyState !== ws.OPEN) return false;
  const receiver = (ws as unknown as { _receiver?: ReceiverInternals })._receiver;
  return (
    receiver !== undefined &&
    receiver._state === RECEIVER_BETWEEN_FRAMES &&
    receiver._bufferedBytes === 0 &&
    receiver._fragmented === 0 &&
    receiver._opcode !== OPCODE_CLOSE &&
    receiver._errored === false &&
    receiver.writableLength === 0
  );
}
