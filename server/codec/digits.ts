/**
 * "Digits only": the one reading of a whole decimal number the relay accepts, in frame headers
 * (`content-length`, `heart-beat`, `priority`, `prefetch-count`...), env settings and query strings.
 * No regular expression: it runs on every frame.
 */

/** True for one or more ASCII digits `0`-`9` and nothing else: no sign, blank, point or exponent. */
export function isDigits(text: string): boolean {
  if (text.length === 0) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return false;
  }
  return true;
}
