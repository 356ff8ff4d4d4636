/**
 * Where the relay's endpoints live, given the base URL the application configured.
 * The relay serves plain WebSocket STOMP at `/ws` and SockJS at `/sockjs` on one HTTP port.
 */

/** Resolves `base` ('' = the page's own origin) to an absolute http(s) URL without a trailing slash. */
export function resolveBase(base: string, pageOrigin: string | undefined): string {
  const trimmed = base.replace(/\/+$/, '');
  if (trimmed === '' || trimmed.startsWith('/')) {
    if (!pageOrigin) throw new TypeError('url is relative but there is no page origin to resolve it against');
    return pageOrigin + trimmed;
  }
  if (!/^https?:\/\//i.test(trimmed)) throw new TypeError(`url must be http(s)://… or '' (same origin), got "${base}"`);
  return trimmed;
}

/** `ws(s)://host/ws` for a base `http(s)://host`. */
export function webSocketUrl(base: string): string {
  return base.replace(/^http/i, 'ws') + '/ws';
}

/**
 * `http(s)://host/sockjs`, with `?access_token=` when there is a token: SockJS cannot set request
 * headers on its handshake, and its xhr transports never carry the STOMP CONNECT headers to the
 * HTTP layer, so the query string is the only place a gateway or the relay can read it early.
 */
export function sockJsUrl(base: string, token: string | undefined): string {
  const url = base + '/sockjs';
  return token ? `${url}?access_token=${encodeURIComponent(token)}` : url;
}
