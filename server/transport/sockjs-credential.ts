/**
 * What binds the HTTP requests of one SockJS session together. SockJS's polling and streaming
 * transports are a series of requests naming `/<server>/<session>/…`; without a binding the session
 * id alone would let anyone who learned it read the session's pushes and send as its user.
 *
 * A session is bound to the credential its opening request carried, the strongest one present:
 * - a token: the `access_token` query parameter and/or the `Authorization` header. sockjs-client
 *   keeps the base URL's query on every request of a session; the same value must come every time.
 * - otherwise its cookies: every cookie of the opening request must come back with the same value
 *   (cookies added later are fine; one removed or changed ends the session's requests).
 * - otherwise nothing: a session opened without any of these (credentials only inside CONNECT, or
 *   none at all in dev mode) is protected by its id alone.
 *
 * Only SHA-256 digests are kept, and compared in constant time.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What one request presents: the digest of its token (if any) and of each cookie. */
export interface PresentedCredentials {
  readonly token: Buffer | undefined;
  readonly cookies: ReadonlyMap<string, Buffer>;
}

/** What a session is bound to. */
export type SockJsBinding =
  | { readonly kind: 'token'; readonly digest: Buffer }
  | { readonly kind: 'cookies'; readonly cookies: ReadonlyMap<string, Buffer> }
  | { readonly kind: 'none' }
  /** Satisfied by no request. */
  | { readonly kind: 'sealed' };

/** Reads the credentials of a request (`url` is its path and query). */
export function presentedBy(url: string, headers: IncomingHttpHeaders): PresentedCredentials {
  const tokens = accessTokens(url);
  const authorization = headers.authorization;
  const hasToken = tokens.length > 0 || authorization !== undefined;
  return {
    token: hasToken ? digest(JSON.stringify([tokens, authorization ?? null])) : undefined,
    cookies: parseCookies(headers.cookie),
  };
}

/** The binding for a session opened by a request presenting `credentials`: the strongest one present. */
export function bindingFor(credentials: PresentedCredentials): SockJsBinding {
  if (credentials.token !== undefined) return { kind: 'token', digest: credentials.token };
  if (credentials.cookies.size > 0) return { kind: 'cookies', cookies: credentials.cookies };
  return { kind: 'none' };
}

/** Whether a later request presenting `credentials` may use a session bound to `binding`. */
export function satisfies(credentials: PresentedCredentials, binding: SockJsBinding): boolean {
  switch (binding.kind) {
    case 'none':
      return true;
    case 'sealed':
      return false;
    case 'token':
      return credentials.token !== undefined && timingSafeEqual(credentials.token, binding.digest);
    case 'cookies': {
      let ok = true;
      for (const [name, value] of binding.cookies) {
        const got = credentials.cookies.get(name);
        // No early exit: each bound cookie costs one comparison, whichever is wrong.
        ok = got !== undefined && timingSafeEqual(got, value) && ok;
      }
      return ok;
    }
  }
}

function accessTokens(url: string): string[] {
  const q = url.indexOf('?');
  if (q === -1) return [];
  return new URLSearchParams(url.slice(q + 1)).getAll('access_token');
}

/** `a=1; b=2` → name → digest of value. A repeated name keeps its first value (as most servers read it). */
function parseCookies(header: string | undefined): Map<string, Buffer> {
  const cookies = new Map<string, Buffer>();
  if (header === undefined) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (name !== '' && !cookies.has(name)) cookies.set(name, digest(part.slice(eq + 1).trim()));
  }
  return cookies;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
