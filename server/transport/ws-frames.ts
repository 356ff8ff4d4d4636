/**
 * WebSocket frames the relay builds itself, so that a fan-out frames each MESSAGE once rather than
 * once per receiver: the session layer already hands the same rendered buffer to every receiver
 * whose own headers match (session/message-encoder.ts), and a server frame of a given payload is
 * the same bytes on every connection (RFC 6455 §5.1: server frames are not masked; the relay turns
 * permessage-deflate off, so nothing else changes them). ws's own path frames per send: a header
 * buffer, two option objects and two stream writes per receiver.
 *
 * Only for {@link WsTransport.send} and SockJS's WebSocket transports (sockjs-websocket.ts); whether a
 * frame may bypass ws on a socket is theirs to decide.
 */

/** Payloads up to this size are copied behind their header into one buffer; above it, header and payload go as two writes (no copy). */
export const MAX_COPIED_PAYLOAD_BYTES = 16 * 1024;

/** Bytes of the header of a server frame of `payloadBytes` (unmasked: RFC 6455 §5.2). */
export function frameHeaderBytes(payloadBytes: number): number {
  return payloadBytes < 126 ? 2 : payloadBytes < 65536 ? 4 : 10;
}

/**
 * Writes the header of one final, unmasked, uncompressed frame (opcode 2 binary, 1 text) for a
 * payload of `payloadBytes` into `target` at 0; returns its length.
 */
export function writeFrameHeader(target: Buffer, payloadBytes: number, binary: boolean): number {
  target[0] = 0x80 | (binary ? 0x02 : 0x01);
  if (payloadBytes < 126) {
    target[1] = payloadBytes;
    return 2;
  }
  if (payloadBytes < 65536) {
    target[1] = 126;
    target.writeUInt16BE(payloadBytes, 2);
    return 4;
  }
  target[1] = 127;
  // 64-bit length, most significant bit 0: the upper 16 bits stay 0 below 2^48 bytes.
  target[2] = target[3] = 0;
  target.writeUIntBE(payloadBytes, 4, 6);
  return 10;
}

/** The header of a frame for `payload`, in a buffer of its own. */
export function frameHeader(payloadBytes: number, binary: boolean): Buffer {
  const header = Buffer.allocUnsafe(frameHeaderBytes(payloadBytes));
  writeFrameHeader(header, payloadBytes, binary);
  return header;
}

/** Header and payload in one buffer. */
export function framed(payload: Buffer, binary: boolean): Buffer {
  const headerBytes = frameHeaderBytes(payload.length);
  const frame = Buffer.allocUnsafe(headerBytes + payload.length);
  writeFrameHeader(frame, payload.length, binary);
  payload.copy(frame, headerBytes);
  return frame;
}

/**
 * The frame of the payload sent last, for the next connection that sends the same buffer: one per
 * ws endpoint (not module-global), shared by its transports. A fan-out sends one buffer to many
 * sockets in a row, so one entry is what it needs. Payloads are never written after rendering
 * (message-encoder.ts), so the buffer's identity says its bytes are the same.
 */
export class FrameCache {
  private payload: Buffer | undefined;
  private binary = false;
  private frame: Buffer | undefined;

  /**
   * @param encode what a frame carries for a payload, when that is not the payload itself: SockJS's
   *   WebSocket transport sends a STOMP frame as `a["<JSON-quoted frame>"]` (sockjs-framing.ts), so
   *   a fan-out quotes it once too. Called once per buffer in a row, like the framing.
   */
  constructor(private readonly encode?: (payload: Buffer) => Buffer) {}

  /**
   * The frame of `payload` (at most {@link MAX_COPIED_PAYLOAD_BYTES}, or any size with `encode`),
   * built once per buffer in a row.
   */
  frameOf(payload: Buffer, binary: boolean): Buffer {
    if (payload === this.payload && binary === this.binary) return this.frame!;
    const frame = framed(this.encode === undefined ? payload : this.encode(payload), binary);
    this.payload = payload;
    this.binary = binary;
    this.frame = frame;
    return frame;
  }
}
