/**
 * What CONNECT negotiates: the protocol version and the heart-beat intervals. Pure functions, so the
 * arithmetic is tested on its own.
 */
import { isDigits } from '../codec/digits';
import { SUPPORTED_VERSIONS, type StompVersion } from '../codec/frame';
import { Errors, relayError, type RelayError } from '../errors';
import type { HeartbeatConfig } from '../config';

/**
 * STOMP 1.2 §"Protocol Negotiation": the highest version in `accept-version` that we support; a
 * CONNECT without the header is a 1.0 client. Returns a RelayError UNSUPPORTED_VERSION when there is
 * no common version (the caller adds the `version` header listing ours).
 */
export function negotiateVersion(acceptVersion: string | undefined): StompVersion | RelayError {
  if (acceptVersion === undefined) return '1.0';
  return highestSupported(acceptVersion) ?? relayError(Errors.UNSUPPORTED_VERSION, acceptVersion);
}

/**
 * The version to encode frames in before CONNECTED (an ERROR refusing the CONNECT, or one for
 * bytes before it): the highest version the CONNECT's `accept-version` offers that we speak, and 1.0
 * (no escaping) when there was no CONNECT yet, no `accept-version`, or nothing we speak in it.
 */
export function versionBeforeConnected(acceptVersion: string | undefined): StompVersion {
  return acceptVersion === undefined ? '1.0' : (highestSupported(acceptVersion) ?? '1.0');
}

/**
 * The shared constant from {@link SUPPORTED_VERSIONS}, never the header's own substring: sessions
 * keep the version for their whole life, and one string for all of them is cheaper than one each.
 */
function highestSupported(acceptVersion: string): StompVersion | undefined {
  let best = -1;
  for (const raw of acceptVersion.split(',')) {
    const index = SUPPORTED_VERSIONS.indexOf(raw.trim() as StompVersion);
    if (index > best) best = index;
  }
  return best < 0 ? undefined : SUPPORTED_VERSIONS[best];
}

export interface HeartbeatPlan {
  /** Interval (ms) at which the server sends an EOL when it sent nothing else; 0 = never. */
  sendMs: number;
  /** Interval (ms) the client promised to send at; 0 = not watched. */
  receiveMs: number;
  /** Value of the CONNECTED `heart-beat` header: what the server can do (`sx,sy`). */
  header: string;
}

/** Parses a `heart-beat` header `cx,cy`; absent means `0,0`. Throws RelayError INVALID_HEADER. */
export function parseHeartbeatHeader(value: string | undefined): [number, number] {
  if (value === undefined) return [0, 0];
  const comma = value.indexOf(',');
  const x = comma > 0 ? toInterval(value.slice(0, comma)) : -1;
  const y = comma > 0 ? toInterval(value.slice(comma + 1)) : -1;
  if (x < 0 || y < 0) throw relayError(Errors.INVALID_HEADER, 'heart-beat', value);
  return [x, y];
}

function toInterval(text: string): number {
  const t = text.trim();
  return t.length <= 9 && isDigits(t) ? Number(t) : -1;
}

/**
 * STOMP 1.2 §"Heart-beating": with the client's `cx,cy` and our offer `sx,sy`, the server sends
 * every max(sx, cy) ms unless either is 0, and expects the client every max(cx, sy) ms unless
 * either is 0. STOMP 1.0 has no heart-beats.
 *
 * Our offer is the configured `sendMs,receiveMs`, lowered towards what the client asks when it
 * asks for finer intervals, but never below `minMs`: a client asking `1000,1000` gets `1000,1000`
 * (and a dead peer is noticed after 2 s, not 20 s), one asking `10,10` gets the floor. In a
 * direction the client does not heart-beat in (0), the configured value is offered unchanged. The
 * CONNECTED header carries the offer, so the client computes the same intervals we use.
 */
export function negotiateHeartbeat(version: StompVersion, clientHeader: [number, number], server: HeartbeatConfig): HeartbeatPlan {
  if (version === '1.0') return { sendMs: 0, receiveMs: 0, header: `${server.sendMs},${server.receiveMs}` };
  const [cx, cy] = clientHeader;
  const sx = offer(server.sendMs, cy, server.minMs);
  const sy = offer(server.receiveMs, cx, server.minMs);
  const sendMs = sx === 0 || cy === 0 ? 0 : Math.max(sx, cy);
  const receiveMs = sy === 0 || cx === 0 ? 0 : Math.max(sy, cx);
  return { sendMs, receiveMs, header: `${sx},${sy}` };
}

/**
 * Our interval for one direction: `configured`, or the client's finer `asked` raised to `floor`.
 * The floor only bounds how far a client can pull us down; it never raises the configured value.
 */
function offer(configured: number, asked: number, floor: number): number {
  if (configured === 0 || asked === 0) return configured;
  return Math.min(configured, Math.max(asked, floor));
}
