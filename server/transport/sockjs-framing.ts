/**
 * SockJS's framing, as sockjs-node 0.3.24 writes and reads it on its WebSocket transport
 * (`/<prefix>/<server>/<session>/websocket`), for the relay's own WebSocket implementation of it
 * (sockjs-websocket.ts): `o` opens, `a[...]` carries messages, `c[code,"reason"]` closes; the client
 * sends a JSON array of strings (or one JSON string). Heart-beats on that transport are WebSocket
 * pings, not `h` frames (sockjs's WebSocketReceiver pings when the driver can). A leaf: no sockets here.
 */

/** The frame that opens a session. */
export const OPEN_FRAME = 'o';

/** How long sockjs waits between heart-beats (its `heartbeat_delay` default), ms. */
export const SOCKJS_HEARTBEAT_DELAY_MS = 25_000;

/** How long sockjs waits for the pong of a heart-beat ping before it closes the session, ms. */
export const SOCKJS_PONG_TIMEOUT_MS = 10_000;

/** A close the transport makes itself: the code and reason sockjs uses. */
export interface SockJsClose {
  readonly code: number;
  readonly reason: string;
}

/** A message that is not JSON, or not strings: sockjs closes the WebSocket with this, no `c` frame. */
export const BROKEN_FRAMING: SockJsClose = Object.freeze({ code: 3000, reason: 'Broken framing.' });

/** A heart-beat ping unanswered for {@link SOCKJS_PONG_TIMEOUT_MS}: sockjs closes the session with this `c` frame. */
export const NO_HEARTBEAT_RESPONSE: SockJsClose = Object.freeze({ code: 3000, reason: 'No response from heartbeat' });

/** What a session close sends after its `c` frame: sockjs's WebSocketReceiver always closes the WebSocket so. */
export const WEBSOCKET_NORMAL_CLOSE: SockJsClose = Object.freeze({ code: 1000, reason: 'Normal closure' });

/**
 * sockjs's `utils.quote`: JSON, with the characters some browsers and proxies mangle (its
 * `escapable` set: controls, surrogates, U+200C–U+200F, U+2028–U+202F, U+2060–U+206F,
 * U+FFF0–U+FFFF) written as `\uXXXX`. Taken from sockjs itself, so the bytes are its bytes.
 */
const quote = (require('sockjs/lib/utils') as { quote(text: string): string }).quote;

/** `a["<text>"]`: one message, as sockjs frames every write on its WebSocket transport. */
export function messageFrame(text: string): string {
  return 'a[' + quote(text) + ']';
}

/** {@link messageFrame} of UTF-8 bytes (a STOMP frame), as bytes. */
export function messageFrameOf(payload: Buffer): Buffer {
  return Buffer.from(messageFrame(payload.toString('utf8')), 'utf8');
}

/** `c[code,"reason"]`: sockjs writes it with plain JSON.stringify (not {@link quote}). */
export function closeFrame(code: number, reason: string): string {
  return 'c' + JSON.stringify([code, reason]);
}

/**
 * The messages of one WebSocket message from a client: a JSON array of strings, or one JSON string.
 * Empty: none (sockjs ignores it). Undefined: broken framing, for what is not JSON, and for JSON
 * that is neither (sockjs would pass a number or an object on to the application as if it were a
 * message; the relay takes only strings).
 */
export function messagesOf(payload: string): string[] | undefined {
  if (payload.length === 0) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return undefined;
  }
  if (typeof parsed === 'string') return [parsed];
  if (!Array.isArray(parsed)) return undefined;
  for (const item of parsed) if (typeof item !== 'string') return undefined;
  return parsed as string[];
}

/**
 * A close code as SockJS can carry it (`protocol` is the connection's, e.g. `websocket-raw`). The
 * framed transports send it in a `c[code,"reason"]` frame that sockjs-client hands to the
 * application as `CloseEvent.code`, so it must be a number. The raw WebSocket endpoint closes the
 * WebSocket with it, and sockjs's faye-websocket took only 1000 and 3000–4999 there (what a
 * browser's `WebSocket.close()` accepts): other codes become 1000; the ERROR frame before says why.
 */
export function sockjsCloseCode(code: number, protocol: string | undefined): number {
  if (protocol !== 'websocket-raw') return code;
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}

/**
 * A request URL's path as sockjs routes it (its `url.parse(url).pathname`): without query or
 * fragment, and with backslashes read as slashes, as url.parse reads them (so `/sockjs/1/abc\xhr`
 * reaches session `abc`). The relay's checks must read a path the same way.
 */
export function sockjsPathOf(url: string): string {
  let end = url.length;
  for (const stop of ['?', '#']) {
    const at = url.indexOf(stop);
    if (at !== -1 && at < end) end = at;
  }
  const path = url.slice(0, end);
  return path.includes('\\') ? path.replace(/\\/g, '/') : path;
}
