/**
 * Frames to bytes. Two ways:
 *
 * - {@link encodeFrame}: any frame, one call, one buffer.
 * - {@link createMessageTemplate} + {@link renderMessage}: a MESSAGE fanned out to many subscribers.
 *   Everything every receiver gets alike (command, shared headers, body) is encoded once; each receiver
 *   costs one allocation for its own headers (`subscription`, `message-id`, `ack`) — the
 *   socket.io-adapter idea of encoding a broadcast once.
 *
 * Headers are escaped per version (see ./header-escaping.ts). Where a frame cannot escape (1.0, and
 * CONNECT/STOMP/CONNECTED in every version), CR and LF in a name or value become spaces and `:` in a
 * name becomes `_`, so no header can ever inject a line.
 *
 * `content-length` is always computed here, never trusted from the caller: a non-empty body gets a
 * correct one (replacing whatever the frame carried), an empty body gets none.
 */
import { isUtf8 } from 'node:buffer';
import type { StompFrame, StompHeaders, StompVersion } from './frame';
import { escapeHeader, sanitizeRawHeader, usesEscaping } from './header-escaping';

/** A heart-beat: one bare EOL. Shared; never write into it. */
export const HEARTBEAT_EOL: Buffer = Buffer.from('\n');

export interface EncodeOptions {
  /**
   * Leave `:` in header values unescaped (every other escape still applies). For frames sent before
   * CONNECTED: stomp.js, like other clients, unescapes only once CONNECTED fixed the version, and
   * would show `\c` to the user; every parser splits a header line at its first colon, so a colon
   * in a value reads the same either way.
   */
  readableColons?: boolean;
}

/** Encodes one frame for a peer speaking `version`. Ends with NUL. */
export function encodeFrame(frame: StompFrame, version: StompVersion, options?: EncodeOptions): Buffer {
  const escape = usesEscaping(frame.command, version);
  const body = frame.body;
  let head = frame.command + '\n' + encodeHeaderLines(frame.headers, escape, version, options?.readableColons === true);
  if (body.length > 0) head += 'content-length:' + body.length + '\n';
  head += '\n';

  const headBytes = Buffer.byteLength(head);
  const out = Buffer.allocUnsafe(headBytes + body.length + 1);
  out.write(head, 0, headBytes, 'utf8');
  body.copy(out, headBytes);
  out[headBytes + body.length] = 0;
  return out;
}

/**
 * A MESSAGE encoded once for many receivers; see {@link createMessageTemplate}. Treat as opaque
 * except for `body` and `bodyIsUtf8`.
 */
export interface MessageTemplate {
  readonly version: StompVersion;
  /** The message body (not copied). */
  readonly body: Buffer;
  /**
   * Whether the body is valid UTF-8, computed once: a transport that carries only text (SockJS) can
   * check this per message instead of per receiver.
   */
  readonly bodyIsUtf8: boolean;
  /** `MESSAGE\n` and the shared header lines, encoded. */
  readonly head: Buffer;
  /** `content-length` line (for a non-empty body), blank line, body, NUL. */
  readonly tail: Buffer;
  /** The shared headers as given (null prototype), to detect a per-receiver header that replaces one. */
  readonly sharedHeaders: StompHeaders;
}

/**
 * Pre-encodes a MESSAGE frame for fan-out. `sharedHeaders` are the headers every receiver gets
 * (`destination`, `content-type`, user headers...); `content-length` among them is ignored.
 */
export function createMessageTemplate(sharedHeaders: StompHeaders, body: Buffer, version: StompVersion): MessageTemplate {
  const escape = usesEscaping('MESSAGE', version);
  const shared: StompHeaders = Object.create(null);
  for (const name of Object.keys(sharedHeaders)) shared[name] = sharedHeaders[name];

  const head = Buffer.from('MESSAGE\n' + encodeHeaderLines(shared, escape, version), 'utf8');
  const tailHead = body.length > 0 ? 'content-length:' + body.length + '\n\n' : '\n';
  const tailHeadBytes = Buffer.byteLength(tailHead);
  const tail = Buffer.allocUnsafe(tailHeadBytes + body.length + 1);
  tail.write(tailHead, 0, tailHeadBytes, 'latin1');
  body.copy(tail, tailHeadBytes);
  tail[tail.length - 1] = 0;

  return Object.freeze({ version, body, bodyIsUtf8: isUtf8(body), head, tail, sharedHeaders: shared });
}

/**
 * The bytes of the template's MESSAGE for one receiver: the shared headers, then `perReceiver`
 * (escaped per the template's version), then the body. Equal to `encodeFrame` of a MESSAGE whose
 * headers are the shared ones with `perReceiver` assigned over them. One allocation (unless a
 * per-receiver header replaces a shared one, which takes the slower general path).
 */
export function renderMessage(template: MessageTemplate, perReceiver: StompHeaders): Buffer {
  const names = Object.keys(perReceiver);
  const shared = template.sharedHeaders;
  for (const name of names) {
    if (shared[name] !== undefined || name === 'content-length') return renderReplacing(template, perReceiver);
  }

  const version = template.version;
  const lines = encodeHeaderLines(perReceiver, usesEscaping('MESSAGE', version), version);
  const linesBytes = Buffer.byteLength(lines);
  const { head, tail } = template;
  const out = Buffer.allocUnsafe(head.length + linesBytes + tail.length);
  head.copy(out, 0);
  out.write(lines, head.length, linesBytes, 'utf8');
  tail.copy(out, head.length + linesBytes);
  return out;
}

function renderReplacing(template: MessageTemplate, perReceiver: StompHeaders): Buffer {
  const merged: StompHeaders = Object.assign(Object.create(null), template.sharedHeaders, perReceiver);
  return encodeFrame({ command: 'MESSAGE', headers: merged, body: template.body }, template.version);
}

/** `name:value\n` for each header except `content-length`, escaped or sanitised. */
function encodeHeaderLines(headers: StompHeaders, escape: boolean, version: StompVersion, readableColons = false): string {
  let out = '';
  for (const name of Object.keys(headers)) {
    if (name === 'content-length') continue;
    const value = headers[name];
    if (escape) out += escapeHeader(name, version) + ':' + escapeHeader(value, version, readableColons) + '\n';
    else out += sanitizeRawHeader(name, true) + ':' + sanitizeRawHeader(value, false) + '\n';
  }
  return out;
}
