/**
 * Origin allowlist for WebSocket and SockJS handshakes. A browser always sends Origin on a
 * WebSocket handshake and on cross-origin XHR, so checking it stops other sites from opening
 * sessions with a user's cookies. Requests without Origin (non-browser clients) are let through:
 * they cannot carry a victim's ambient credentials.
 */
import type { IncomingMessage } from 'node:http';

export class OriginPolicy {
  private readonly any: boolean;
  private readonly allowed: Set<string>;

  /** `allowed` holds exact origins (`https://app.example.com`) or `*` for any. */
  constructor(allowed: readonly string[]) {
    this.any = allowed.includes('*');
    this.allowed = new Set(allowed.map((o) => o.toLowerCase().replace(/\/$/, '')));
  }

  allows(req: IncomingMessage): boolean {
    if (this.any) return true;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    return this.allowed.has(origin.toLowerCase());
  }
}
