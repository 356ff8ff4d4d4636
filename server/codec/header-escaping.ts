/**
 * Header escaping rules, per protocol version.
 * Spec: https://stomp.github.io/stomp-specification-1.2.html#Value_Encoding
 *
 * - 1.0 has no escaping at all.
 * - 1.1 escapes LF as `\n`, `:` as `\c` and `\` as `\\`.
 * - 1.2 adds CR as `\r`.
 * - CONNECT, STOMP and CONNECTED frames are never escaped, whatever the version: they are exchanged
 *   before (or while) the version is negotiated, so neither side can know which rules apply.
 *
 * Escapes are ASCII, so working on decoded strings is equivalent to working on bytes.
 */
import { relayError, Errors } from '../errors';
import type { StompVersion } from './frame';
import { printableExcerpt } from './excerpt';

const BACKSLASH = 0x5c;
const LF = 0x0a;
const CR = 0x0d;
const COLON = 0x3a;

/** True for the commands whose headers are never escaped (see module comment). */
export function isUnescapedCommand(command: string): boolean {
  return command === 'CONNECT' || command === 'CONNECTED' || command === 'STOMP';
}

/** Whether header names and values of `command` frames are escaped under `version`. */
export function usesEscaping(command: string, version: StompVersion): boolean {
  return version !== '1.0' && !isUnescapedCommand(command);
}

/**
 * Decodes escape sequences in a header name or value received in a frame that uses escaping.
 * Throws INVALID_ESCAPE on an undefined escape or a trailing backslash (both "MUST be treated as a
 * fatal protocol error" by the spec).
 */
export function unescapeHeader(text: string, version: StompVersion): string {
  let backslash = text.indexOf('\\');
  if (backslash === -1) return text;

  let out = '';
  let copiedUpTo = 0;
  while (backslash !== -1) {
    out += text.slice(copiedUpTo, backslash);
    const next = backslash + 1 < text.length ? text.charCodeAt(backslash + 1) : -1;
    if (next === 0x6e /* n */) out += '\n';
    else if (next === 0x63 /* c */) out += ':';
    else if (next === BACKSLASH) out += '\\';
    else if (next === 0x72 /* r */ && version === '1.2')
      out += '\r'; // `\r` is not an escape in 1.1
    else throw relayError(Errors.INVALID_ESCAPE, describeBadEscape(text, backslash, next));
    copiedUpTo = backslash + 2;
    backslash = text.indexOf('\\', copiedUpTo);
  }
  return out + text.slice(copiedUpTo);
}

function describeBadEscape(text: string, at: number, next: number): string {
  const sequence = next === -1 ? 'trailing \\' : printableExcerpt(Buffer.from(text.slice(at, at + 2)));
  return `${sequence} in ${printableExcerpt(Buffer.from(text))}`;
}

/**
 * Encodes a header name or value for a frame that uses escaping (see {@link usesEscaping}).
 *
 * 1.1 has no escape for CR, and a raw CR just before the LF that ends a header line would be read as
 * part of that EOL, so under 1.1 a CR is written as a space (the same choice as {@link sanitizeRawHeader}).
 *
 * `keepColons` leaves `:` as is, for a value only (a reader splits a header line at its first colon,
 * so a colon later in the line is unambiguous): see `encodeFrame`'s `readableColons`.
 */
export function escapeHeader(text: string, version: StompVersion, keepColons = false): string {
  let i = 0;
  const n = text.length;
  // Fast path: most names and values need nothing.
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === BACKSLASH || c === LF || c === CR || (c === COLON && !keepColons)) break;
  }
  if (i === n) return text;

  let out = text.slice(0, i);
  let copiedUpTo = i;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    let replacement: string;
    if (c === BACKSLASH) replacement = '\\\\';
    else if (c === LF) replacement = '\\n';
    else if (c === COLON && !keepColons) replacement = '\\c';
    else if (c === CR) replacement = version === '1.2' ? '\\r' : ' ';
    else continue;
    out += text.slice(copiedUpTo, i) + replacement;
    copiedUpTo = i + 1;
  }
  return out + text.slice(copiedUpTo);
}

/**
 * Makes a header name or value safe for a frame that cannot escape (1.0, or CONNECT/STOMP/CONNECTED).
 *
 * Such a frame cannot represent CR or LF at all, and letting one through would let a value inject a
 * header line of its own (or end the header block early). Each CR and LF is therefore written as a
 * single space: the value stays readable and keeps its length, and no line can be created. In a name,
 * a `:` would move the name/value split, so it is written as `_`.
 */
export function sanitizeRawHeader(text: string, isName: boolean): string {
  let i = 0;
  const n = text.length;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === LF || c === CR || (isName && c === COLON)) break;
  }
  if (i === n) return text;

  let out = text.slice(0, i);
  let copiedUpTo = i;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    let replacement: string;
    if (c === LF || c === CR) replacement = ' ';
    else if (isName && c === COLON) replacement = '_';
    else continue;
    out += text.slice(copiedUpTo, i) + replacement;
    copiedUpTo = i + 1;
  }
  return out + text.slice(copiedUpTo);
}
