/**
 * Short, printable renderings of offending bytes for error messages. A peer that sends garbage (an
 * HTTP request, TLS bytes, a binary blob) gets told what we saw without the message itself carrying
 * control characters or megabytes of junk.
 */

/** How many bytes an excerpt shows before it is cut with an ellipsis. */
export const EXCERPT_BYTES = 32;

/**
 * Renders `bytes[start, end)` (at most {@link EXCERPT_BYTES} of it) as quoted text: printable ASCII
 * as is, `\n`, `\r`, `\\` as escapes, anything else as `\xHH`.
 */
export function printableExcerpt(bytes: Buffer, start = 0, end = bytes.length): string {
  const stop = Math.min(end, start + EXCERPT_BYTES);
  let out = '"';
  for (let i = start; i < stop; i++) {
    const b = bytes[i];
    if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x5c) out += '\\\\';
    else if (b === 0x22) out += '\\"';
    else if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    else out += '\\x' + (b < 16 ? '0' : '') + b.toString(16);
  }
  out += '"';
  return end > stop ? out + '…' : out;
}
